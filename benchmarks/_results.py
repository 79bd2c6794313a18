"""Shared by the benchmark scripts: real input images, timing, and writing results/ files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ganrt.bench.machine import describe_machine
from ganrt.bench.stats import summarize

RESULTS = Path(__file__).parent / "results"


def real_inputs(h: int, w: int, count: int = 3) -> list[np.ndarray]:
    """Real-photo mosaics at h×w, float32 NCHW in 0..1 (rotated among, never zeros)."""
    from ganrt.bench.runner import real_batches

    return [np.ascontiguousarray(b.transpose(0, 3, 1, 2).astype(np.float32) / 255) for b in real_batches(h, w, 1, count)]


def time_calls(fn, inputs: list, *, warmup: int = 1, repeats: int = 5) -> list[float]:
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times = []
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return times


def median_ms(times: list[float]) -> float:
    return summarize(times).median_ms


def write(name: str, rows: list[dict], columns: list[str], title: str, notes: str = "") -> Path:
    """Write results/<name>.json (rows + machine) and results/<name>.md (a short table)."""
    RESULTS.mkdir(exist_ok=True)
    machine = describe_machine()
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"# {title}", "", f"Machine: {machine['cpu']}, {machine['cores']} cores "
             f"(bf16: {', '.join(machine['cpu_bf16']) or 'none'}); torch {machine['versions']['torch']}, "
             f"onnxruntime {machine['versions']['onnxruntime']}, openvino {machine['versions']['openvino']}, "
             f"ncnn {machine['versions']['ncnn']}.", ""]
    if notes:
        lines += [notes, ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())
    return path
