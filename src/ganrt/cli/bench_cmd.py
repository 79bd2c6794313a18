"""`ganrt bench`: latency and throughput per backend, precision, shape and batch, trtexec-style."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.kinds import GENERATION
from ganrt.cli.common import QuietOpt, ThreadsOpt, console, handle_errors, setup_logging

DEFAULT_SIZES = ["256x256", "720x1280"]


@handle_errors
def bench(
    model: Annotated[str, typer.Option("--model", "-m", help="Built-in model name, model file, or a `ganrt train` run folder.")] = "realesr-animevideov3",
    backend: Annotated[list[str] | None, typer.Option("--backend", "-b", help="Repeatable; default: every backend available here.")] = None,
    precision: Annotated[list[str] | None, typer.Option("--precision", "-p", help="Repeatable; default: each backend's default.")] = None,
    size: Annotated[list[str] | None, typer.Option("--size", help="Repeatable HxW (default: 256x256 and 720x1280; a face network's own size).")] = None,
    batch: Annotated[list[int] | None, typer.Option("--batch", help="Repeatable batch size (default 1).")] = None,
    device: Annotated[str, typer.Option("--device", "-d", help="auto, cpu or cuda.")] = "auto",
    warmup_ms: Annotated[float, typer.Option("--warmup-ms", help="Warm-up time per combination.")] = 200.0,
    duration_s: Annotated[float, typer.Option("--duration-s", help="Measure for at least this long.")] = 3.0,
    iterations: Annotated[int, typer.Option("--iterations", help="Measure at least this many calls.")] = 10,
    streams: Annotated[int, typer.Option("--streams", help="Concurrent execution contexts (TensorRT).")] = 1,
    threads: ThreadsOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all rows and the machine as JSON.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write all rows as CSV.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a throughput bar chart (PNG).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Benchmark every requested combination; one that cannot run becomes a row with its reason."""
    setup_logging(quiet)
    from ganrt.bench.report import reasons, rich_table, write_csv, write_json, write_plot
    from ganrt.bench.runner import Bench, Method, combos_for
    from ganrt.cli.progress import RateBar
    from ganrt.runtime.backends import BACKEND_CHOICES, PRECISION_CHOICES
    from ganrt.validate import check_choice, check_own_size
    from ganrt.errors import UsageError
    from ganrt.export.trt_profiles import parse_hw
    from ganrt.models import load_model
    from ganrt.runtime.registry import resolve_device

    for b in backend or []:
        check_choice(b, BACKEND_CHOICES[1:], "--backend")
    for p in precision or []:
        check_choice(p, PRECISION_CHOICES[1:], "--precision")
    if iterations < 1 or duration_s < 0 or warmup_ms < 0 or streams < 1 or any(b < 1 for b in batch or []):
        raise UsageError("--iterations, --batch and --streams must be positive; times must not be negative")
    sizes = [parse_hw(s, "--size") for s in (size or DEFAULT_SIZES)]
    batches = batch or [1]
    dev = resolve_device(device)
    loaded = load_model(model)
    from ganrt.kinds import get_kind

    if loaded.kind == GENERATION:  # a generator's size is its own; batches are what vary
        sizes = [(loaded.image_size, loaded.image_size)]
    elif get_kind(loaded.kind).one_size:  # so is a face network's (GFPGAN: 512²)
        check_own_size(loaded.name, loaded.min_size, sizes if size else [], "--size")
        sizes = [(loaded.min_size, loaded.min_size)]
    combos = combos_for(loaded, dev, sizes, batches, streams, backends=backend, precisions=precision)
    runner = Bench(loaded, Method(warmup_ms, duration_s, iterations), threads=threads)
    rows = []
    out = console(stderr=True)
    with RateBar("measuring", len(combos), quiet, unit="combinations") as bar:
        for combo in combos:
            what = f"{combo.backend} {combo.precision} {combo.device} {combo.shape} batch {combo.batch}"
            if not quiet and not out.is_terminal:
                out.print(f"measuring {what} …", markup=False)
            bar.update(len(rows), rates=what)
            rows.append(runner.run(combo))
            bar.update(len(rows), rates=what)
    title = f"{loaded.name} ({loaded.arch}, ×{loaded.scale})"
    if not quiet:
        console().print(rich_table(rows, title))
        for line in reasons(rows):
            console().print(line, markup=False, highlight=False)
    settings = {"model": loaded.name, "warmup_ms": warmup_ms, "duration_s": duration_s, "iterations": iterations,
                "streams": streams, "threads": threads, "megapixels": "input megapixels per second"}
    if json_out:
        write_json(json_out, rows, settings)
    if csv_out:
        write_csv(csv_out, rows)
    if plot:
        write_plot(plot, rows, title)
