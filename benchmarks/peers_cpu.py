"""ganrt's CPU paths against the peers a user would otherwise pick, measured side by side in one run.

For the compact (realesr-animevideov3) and x4plus (RealESRGAN_x4plus) models at
256×256: every CPU backend/precision ganrt has, upstream-style PyTorch eager fp32
(plain NCHW module, no autocast: the reference), and the ncnn package on the
original Real-ESRGAN .param/.bin (fp32 options). Same method for all
(``ganrt.bench.runner``): warm-up, then at least --iterations calls and
--duration-s; fidelity is PSNR against the torch fp32 output on a real photo.
Ratios: peer median ÷ path median (above 1 = the ganrt path is faster).

    python benchmarks/peers_cpu.py [--iterations 3] [--models realesr-animevideov3,RealESRGAN_x4plus]
"""

from __future__ import annotations

import argparse

from _results import write

from ganrt.bench.peers import NcnnEngine
from ganrt.bench.runner import Bench, Combo, Method
from ganrt.models import load_model

PATHS = [("torch", "fp32"), ("torch", "bf16"), ("torch", "fp16"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16"),
         ("openvino", "fp32"), ("openvino", "bf16")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="realesr-animevideov3,RealESRGAN_x4plus")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--duration-s", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        model = load_model(name)
        bench = Bench(model, Method(warmup_ms=0, duration_s=args.duration_s, iterations=args.iterations),
                      threads=args.threads)
        size = (args.size, args.size)
        ncnn = bench.run(Combo("ncnn", "fp32", "cpu", *size), factory=lambda: NcnnEngine(model, threads=args.threads or 2))
        eager = bench.run(Combo("torch", "fp32", "cpu", *size))  # upstream-style eager inference
        measured = {("ncnn", "fp32"): ncnn, ("torch", "fp32"): eager}
        for path in PATHS:
            if path not in measured:
                measured[path] = bench.run(Combo(path[0], path[1], "cpu", *size))
        for (backend, precision), r in measured.items():
            row = {"model": name, "path": f"{backend} {precision}", "peer": backend == "ncnn" or (backend, precision) == ("torch", "fp32"),
                   "status": r.status if r.status == "ok" else f"{r.status}: {r.reason[:60]}",
                   "median_ms": r.median_ms, "p99_ms": r.p99_ms, "psnr_db": r.psnr_db}
            if r.status == "ok":
                row["vs_torch_eager_fp32"] = eager.median_ms / r.median_ms if eager.median_ms else None
                row["vs_ncnn_fp32"] = ncnn.median_ms / r.median_ms if ncnn.median_ms else None
            rows.append(row)
            print(row, flush=True)
    write("peers_cpu", rows, ["model", "path", "status", "median_ms", "p99_ms", "psnr_db", "vs_torch_eager_fp32",
                              "vs_ncnn_fp32"],
          f"ganrt CPU paths vs PyTorch eager fp32 and ncnn fp32, {args.size}×{args.size}, one image per call",
          "vs_* = peer median ÷ path median (above 1: faster than the peer). psnr_db: against the torch fp32 output "
          "on a real photo (999 = identical). torch fp32 is the upstream-style eager reference itself.")


if __name__ == "__main__":
    main()
