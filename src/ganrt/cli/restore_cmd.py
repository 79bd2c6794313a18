"""`ganrt restore INPUT OUTPUT`: one image file, or a whole folder (mirrored, resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import (BackendOpt, DeviceOpt, ModelOpt, OutscaleOpt, PrecisionOpt, QuietOpt, ThreadsOpt,
                              TileOpt, console, handle_errors, setup_logging)

DEFAULT_MODEL = "RealESRGAN_x4plus"
FORMATS = ("same", "png", "jpg", "webp", "tiff")
MAX_FAILURE_LINES = 20


@handle_errors
def restore(
    input: Annotated[Path, typer.Argument(help="An image file, or a folder of images (walked recursively).")],
    output: Annotated[Path, typer.Argument(help="Output image file, or output folder for a folder input.")],
    model: ModelOpt = DEFAULT_MODEL,
    backend: BackendOpt = "auto",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: TileOpt = "auto",
    outscale: OutscaleOpt = None,
    threads: ThreadsOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format for folders: same, png, jpg, webp or tiff.")] = "same",
    quality: Annotated[int, typer.Option("--quality", help="JPEG/WebP quality (1-100).")] = 95,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs this job did not make.")] = False,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Redo every image, ignoring what earlier runs finished.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Reader and writer threads around the engine.")] = 2,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Refuse images whose header declares more pixels (decompression bombs).")] = 200_000_000,
    report: Annotated[Path | None, typer.Option("--report", help="Write the summary and every failure as JSON.")] = None,
    preview: Annotated[Path | None, typer.Option("--preview", help="Write a contact sheet (input | restored) as PNG.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be done; write nothing.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Restore and upscale an image, or a folder of images into a mirrored folder (resumable)."""
    setup_logging(quiet)
    from ganrt.cli.common import check_choice, existing_path
    from ganrt.errors import UsageError

    existing_path(input, "input")
    check_choice(fmt, FORMATS, "--format")
    if outscale is not None and not 0 < outscale <= 16:
        raise UsageError("--outscale must be between 0 and 16")
    if not 1 <= quality <= 100:
        raise UsageError("--quality must be between 1 and 100")
    if jobs < 1 or max_pixels < 1:
        raise UsageError("--jobs and --max-pixels must be positive")
    options = dict(model=model, backend=backend, device=device, precision=precision, tile=tile, outscale=outscale,
                   threads=threads, quality=quality, quiet=quiet, max_pixels=max_pixels)
    if input.is_dir():
        code = _restore_folder(input, output, fmt=fmt, overwrite=overwrite, resume=not no_resume, jobs=jobs,
                               report=report, preview=preview, dry_run=dry_run, **options)
        raise typer.Exit(code)
    if dry_run or report or preview:
        raise UsageError("--dry-run, --report and --preview apply to folder inputs")
    _restore_one(input, output, **options)


def _restore_one(src: Path, dst: Path, *, model, backend, device, precision, tile, outscale, threads,
                 quality, quiet, max_pixels) -> None:
    import time

    from ganrt.cli.engine_setup import choose_engine
    from ganrt.errors import ImageReadError, UsageError
    from ganrt.pipelines.image_io import IMAGE_SUFFIXES
    from ganrt.pipelines.restore import RestoreSettings, read_stage, restore_prepared

    if dst.is_dir():
        dst = dst / src.name
    if dst.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"output {dst} must end in one of {', '.join(IMAGE_SUFFIXES)}")
    if dst.resolve() == src.resolve():
        raise UsageError("output would overwrite the input; originals are never touched")
    try:  # read first: a bad input fails before any model is loaded
        prepared = read_stage(src, RestoreSettings(max_pixels=max_pixels))
    except ImageReadError as exc:
        raise ImageReadError(f"{src}: {exc}") from None
    choice = choose_engine(model, backend, device, precision, tile, threads)
    settings = RestoreSettings(tile=choice.tile, outscale=outscale, quality=quality, max_pixels=max_pixels)
    start = time.perf_counter()
    with choice.open() as engine:
        written, _notes = restore_prepared(engine, prepared, dst, settings)
    if not quiet:
        console().print(f"restored {src} → {written} with {choice.model.name} "
                        f"({engine.describe()}) in {time.perf_counter() - start:.1f} s")


