"""What ``--ray`` costs on one machine: ``ganrt restore`` in one process against ``--ray`` with local actors.

Each mode runs the whole command (a subprocess, as a user runs it) on N and on
2N images of the same size; the wall time of each is split into a fixed part
(start-up: Ray's head and actors, each actor's engine) and a per-image part,
from the difference: marginal images/s = N / (t(2N) − t(N)). The outputs of
both modes are compared (largest difference in levels).

    python benchmarks/ray_overhead.py [--count 16] [--size 256] [--actors 2] [--model realesr-animevideov3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _results import write
from archive_throughput import make_archive


def run(src: Path, dst: Path, args, ray: bool) -> float:
    cmd = [sys.executable, "-m", "ganrt", "restore", str(src), str(dst), "-m", args.model, "--backend",
           args.backend, "--device", "cpu", "--precision", "fp32", "-q"]
    if ray:
        cmd += ["--ray", "--ray-actors", str(args.actors)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def command_options(description: str) -> argparse.ArgumentParser:
    """The options of the benchmarks that time the whole command on N and 2N images."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", default="realesr-animevideov3")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    return ap


def main() -> None:
    ap = command_options(__doc__)
    ap.add_argument("--actors", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in (args.count, 2 * args.count):
            make_archive(root / f"in{n}", n, args.size)
        run(root / f"in{args.count}", root / "warm", args, False)  # weights converted, graph exported, once
        outs = {}
        for mode, ray in (("one process", False), (f"--ray, {args.actors} local actors", True)):
            t = {n: run(root / f"in{n}", root / f"out-{ray}-{n}", args, ray) for n in (args.count, 2 * args.count)}
            marginal = args.count / max(t[2 * args.count] - t[args.count], 1e-9)
            fixed = t[args.count] - args.count / marginal
            outs[ray] = root / f"out-{ray}-{2 * args.count}"
            rows.append({"mode": mode, f"wall {args.count} images (s)": round(t[args.count], 1),
                         f"wall {2 * args.count} images (s)": round(t[2 * args.count], 1),
                         "start-up (s)": round(fixed, 1), "marginal images/s": round(marginal, 3),
                         "end-to-end images/s": round(2 * args.count / t[2 * args.count], 3)})
        worst = 0
        for path in outs[False].rglob("*.jpg"):
            other = outs[True] / path.relative_to(outs[False])
            worst = max(worst, int(np.abs(cv2.imread(str(path)).astype(int) - cv2.imread(str(other))).max()))
    base = rows[0]["marginal images/s"]
    for row in rows:
        row["marginal vs one process"] = f"{row['marginal images/s'] / base:.2f}×"
    write("ray_overhead", rows, list(rows[0]), f"ganrt restore vs --ray on one machine ({args.model}, "
          f"{args.size}² JPEG, CPU)", notes=f"Largest output difference between the modes: {worst} level(s).")
    for row in rows:
        print(row)
    print("largest difference:", worst)


if __name__ == "__main__":
    main()
