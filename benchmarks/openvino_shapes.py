"""The OpenVINO cache and time over an archive of many small sizes (issue: "the cache grows without bound").

20 photos of 20 different sizes under 200 px go through ``ganrt restore
--backend openvino`` in a fresh cache; the weights and the ONNX graph are made
beforehand (one warm-up image, then the ``openvino`` cache folder is emptied),
so the timed run holds what the OpenVINO model cache costs: compiling, loading
and the cache's size on disk. ``--src`` runs another checkout's code (an older
commit, say) the same way, for the comparison.

    python benchmarks/openvino_shapes.py [--model RealESRGAN_x4plus] [--src /path/to/other/checkout/src]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _results import write

from ganrt.data import calibration_photos


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="RealESRGAN_x4plus")
    ap.add_argument("--src", action="append", default=[], help="another checkout's src/ to compare (repeatable)")
    ap.add_argument("--count", type=int, default=20)
    args = ap.parse_args()
    photos = list(calibration_photos().values())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        for k in range(args.count):  # 120×90 … 196×147: every photo a new size
            w, h = 120 + 4 * k, 90 + 3 * k
            img = cv2.resize(photos[k % len(photos)], (w, h), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(tmp / "in" / f"scan_{k:02d}.png"), img[..., ::-1])
        (tmp / "one").mkdir()
        shutil.copy(tmp / "in" / "scan_00.png", tmp / "one")
        for label, src in [("this checkout", None)] + [(s, s) for s in args.src]:
            cache = tmp / f"cache-{len(rows)}"
            env = {**os.environ, "GANRT_CACHE": str(cache)}
            if src:
                env["PYTHONPATH"] = str(Path(src).resolve())
            cmd = [sys.executable, "-m", "ganrt", "restore", "-m", args.model, "--backend", "openvino", "-q"]
            subprocess.run([*cmd[:4], str(tmp / "one"), str(tmp / f"warm-{len(rows)}"), *cmd[4:]], env=env,
                           check=True)
            shutil.rmtree(cache / "openvino", ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([*cmd[:4], str(tmp / "in"), str(tmp / f"out-{len(rows)}"), *cmd[4:]], env=env, check=True)
            seconds = time.perf_counter() - start
            rows.append({"code": label, "photos": args.count, "sizes": args.count,
                         "OpenVINO cache (MB)": round(folder_size(cache / "openvino") / 1e6, 1),
                         "files in it": sum(1 for p in (cache / "openvino").rglob("*") if p.is_file()),
                         "restore wall (s)": round(seconds, 1)})
            print(rows[-1])
    write("openvino_shapes", rows, list(rows[0]), f"OpenVINO cache over {args.count} photos of {args.count} sizes "
          f"under 200 px ({args.model}, ganrt restore --backend openvino)")


if __name__ == "__main__":
    main()