def _restore_folder(src: Path, dst: Path, *, model, backend, device, precision, tile, outscale, threads, quality,
                    quiet, max_pixels, fmt, overwrite, resume, jobs, report, preview, dry_run) -> int:
    import json
    import signal

    from ganrt.cli.engine_setup import choose_engine
    from ganrt.cli.progress import RateBar
    from ganrt.fsutil import atomic_write_bytes
    from ganrt.pipelines.archive import ArchiveResult, ArchiveRunner, plan
    from ganrt.pipelines.archive_walk import discover
    from ganrt.pipelines.jobstate import JobState, remove_stale_temp_files, settings_fingerprint
    from ganrt.pipelines.restore import RestoreSettings

    discovery = discover(src, dst, fmt)  # refuses bad folder combinations before any model loads
    if dry_run:
        return _dry_run(discovery, dst, quiet)
    choice = choose_engine(model, backend, device, precision, tile, threads)
    settings = RestoreSettings(tile=choice.tile, outscale=outscale, fmt=fmt, quality=quality, max_pixels=max_pixels)
    fingerprint_of = {"model": choice.model.name, "weights_sha256": choice.model.checksum,
                      "precision": choice.precision, "outscale": outscale, "format": fmt,
                      "quality": quality, "tile": choice.tile.describe()}
    fingerprint = settings_fingerprint(fingerprint_of)
    result = ArchiveResult()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with JobState(dst) as state:
            remove_stale_temp_files(dst)
            todo = plan(discovery, state, fingerprint, resume=resume, overwrite=overwrite, result=result)
            if todo:  # the engine is only built when there is work for it
                with choice.open() as engine, RateBar("restoring", len(todo), quiet) as bar:
                    def on_progress(res, done):
                        bar.update(done, rates=f"{res.images_per_s:.2f} img/s  {res.megapixels_per_s:.2f} MP/s")

                    ArchiveRunner(engine, settings, state, fingerprint, jobs=jobs,
                                  on_progress=on_progress).run(todo, result)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if report:
        details = {**fingerprint_of, "backend": choice.backend, "device": choice.device}
        atomic_write_bytes(report, (json.dumps(result.report(details), indent=2) + "\n").encode())
    if preview and result.written:
        from ganrt.pipelines.preview import contact_sheet

        contact_sheet(result.written, preview)
    _print_summary(result, choice, quiet)
    if result.interrupted:
        return 130
    return 1 if result.failed else 0


def _dry_run(discovery, dst: Path, quiet: bool) -> int:
    from ganrt.pipelines.jobstate import DB_NAME

    existing = sum(1 for t in discovery.tasks if t.dst.exists())
    lines = [f"{len(discovery.tasks)} image(s) found, {len(discovery.ignored)} other file(s) ignored",
             f"{existing} output(s) already exist in {dst}"
             + (" (job state present: finished ones will be skipped)" if (dst / DB_NAME).exists() else "")]
    for task in discovery.tasks[:10]:
        lines.append(f"  {task.rel} → {task.dst.relative_to(dst.resolve()).as_posix()}")
    if len(discovery.tasks) > 10:
        lines.append(f"  … and {len(discovery.tasks) - 10} more")
    if not quiet:
        console().print("\n".join(lines), markup=False)
    return 0


def _print_summary(result, choice, quiet: bool) -> None:
    import sys

    for path, reason in result.failed[:MAX_FAILURE_LINES]:
        sys.stderr.write(f"failed: {path}: {reason}\n")
    if len(result.failed) > MAX_FAILURE_LINES:
        sys.stderr.write(f"… and {len(result.failed) - MAX_FAILURE_LINES} more failures (see --report)\n")
    if result.interrupted:
        sys.stderr.write(f"interrupted after {result.restored} restored image(s); the job state is saved: "
                         "rerun the same command to resume\n")
    if quiet:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{choice.model.name} on {choice.describe()}"), show_header=False)
    rows = [("restored", result.restored), ("skipped (already done)", result.skipped),
            ("failed", len(result.failed)), ("ignored (not images)", len(result.ignored)),
            ("time", f"{result.seconds:.1f} s"), ("images/s", f"{result.images_per_s:.3f}"),
            ("megapixels/s", f"{result.megapixels_per_s:.3f}")]
    if result.fallbacks:
        rows.append(("tiles re-run in fp32 (NaN/Inf)", result.fallbacks))
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console().print(table)
