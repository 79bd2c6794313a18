"""Which torch CUDA settings run the generators fastest: precision, memory layout, torch.compile,
CUDA graphs and batch, at 720p input on real photo mosaics; and what the pixels' trip costs.

For each model and variant: GPU time per image by CUDA events (warm-up first, median and p90 of
``--iters`` timed calls), output PSNR against the fp32 eager output of the same input (so a
variant that is fast but wrong shows), and the fraction of the measured fp16 matmul peak that the
model's counted FLOPs reach. Then the host side of one 720p image: upload of the uint8 frame and
download of the ×scale output as float32 (what ``infer_pixels`` returns) against uint8 (what an
8-bit writer needs), pageable and pinned.

    python benchmarks/gpu_variants.py [--models realesr-animevideov3,RealESRGAN_x4plus] [--out DIR]
    python benchmarks/gpu_variants.py --cpu-smoke   # the same code on the CPU at toy sizes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from ganrt.bench.flops import flops_per_pixel
from ganrt.bench.runner import measured_peak_tflops, photo_mosaic
from ganrt.models import load_model

VARIANTS = [  # name, precision, channels_last, compile mode (None: eager; "graph": manual CUDA graph)
    ("fp32 eager NCHW", "fp32", False, None),
    ("fp16 eager NCHW", "fp16", False, None),
    ("fp16 eager channels-last", "fp16", True, None),
    ("bf16 eager channels-last", "bf16", True, None),
    ("fp16 channels-last + CUDA graph", "fp16", True, "graph"),
    ("fp16 channels-last + torch.compile", "fp16", True, "default"),
    ("fp16 channels-last + compile max-autotune-no-cudagraphs", "fp16", True, "max-autotune-no-cudagraphs"),
]


class Timer:
    def __init__(self, device):
        import torch

        self.torch = torch
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def ms(self, fn, warmup: int, iters: int) -> list[float]:
        torch = self.torch
        for _ in range(warmup):
            fn()
        self.sync()
        out = []
        for _ in range(iters):
            if self.cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                out.append(a.elapsed_time(b))
            else:
                t = time.perf_counter()
                fn()
                out.append((time.perf_counter() - t) * 1e3)
        return out


def psnr(a, b) -> float:
    mse = float(((a.float().clamp(0, 1) - b.float().clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def run_variant(module, x32, ref, variant, timer, iters, batch):
    import copy

    import torch

    name, precision, cl, mode = variant
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    net = copy.deepcopy(module).to(x32.device, dtype=dtype).eval()
    fmt = torch.channels_last if cl else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = x32.to(dtype).contiguous(memory_format=fmt)
    row = {"variant": name, "batch": batch, "precision": precision}
    t0 = time.perf_counter()
    with torch.inference_mode():
        if mode == "graph":
            if not timer.cuda:
                return {**row, "status": "skipped: CUDA graphs need a GPU"}
            static_x = x.clone()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    net(static_x)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_y = net(static_x)

            def fn():
                graph.replay()
                return static_y
        elif mode is not None:
            fwd = torch.compile(net, mode=mode, dynamic=False)

            def fn():
                return fwd(x)
        else:
            def fn():
                return net(x)
        y = fn()
        timer.sync()
        row["setup_s"] = round(time.perf_counter() - t0, 2)
        times = timer.ms(fn, warmup=3, iters=iters)
        y = fn()
        timer.sync()
        row["psnr_vs_fp32_db"] = round(psnr(y, ref), 2)
        row["finite"] = bool(torch.isfinite(y).all())
    row["median_ms"] = round(statistics.median(times), 3)
    row["p90_ms"] = round(float(np.percentile(times, 90)), 3)
    row["ms_per_image"] = round(row["median_ms"] / batch, 3)
    row["fps"] = round(1e3 / row["ms_per_image"], 2)
    row["status"] = "ok"
    del net
    return row


def transfers(h: int, w: int, scale: int, timer, device) -> dict:
    """Host↔device cost of one image: uint8 frame up, ×scale output down as float32 vs uint8."""
    import torch

    frame = torch.from_numpy(photo_mosaic(h, w))
    out_f = torch.rand(h * scale, w * scale, 3, device=device)
    out_u = (out_f * 255).to(torch.uint8)
    res = {"frame_mb": frame.numel() / 1e6, "output_float32_mb": out_f.numel() * 4 / 1e6,
           "output_uint8_mb": out_u.numel() / 1e6}
    pinned_up = frame.pin_memory() if timer.cuda else frame
    host_f = torch.empty(out_f.shape, dtype=torch.float32, pin_memory=timer.cuda)
    host_u = torch.empty(out_u.shape, dtype=torch.uint8, pin_memory=timer.cuda)
    cases = {
        "upload uint8 pageable": lambda: frame.to(device),
        "upload uint8 pinned": lambda: pinned_up.to(device, non_blocking=True),
        "download float32 pageable (.cpu())": lambda: out_f.cpu(),
        "download float32 into pinned": lambda: host_f.copy_(out_f, non_blocking=True),
        "download uint8 pageable (.cpu())": lambda: out_u.cpu(),
        "download uint8 into pinned": lambda: host_u.copy_(out_u, non_blocking=True),
        "quantise on device (clamp, *255, round, uint8)": lambda: out_f.clamp(0, 1).mul(255).round().to(torch.uint8),
    }
    for name, fn in cases.items():
        res[name + " ms"] = round(statistics.median(timer.ms(fn, 2, 10)), 3)
    return res


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--models", default="realesr-animevideov3,RealESRGAN_x4plus")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--cpu-smoke", action="store_true")
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and not args.cpu_smoke
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda and not args.cpu_smoke:
        print("no CUDA GPU here: run on a GPU machine, or pass --cpu-smoke")
        return
    h, w = (720, 1280) if cuda else (24, 32)
    iters = args.iters if cuda else 2
    timer = Timer(device)
    report = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
              "input": f"{w}x{h}", "peak_fp16_tflops": round(measured_peak_tflops(), 1) if cuda else None,
              "rows": []}
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}), flush=True)
    variants = VARIANTS if cuda else [v for v in VARIANTS if v[3] in (None, "graph")]
    for name in args.models.split(","):
        model = load_model(name)
        module = model.module.eval()
        fpp = flops_per_pixel(model)
        for batch in [int(b) for b in args.batches.split(",")]:
            if batch > 1 and "x4plus" in name:
                continue  # x4plus at 720p: one frame already fills the GPU
            x32 = torch.from_numpy(np.stack([photo_mosaic(h, w, seed=i) for i in range(batch)])).to(device)
            x32 = x32.permute(0, 3, 1, 2).float().div(255).contiguous()
            with torch.inference_mode():
                ref = module.to(device)(x32).float()
            module.cpu()
            big = sum(p.numel() for p in module.parameters()) > 5_000_000
            for variant in variants:
                if big and variant[3] == "max-autotune-no-cudagraphs":
                    continue  # autotuning every conv of a large model takes many minutes: compact models only
                try:
                    row = run_variant(module, x32, ref, variant, timer, iters, batch)
                except Exception as exc:  # noqa: BLE001 - a variant that fails is a finding, not a stop
                    row = {"variant": variant[0], "batch": batch, "status": f"failed: {type(exc).__name__}: {exc}"[:300],
                           "traceback": traceback.format_exc(limit=3)}
                row["model"] = model.name
                if row.get("status") == "ok" and report["peak_fp16_tflops"]:
                    tflops = fpp * h * w / (row["ms_per_image"] / 1e3) / 1e12
                    row["tflops"] = round(tflops, 1)
                    row["roofline_fraction"] = round(tflops / report["peak_fp16_tflops"], 3)
                report["rows"].append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "traceback"}), flush=True)
                if cuda:
                    torch.cuda.empty_cache()
            del ref, x32
    report["transfers_720p_x4"] = transfers(h, w, 4, timer, device)
    print(json.dumps(report["transfers_720p_x4"]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_variants.json").write_text(json.dumps(report, indent=2))
    print(f"\n{'model':24} {'variant':56} {'b':>2} {'ms/img':>8} {'fps':>8} {'PSNR':>7} {'roof':>6}")
    for r in report["rows"]:
        if r.get("status") == "ok":
            print(f"{r['model'][:24]:24} {r['variant']:56} {r['batch']:2} {r['ms_per_image']:8.2f} {r['fps']:8.1f} "
                  f"{r['psnr_vs_fp32_db']:7.1f} {r.get('roofline_fraction') or float('nan'):6.3f}")
        else:
            print(f"{r['model'][:24]:24} {r['variant']:56} {r['batch']:2} {r['status']}")


if __name__ == "__main__":
    sys.exit(main())
