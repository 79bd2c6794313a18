"""Video pipeline throughput against engine-only throughput on the same frames.

A test video is generated with ffmpeg (testsrc2 pattern, sine audio). Engine-only
times the engine (with its batching) on the decoded frames held in memory;
end-to-end runs `ganrt video`'s runner (decode → infer → encode + mux) on
the file. Reports both frame rates, their ratio (goal ≥ 0.9 when the engine is
the bottleneck), each stage's own rate, and the stage that bounds the run.

    python benchmarks/video_throughput.py [--model realesr-animevideov3] [--size 320x180] [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import write

from ganrt.models import load_model
from ganrt.pipelines.video.ffmpeg import ffmpeg_exe
from ganrt.pipelines.video.pipeline import VideoRunner, VideoSettings
from ganrt.pipelines.video.output import EncodeSettings
from ganrt.pipelines.video.source import open_source
from ganrt.runtime.registry import create_engine
from ganrt.runtime.tiling import upscale


def make_video(path: Path, size: str, seconds: float, fps: int, pix_fmt: str = "yuv420p") -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=duration={seconds}",
                    "-c:v", "libx264", "-pix_fmt", pix_fmt, "-c:a", "aac", str(path)], check=True)


def engine_only_fps(engine, frames: list[np.ndarray], batch: int) -> float:
    """Frames per second of the engine alone (with its batching) on frames already in memory."""
    upscale(engine, np.stack(frames[:batch]), tile=0, batch=batch)  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(frames), batch):
        upscale(engine, np.stack(frames[i:i + batch]), tile=0, batch=batch)
    return len(frames) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="realesr-animevideov3")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--preset", action="append", help="x264 presets to compare (default: medium)")
    args = ap.parse_args()
    model = load_model(args.model)
    engine = create_engine(model, backend=args.backend, device="auto", precision=args.precision)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        make_video(src, args.size, args.seconds, args.fps)
        source = open_source(src)
        frames = list(source.frames())
        engine_fps = engine_only_fps(engine, frames, args.batch)
        for preset in args.preset or ["medium"]:
            out = Path(tmp) / f"out-{preset}.mp4"
            settings = VideoSettings(batch=args.batch, encode=EncodeSettings(preset=preset))
            runner = VideoRunner(engine, open_source(src), settings, output=out, frames_dir=None,
                                 fingerprint=f"bench-{preset}")
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            result = runner.run()
            total_s = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU time of the ffmpeg processes (encoder per segment, join, mux): on a CPU-only machine
            # it is taken from the same cores the engine runs on.
            ffmpeg_cpu_s = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
            engine_s = len(frames) / engine_fps
            row = {"model": args.model, "engine": engine.describe(), "input": args.size, "frames": len(frames),
                   "batch": args.batch, "x264_preset": preset, "engine_only_fps": engine_fps,
                   "end_to_end_fps": len(frames) / total_s, "ratio": len(frames) / total_s / engine_fps,
                   "decode_fps": result.stages["decode"].fps, "infer_fps": result.stages["infer"].fps,
                   "encode_fps": result.stages["encode"].fps, "bound_by": result.bottleneck(),
                   "ffmpeg_cpu_s": ffmpeg_cpu_s,
                   # what the cores leave the engine once ffmpeg has had its share
                   "cpu_share_ceiling": engine_s / (engine_s + ffmpeg_cpu_s / len(os.sched_getaffinity(0)))}
            rows.append(row)
            print(row, flush=True)
    write("video_throughput", rows,
          ["model", "engine", "input", "frames", "batch", "x264_preset", "engine_only_fps", "end_to_end_fps",
           "ratio", "decode_fps", "infer_fps", "encode_fps", "bound_by", "ffmpeg_cpu_s", "cpu_share_ceiling"],
          "Video pipeline vs engine-only throughput",
          "end_to_end_fps includes decoding, encoding (libx264, crf 18) and muxing the audio; "
          "stage rates are frames per second of each stage's own busy time (encode_fps: handing frames to ffmpeg). "
          "ffmpeg_cpu_s is the CPU time of the ffmpeg processes (x264 encoding, join, mux); on a CPU-only machine it "
          "comes out of the engine's cores, so cpu_share_ceiling = engine time ÷ (engine time + ffmpeg CPU ÷ cores) is "
          "the best ratio the machine allows.")


if __name__ == "__main__":
    main()
