"""The fast CPU path (bf16 on the CPU's matrix units, OpenVINO) against ncnn fp32 and PyTorch eager fp32.

For the compact and x4plus models at 256×256 (whole image) and 1280×720 (tiled:
every engine, ncnn included, goes through the same tiler with the same
tiles), side by side in one run: each ganrt CPU path, ncnn fp32 and torch
eager fp32. Reports time per image, ratios against both peers, and PSNR of
each output against the fp32 torch output of the same image.
Goals (issue 7): ≥ 4× ncnn with bf16 on AMX at ≥ 40 dB; ≥ 1.3× ncnn in strict fp32.

    python benchmarks/cpu_fast_path.py [--repeats 3] [--sizes 256x256,720x1280]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _results import write

from ganrt import quality
from ganrt.machine import cpu_flags
from ganrt.bench.peers import NcnnEngine
from ganrt.bench.runner import real_batches
from ganrt.export.trt_profiles import parse_hw
from ganrt.models import load_model
from ganrt.runtime.memory import TilePolicy
from ganrt.runtime.registry import create_engine
from ganrt.runtime.tiling import DEFAULT_PAD, upscale

PATHS = [("openvino", "bf16"), ("torch", "bf16"), ("openvino", "fp32"), ("onnxruntime", "fp32")]


def psnr(a, b) -> float:
    value = quality.psnr(a, b, peak=255.0)
    return 999.0 if value == float("inf") else value  # JSON has no infinity


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="realesr-animevideov3,RealESRGAN_x4plus")
    ap.add_argument("--sizes", default="256x256,720x1280")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    rows = []
    amx = "amx_bf16" in cpu_flags()
    for name in args.models.split(","):
        model = load_model(name)
        policy = TilePolicy.auto(model, "cpu")
        factories = {"ncnn fp32": lambda: NcnnEngine(model, threads=args.threads or 2),
                     "torch eager fp32": lambda: create_engine(model, backend="torch", device="cpu", precision="fp32",
                                                                threads=args.threads, guard=False)}
        for backend, precision in PATHS:
            factories[f"{backend} {precision}"] = (lambda b=backend, p=precision: create_engine(
                model, backend=b, device="cpu", precision=p, threads=args.threads, guard=False))
        for size in args.sizes.split(","):
            h, w = parse_hw(size)
            img = real_batches(h, w, 1, count=1)[0][0]
            tile = 0 if h * w <= 256 * 256 else policy.for_image(h, w, model.scale)  # 256²: whole image
            repeats = args.repeats if h * w <= 65536 else 1
            times, outputs = {}, {}
            for label, factory in factories.items():
                with factory() as engine:
                    upscale(engine, img[:64, :64], tile=0)  # warm-up: sessions, kernels, caches
                    samples = []
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        outputs[label] = upscale(engine, img, tile=tile, pad=DEFAULT_PAD)
                        samples.append(time.perf_counter() - t0)
                times[label] = float(np.median(samples))
                print(f"{name} {size} {label}: {times[label]:.2f} s", flush=True)
            reference = outputs["torch eager fp32"]
            for label, seconds in times.items():
                rows.append({"model": name, "size": size, "tile": tile or "whole", "path": label, "seconds": seconds,
                             "vs_ncnn_fp32": times["ncnn fp32"] / seconds,
                             "vs_torch_eager_fp32": times["torch eager fp32"] / seconds,
                             "psnr_vs_fp32_db": psnr(outputs[label], reference)})
    write("cpu_fast_path", rows, ["model", "size", "tile", "path", "seconds", "vs_ncnn_fp32", "vs_torch_eager_fp32",
                                  "psnr_vs_fp32_db"],
          "Fast CPU path vs ncnn fp32 and PyTorch eager fp32 (median seconds per image)",
          f"AMX on this CPU: {'yes' if amx else 'no'}. psnr_vs_fp32_db compares the 8-bit output with torch eager "
          "fp32's 8-bit output of the same image (999 = identical). 1280×720 runs once per path, tiled.")


if __name__ == "__main__":
    main()
