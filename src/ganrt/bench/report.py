"""Bench results out: a Rich table, JSON and CSV with the machine description, and a throughput chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ganrt.bench.machine import describe_machine
from ganrt.fsutil import atomic_path, atomic_write_bytes

TABLE_COLUMNS = [("backend", "backend"), ("precision", "prec"), ("device", "device"), ("shape", "shape"),
                 ("batch", "batch"), ("status", "status"), ("median_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                 ("images_per_s", "img/s"), ("megapixels_per_s", "MP/s"), ("peak_memory_mb", "peak MB"),
                 ("first_run_s", "first s"), ("psnr_db", "PSNR dB"), ("roofline_fraction", "roofline")]


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


GPU_ONLY = ("roofline_fraction",)  # shown when some row has it (a CUDA run); said why otherwise


def rich_table(rows, title: str):
    from rich.table import Table
    from rich.text import Text

    dicts = [row.as_dict() for row in rows]
    columns = [(key, header) for key, header in TABLE_COLUMNS
               if key not in GPU_ONLY or any(d[key] is not None for d in dicts)]
    table = Table(title=Text(title))
    for _, header in columns:
        table.add_column(header, no_wrap=True)
    for d in dicts:
        table.add_row(*(Text(_fmt(d[key])) for key, _ in columns))
    return table


def reasons(rows) -> list[str]:
    """One line per combination that did not run, saying why; and why a column is missing."""
    lines = [f"{r.backend} {r.precision} {r.device} {r.shape} b{r.batch}: {r.status}: {r.reason}"
             for r in rows if r.status != "ok"]
    if rows and all(r.roofline_fraction is None for r in rows):
        lines.append("roofline: measured on CUDA GPUs only (against the GPU's measured fp16 matmul peak)")
    lines.append("first s: engine creation plus its first call at the benchmark shape")
    return lines


def write_json(path: Path, rows, settings: dict) -> None:
    data = {"machine": describe_machine(), "settings": settings, "rows": [r.as_dict() for r in rows]}
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def write_csv(path: Path, rows) -> None:
    machine = describe_machine()
    header = list(rows[0].as_dict()) if rows else []
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        fh.write(f"# machine: {json.dumps(machine, default=str)}\n")
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for r in rows:
            d = r.as_dict()
            d["extra"] = json.dumps(d["extra"])
            writer.writerow(d)


def write_plot(path: Path, rows, title: str) -> None:
    """Bars: images/s per engine; whiskers: the throughput at p99 and at min latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.status == "ok" and r.images_per_s]
    labels = [f"{r.backend}\n{r.precision} {r.device}\n{r.shape} b{r.batch}" for r in ok]
    values = [r.images_per_s for r in ok]
    per_call = [r.batch * r.streams for r in ok]
    lower = [v - n / (r.p99_ms / 1e3) for v, n, r in zip(values, per_call, ok)]
    upper = [n / (r.min_ms / 1e3) - v for v, n, r in zip(values, per_call, ok)]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(ok) + 2), 4.5))
    ax.bar(range(len(ok)), values, yerr=[[max(0, x) for x in lower], [max(0, x) for x in upper]], capsize=6,
           color="#4477aa")
    ax.set_xticks(range(len(ok)), labels, fontsize=8)
    ax.set_ylabel("images / s (whiskers: at p99 and min latency)")
    ax.set_title(title, fontsize=10)
    for i, r in enumerate(ok):
        fidelity = "" if r.psnr_db is None else ("\nexact" if r.psnr_db >= 999 else f"\n{r.psnr_db:.0f} dB")
        top = values[i] + max(0, upper[i])  # above the whisker cap, not over it
        ax.annotate(f"{r.median_ms:.0f} ms{fidelity}",
                    (i, top), ha="center", va="bottom", fontsize=7, xytext=(0, 3), textcoords="offset points")
    if ok:
        ax.set_ylim(0, max(v + max(0, u) for v, u in zip(values, upper)) * 1.15)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
