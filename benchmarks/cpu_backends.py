"""Foundation benchmark: torch eager vs ONNX Runtime on the CPU, with the ncnn package as the peer.

Times the compact (realesr-animevideov3) and x4plus (RealESRGAN_x4plus) models on
128×128 and 256×256 real-photo inputs, fp32, whole image per call, and reports
medians and ratios (ncnn time / backend time: > 1 means faster than ncnn).

    python benchmarks/cpu_backends.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os

from _results import median_ms, real_inputs, time_calls, write

from ganrt.bench.peers import NcnnPeer
from ganrt.models import load_model
from ganrt.runtime.registry import create_engine

MODELS = ["realesr-animevideov3", "RealESRGAN_x4plus"]
SIZES = [128, 256]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for name in MODELS:
        model = load_model(name)
        ncnn = NcnnPeer.for_builtin(name, threads=args.threads)
        engines = {b: create_engine(model, backend=b, device="cpu", precision="fp32", threads=args.threads)
                   for b in ("torch", "onnxruntime")}
        for size in SIZES:
            inputs = real_inputs(size, size)
            repeats = args.repeats if name != "RealESRGAN_x4plus" else max(3, args.repeats // 2)
            t_ncnn = median_ms(time_calls(lambda x: ncnn.run(x[0]), inputs, repeats=repeats))
            row = {"model": name, "size": f"{size}x{size}", "ncnn_ms": t_ncnn}
            for backend, engine in engines.items():
                t = median_ms(time_calls(engine.infer, inputs, repeats=repeats))
                row[f"{backend}_ms"] = t
                row[f"{backend}_vs_ncnn"] = t_ncnn / t
            row["onnxruntime_vs_torch"] = row["torch_ms"] / row["onnxruntime_ms"]
            rows.append(row)
            print(row, flush=True)
    write("cpu_backends", rows,
          ["model", "size", "torch_ms", "onnxruntime_ms", "ncnn_ms", "torch_vs_ncnn", "onnxruntime_vs_ncnn",
           "onnxruntime_vs_torch"],
          f"CPU backends, fp32, {args.threads} threads, median latency per image",
          "Ratios: ncnn_ms / backend_ms (above 1 = faster than ncnn); onnxruntime_vs_torch = torch_ms / onnxruntime_ms.")


if __name__ == "__main__":
    main()
