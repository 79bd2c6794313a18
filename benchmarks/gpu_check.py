"""Every GPU check in one call: environment, parity, 720p timings with roofline, pipelines end to end.

On a CUDA machine:
  1. environment: GPU, driver, torch/CUDA, onnxruntime providers, TensorRT (import and libnvinfer);
  2. for every GPU backend (torch fp16/bf16/fp32, TensorRT fp16, ONNX Runtime CUDA), through
     ``ganrt.bench.runner``: parity against the fp32 CPU torch reference on a real photo, and
     timings at 720p input (warm-up, CUDA events for GPU time, percentiles), with the fraction of
     the measured fp16 matmul peak that the model's FLOPs reach;
  3. the video (8-bit, and 10-bit through the 16-bit path) and archive pipelines end to end against engine-only.
It prints a short table last and writes everything to $OUT/gpu_check.json (or --out).

    python benchmarks/gpu_check.py [--out DIR] [--models realesr-animevideov3,RealESRGAN_x4plus]
    python benchmarks/gpu_check.py --cpu-smoke   # the same code on the CPU at toy sizes (used by the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ganrt.bench.machine import describe_machine  # noqa: E402
from ganrt.bench.runner import Bench, Combo, Method, measured_peak_tflops  # noqa: E402
from ganrt.models import load_model  # noqa: E402
from ganrt.runtime.registry import create_engine  # noqa: E402


def probe_environment() -> dict:
    env = {"machine": describe_machine()}
    for cmd in (["nvidia-smi", "-L"], ["bash", "-c", "ldconfig -p | grep -i nvinfer | head -3"]):
        try:
            env[" ".join(cmd)] = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            env[" ".join(cmd)] = f"unavailable: {exc}"
    try:
        import tensorrt

        env["tensorrt"] = tensorrt.__version__
    except Exception as exc:  # noqa: BLE001
        env["tensorrt"] = f"missing ({type(exc).__name__}: {exc})"
    import onnxruntime

    env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return env


def candidates(device: str) -> list[tuple[str, str]]:
    """Every GPU backend and precision to check (on the CPU in smoke mode: the CPU backends)."""
    if device == "cpu":
        return [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32")]
    out = [("torch", "fp16"), ("torch", "bf16"), ("torch", "fp32")]
    if device == "cuda":
        from ganrt.runtime.choice import tensorrt_runs_here

        if tensorrt_runs_here():
            out.append(("tensorrt", "fp16"))
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        out.append(("onnxruntime", "fp16"))
    return out


def check_model(name: str, device: str, size: tuple[int, int], method: Method) -> list[dict]:
    """Parity against the fp32 CPU torch reference, timings at ``size`` and the roofline, per backend."""
    bench = Bench(load_model(name), method)
    rows = []
    for backend, precision in candidates(device):
        row = bench.run(Combo(backend, precision, device, *size)).as_dict()
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    return rows


def pipelines_end_to_end(device: str, size: tuple[int, int], seconds: float) -> dict:
    """Video (decode→infer→encode) and archive pipelines against the engine alone, compact model."""
    from video_throughput import engine_only_fps, make_video

    from ganrt.pipelines.archive.runner import ArchiveResult, ArchiveRunner, plan
    from ganrt.pipelines.archive.walk import discover
    from ganrt.pipelines.video.ffmpeg import probe
    from ganrt.pipelines.archive.state import JobState
    from ganrt.pipelines.restore import RestoreSettings
    from ganrt.pipelines.video.pipeline import VideoRunner, VideoSettings
    from ganrt.pipelines.video.source import open_source

    out: dict = {}
    model = load_model("realesr-animevideov3")
    engine = create_engine(model, device=device)
    out["engine"] = engine.describe()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "clip.mp4"
        make_video(src, f"{size[1]}x{size[0]}", seconds, 24)
        frames = list(open_source(src).frames())
        out["video_engine_only_fps"] = engine_only_fps(engine, frames, 2)
        runner = VideoRunner(engine, open_source(src), VideoSettings(batch=2), output=Path(tmp) / "up.mp4",
                             frames_dir=None, fingerprint="gpu-check")
        t0 = time.perf_counter()
        result = runner.run()
        out["video_end_to_end_fps"] = result.frames / (time.perf_counter() - t0)
        out["video_ratio"] = out["video_end_to_end_fps"] / out["video_engine_only_fps"]
        out["video_bound_by"] = result.bottleneck()
        out["video_stage_fps"] = {k: v.fps for k, v in result.stages.items()}
        deep = Path(tmp) / "clip10.mkv"  # 10-bit: 16-bit frames through the device upload, written 10-bit
        make_video(deep, f"{size[1]}x{size[0]}", seconds, 24, pix_fmt="yuv420p10le")
        runner = VideoRunner(engine, open_source(deep), VideoSettings(batch=2), output=Path(tmp) / "up10.mkv",
                             frames_dir=None, fingerprint="gpu-check-10")
        t0 = time.perf_counter()
        result = runner.run()
        out["video10_end_to_end_fps"] = result.frames / (time.perf_counter() - t0)
        out["video10_pix_fmt"] = probe(Path(tmp) / "up10.mkv").pix_fmt
        import cv2

        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i, f in enumerate(frames[:8]):
            cv2.imwrite(str(photos / f"p{i}.png"), f[..., ::-1])
        dst = Path(tmp) / "restored"
        with JobState(dst) as state:
            res = ArchiveResult()
            todo, _ = plan(discover(photos, dst), state, "gpu-check", resume=False, overwrite=True, result=res)
            ArchiveRunner(engine, RestoreSettings(), state, "gpu-check").run(todo, res)
        out["archive_images_per_s"] = res.images_per_s
        out["archive_failed"] = len(res.failed)
    engine.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--models", default="realesr-animevideov3,RealESRGAN_x4plus")
    ap.add_argument("--cpu-smoke", action="store_true", help="run every step on the CPU at toy sizes")
    args = ap.parse_args()
    from ganrt.machine import cuda_available

    device = "cuda" if cuda_available() and not args.cpu_smoke else "cpu"
    report: dict = {"environment": probe_environment(), "device": device}
    if device == "cpu" and not args.cpu_smoke:
        report["note"] = "no CUDA GPU here: run on a GPU machine, or pass --cpu-smoke to exercise the script"
        print(json.dumps(report, indent=2, default=str))
        return
    size = (720, 1280) if device == "cuda" else (48, 64)
    models = args.models.split(",") if device == "cuda" else ["realesr-animevideov3"]
    method = Method(warmup_ms=500, duration_s=3.0, iterations=20) if device == "cuda" else Method(20, 0.2, 3)
    report["peak_fp16_tflops_measured"] = measured_peak_tflops() if device == "cuda" else None
    report["rows"] = [r for m in models for r in check_model(m, device, size, method)]
    try:
        report["pipelines"] = pipelines_end_to_end(device, size if device == "cuda" else (32, 48),
                                                   2.0 if device == "cuda" else 0.5)
    except Exception as exc:  # noqa: BLE001
        report["pipelines"] = {"status": f"failed: {exc}", "traceback": traceback.format_exc(limit=5)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{'model':28} {'backend':12} {'prec':5} {'status':11} {'PSNR dB':>8} {'p50 ms':>8} {'GPU ms':>8} "
          f"{'img/s':>8} {'roofline':>9}")
    nan = float("nan")
    for r in report["rows"]:
        print(f"{r['model']:28} {r['backend']:12} {r['precision']:5} {r['status'][:11]:11} "
              f"{r['psnr_db'] or nan:8.1f} {r['median_ms'] or nan:8.2f} {r['gpu_compute_median_ms'] or nan:8.2f} "
              f"{r['images_per_s'] or nan:8.2f} {r['roofline_fraction'] or nan:9.3f}")
    p = report["pipelines"]
    if "video_ratio" in p:
        print(f"video end-to-end {p['video_end_to_end_fps']:.1f} fps vs engine-only {p['video_engine_only_fps']:.1f} "
              f"(ratio {p['video_ratio']:.2f}, bound by {p['video_bound_by']}); 10-bit {p['video10_end_to_end_fps']:.1f} fps "
              f"({p['video10_pix_fmt']}); archive {p['archive_images_per_s']:.2f} img/s")


if __name__ == "__main__":
    main()
