"""Archive pipeline throughput against engine-only throughput on the same images.

Engine-only: the images are decoded beforehand and only ``upscale`` (the
engine with its tiling) is timed. Pipeline: the same files go through
``ganrt restore``'s runner (read + decode, infer, finish + encode + atomic
write, job-state updates), with decoding and encoding overlapping inference.
Goal: pipeline ≥ 0.9 × engine-only.

    python benchmarks/archive_throughput.py [--model realesr-animevideov3] [--count 24] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _results import write

from ganrt.data import calibration_photos
from ganrt.models import load_model
from ganrt.pipelines.archive.runner import ArchiveResult, ArchiveRunner, plan
from ganrt.pipelines.archive.walk import discover
from ganrt.pipelines.archive.state import JobState
from ganrt.pipelines.restore import RestoreSettings, infer_stage, read_stage
from ganrt.runtime.memory import TilePolicy
from ganrt.runtime.registry import create_engine


def make_archive(root: Path, count: int, size: int) -> None:
    photos = list(calibration_photos().values())
    rng = np.random.default_rng(0)
    for i in range(count):
        img = cv2.resize(photos[i % len(photos)], (size, size), interpolation=cv2.INTER_CUBIC)
        img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        (root / f"album{i % 3}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / f"album{i % 3}" / f"photo_{i:03d}.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", action="append")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for name in args.model or ["realesr-animevideov3"]:
        model = load_model(name)
        engine = create_engine(model, backend=args.backend, device="cpu", precision=args.precision)
        settings = RestoreSettings(tile=TilePolicy.auto(model, "cpu"), fmt="png")
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in", Path(tmp) / "out"
            make_archive(src, args.count, args.size)
            tasks = discover(src, dst, "png").tasks
            prepared = [read_stage(t.src, settings) for t in tasks]
            infer_stage(engine, prepared[0], settings)  # warm-up (session, kernels)
            t0 = time.perf_counter()
            for p in prepared:
                infer_stage(engine, p, settings)
            engine_s = time.perf_counter() - t0
            with JobState(dst) as state:
                result = ArchiveResult()
                todo, _ = plan(discover(src, dst, "png"), state, "bench", resume=False, overwrite=True, result=result)
                t0 = time.perf_counter()
                ArchiveRunner(engine, settings, state, "bench", jobs=args.jobs).run(todo, result)
                pipeline_s = time.perf_counter() - t0
            assert result.restored == args.count, result.failed
        row = {"model": name, "backend": args.backend, "precision": args.precision, "images": args.count,
               "size": f"{args.size}x{args.size}",
               "tile": settings.tile.for_engine(engine, args.size, args.size),
               "engine_only_img_s": args.count / engine_s, "pipeline_img_s": args.count / pipeline_s,
               "ratio": engine_s / pipeline_s}
        rows.append(row)
        print(row, flush=True)
    write("archive_throughput", rows,
          ["model", "backend", "precision", "images", "size", "tile", "engine_only_img_s", "pipeline_img_s", "ratio"],
          f"Archive pipeline vs engine-only throughput (CPU, {len(os.sched_getaffinity(0))} cores, "
          f"--jobs {args.jobs}, JPEG in, PNG out)",
          "ratio = pipeline images/s ÷ engine-only images/s (goal ≥ 0.9).")


if __name__ == "__main__":
    main()
