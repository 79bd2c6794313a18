"""`ganrt restore INPUT OUTPUT`: one image file, or a whole folder (mirrored, resumable).

Every output path (and the report and preview) is planned and checked before
any model is loaded or any image processed (``ganrt.pipelines.output_plan``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import (BackendOpt, DeviceOpt, ModelOpt, OutscaleOpt, OverwriteOpt, PrecisionOpt, QuietOpt,
                              RayActorsOpt, RayOpt, ReportOpt, ThreadsOpt, TileOpt, console, flag, handle_errors,
                              setup_logging, shown)

DEFAULT_MODEL = "RealESRGAN_x4plus"
FORMATS = ("same", "png", "jpg", "webp", "tiff", "jp2", "avif", "heic")
MAX_FAILURE_LINES = 20
MAX_JOBS = 64


@handle_errors
def restore(
    input: Annotated[str, typer.Argument(help="An image file, or a folder of images (walked recursively); a folder may be an fsspec URL (s3://bucket/scans).")],
    output: Annotated[str, typer.Argument(help="Output image file or folder (for one image), or output folder (for a folder; may be an fsspec URL).")],
    model: ModelOpt = DEFAULT_MODEL,
    backend: BackendOpt = "auto",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: TileOpt = "auto",
    outscale: OutscaleOpt = None,
    threads: ThreadsOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: same, png, jpg, webp, tiff, jp2 (JPEG 2000, lossless), avif or heic.")] = "same",
    suffix: Annotated[str, typer.Option("--suffix", help="Add this to every output file name (photo.jpg → photo<SUFFIX>.jpg).")] = "",
    quality: Annotated[int, typer.Option("--quality", help="JPEG/WebP quality (1-100).")] = 95,
    overwrite: OverwriteOpt = False,
    no_resume: Annotated[bool, flag("--no-resume", help="Redo every image, ignoring what earlier runs finished.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Reader and writer threads around the engine.")] = 2,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Refuse images whose header declares more pixels (decompression bombs).")] = 200_000_000,
    report: ReportOpt = None,
    preview: Annotated[Path | None, typer.Option("--preview", help="Write a contact sheet (input | restored) as PNG.")] = None,
    dry_run: Annotated[bool, flag("--dry-run", help="Show what would be done; write nothing.")] = False,
    ray: RayOpt = None,
    ray_actors: RayActorsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Restore and upscale an image, or a folder of images into a mirrored folder (resumable)."""
    setup_logging(quiet)
    from ganrt.errors import UsageError

    input, output = folder_locations(input, output, preview=preview)
    check_archive_options(input, fmt=fmt, outscale=outscale, threads=threads, quality=quality, jobs=jobs,
                          max_pixels=max_pixels, suffix=suffix)
    check_ray_options(input, ray, ray_actors)
    options = dict(model=model, backend=backend, device=device, precision=precision, tile=tile, outscale=outscale,
                   threads=threads, quality=quality, quiet=quiet, max_pixels=max_pixels, fmt=fmt, suffix=suffix,
                   overwrite=overwrite)
    if isinstance(input, str) or input.is_dir():
        code = _restore_folder(input, output, resume=not no_resume, jobs=jobs, report=report, preview=preview,
                               dry_run=dry_run, ray=ray, ray_actors=ray_actors, **options)
        raise typer.Exit(code)
    if dry_run or report or preview:
        raise UsageError("--dry-run, --report and --preview apply to folder inputs")
    _restore_one(input, output, **options)


def folder_locations(input: str, output: str, *, preview: Path | None,
                     mask_dir: Path | None = None) -> tuple[Path | str, Path | str]:
    """INPUT and OUTPUT as local paths or fsspec URLs, refusing what a job on URLs cannot do (the rest
    works as on local folders)."""
    from ganrt.errors import UsageError
    from ganrt.pipelines.remote_folder import location

    input, output = location(input), location(output)
    if not (isinstance(input, str) or isinstance(output, str)):
        return input, output
    if isinstance(input, Path) and not input.is_dir():
        raise UsageError("an fsspec URL OUTPUT needs a folder INPUT (one image: download it, or give a local OUTPUT)")
    if preview is not None:
        raise UsageError("--preview reads the restored images back: it needs local (or NFS) folders, not URLs")
    if mask_dir is not None and isinstance(input, str):
        raise UsageError("--mask-dir pairs masks with local (or NFS) photos; INPUT is a URL")
    return input, output


def check_archive_options(input: Path | str, *, fmt: str, outscale: float | None, threads: int | None, quality: int,
                          jobs: int, max_pixels: int, suffix: str) -> None:
    """The checks every command on the archive pipeline (restore, repair) makes of its shared options."""
    from ganrt.cli.common import check_choice, check_positive, check_threads, existing_path
    from ganrt.errors import UsageError

    if not isinstance(input, str):  # a URL is checked when it is listed
        existing_path(input, "input")
    check_choice(fmt, FORMATS, "--format")
    check_positive(outscale, "--outscale", most=16)
    check_threads(threads)
    if not 1 <= quality <= 100:
        raise UsageError("--quality must be between 1 and 100")
    if not 1 <= jobs <= MAX_JOBS or max_pixels < 1:
        raise UsageError(f"--jobs must be between 1 and {MAX_JOBS} and --max-pixels positive")
    if "/" in suffix or "\0" in suffix:
        raise UsageError("--suffix is added to file names: it cannot hold '/'")


def check_ray_options(input: Path | str, ray: str | None, ray_actors: int | None) -> None:
    from ganrt.errors import UsageError

    if ray_actors is not None and (ray is None or not 1 <= ray_actors <= 4096):
        raise UsageError("--ray-actors needs --ray and must be between 1 and 4096")
    if ray is not None and not isinstance(input, str) and not input.is_dir():
        raise UsageError("--ray runs folders (one image runs here, on this machine)")


def run_archive(todo, result, *, open_local, recipe_for, device: str, make_runner, state, fingerprint: str,
                jobs: int, ray: str | None, ray_actors: int | None, on_progress):
    """The planned images through the runner ``make_runner(tools)`` builds: in this process, with the
    tools ``open_local()`` (a context manager) opens, or on Ray, each actor calling ``recipe_for(threads)``
    (a picklable callable) for its own. Returns the runner that gathered the statistics."""
    if ray is None:
        with open_local() as tools:
            runner = make_runner(tools, state=state, fingerprint=fingerprint, jobs=jobs, on_progress=on_progress)
            runner.run(todo, result)
        return runner
    import logging
    from functools import partial

    from ganrt.pipelines.ray_archive import RayArchiveRunner
    from ganrt.pipelines.ray_cluster import connected, plan_actors

    with connected(ray) as ray_api:
        actors = plan_actors(ray_api, device, ray_actors)
        logging.getLogger("ganrt").info("on Ray: %s", actors.describe())
        runner = RayArchiveRunner(ray_api, partial(make_runner, state=None, fingerprint=fingerprint),
                                  recipe_for(actors.threads), actors, state, fingerprint, on_progress=on_progress)
        runner.run(todo, result)
        return runner.local


def _restore_one(src: Path, output: Path, *, model, backend, device, precision, tile, outscale, threads,
                 quality, quiet, max_pixels, fmt, suffix, overwrite) -> None:
    import logging
    import time

    from ganrt.cli.engine_setup import choose_engine
    from ganrt.cli.progress import RateBar
    from ganrt.errors import ImageReadError, UsageError
    from ganrt.fsutil import remove_stale_temps
    from ganrt.pipelines.output_plan import OutputPlan, single_output
    from ganrt.pipelines.restore import RestoreSettings, read_stage, restore_prepared
    from ganrt.runtime.tiling import tile_count

    if not src.is_file():
        raise UsageError(f"input {src} is not a regular file")
    dst, notes = single_output(src, output, fmt=fmt, suffix=suffix)
    OutputPlan(inputs=(src,), overwrite=overwrite).claim(dst, str(src))
    try:  # read first: a bad input fails before any model is loaded
        prepared = read_stage(src, RestoreSettings(max_pixels=max_pixels), into=dst)
    except ImageReadError as exc:
        raise ImageReadError(f"{src}: {exc}") from None
    choice = choose_engine(model, backend, device, precision, tile, threads, command="ganrt restore")
    outscale = outscale if outscale is not None else choice.model.default_outscale
    settings = RestoreSettings(tile=choice.tile, outscale=outscale, quality=quality, max_pixels=max_pixels)
    for note in notes:
        logging.getLogger("ganrt").warning("%s: %s", src.name, note)
    if dst.parent.is_dir():
        remove_stale_temps(dst.parent)  # what a killed restore into this folder left
    start = time.perf_counter()
    with choice.open() as engine:
        tiles = 0
        for page in prepared.every_page:  # a multi-page TIFF's pages all go into its TIFF output
            h, w = page.rgb.shape[:2]
            tile = settings.tile.for_engine(engine, h, w, engine.spec.out_channels, settings.pad)
            tiles += tile_count(h, w, tile, settings.pad)
        with RateBar("restoring", tiles, quiet, unit="tiles") as bar:
            written = restore_prepared(engine, prepared, dst, settings, on_tiles=bar.advance)
    if not quiet:
        console().print(f"restored {shown(str(src))} → {shown(str(written))} with {choice.model.name} "
                        f"({engine.describe()}) in {time.perf_counter() - start:.1f} s", markup=False)


def _restore_folder(src: Path | str, dst: Path | str, *, model, backend, device, precision, tile, outscale, threads, quality,
                    quiet, max_pixels, fmt, suffix, overwrite, resume, jobs, report, preview, dry_run, ray,
                    ray_actors) -> int:
    import logging

    from ganrt.cli.engine_setup import choose_engine
    from ganrt.cli.progress import RateBar, rates
    from ganrt.errors import UsageError
    from ganrt.fsutil import remove_stale_temps
    from ganrt.pipelines import report_file
    from ganrt.pipelines.archive import ArchiveResult, ArchiveRunner, plan
    from ganrt.pipelines.jobstate import settings_fingerprint
    from ganrt.pipelines.output_plan import claim_side_files
    from ganrt.pipelines.restore import RestoreSettings

    discovery, open_state = discover_folder(src, dst, fmt, suffix, overwrite)  # refuses bad folders before any model loads
    if not discovery.tasks and not discovery.failed:
        raise UsageError(f"no images found in {src} ({len(discovery.ignored)} other file(s) ignored)")
    choice = choose_engine(model, backend, device, precision, tile, threads, command="ganrt restore")
    outscale = outscale if outscale is not None else choice.model.default_outscale
    settings = RestoreSettings(tile=choice.tile, outscale=outscale, fmt=fmt, quality=quality, max_pixels=max_pixels)
    fingerprint_of = {"model": choice.model.name, "weights_sha256": choice.model.checksum,
                      "precision": choice.precision, "outscale": outscale, "format": fmt, "suffix": suffix,
                      "quality": quality, "tile": choice.tile.describe()}
    fingerprint = settings_fingerprint(fingerprint_of)
    result = ArchiveResult()
    if dry_run:
        with open_state(readonly=True) as state:
            todo, outputs = plan(discovery, state, fingerprint, resume=resume, overwrite=overwrite, result=result)
            claim_side_files(outputs, report=report, preview=preview)
        return _dry_run(discovery, todo, result, quiet)
    with open_state() as state:
        remove_stale_temps(discovery.dst_root, recursive=True)
        todo, outputs = plan(discovery, state, fingerprint, resume=resume, overwrite=overwrite, result=result)
        claim_side_files(outputs, report=report, preview=preview)  # before any image is processed
        if result.stale and not quiet:
            logging.getLogger("ganrt").warning(
                "%d output(s) of an earlier run with other settings stay beside the new ones (not deleted)",
                result.stale)
        if todo:  # the engine is only built when there is work for it
            from functools import partial

            with RateBar("restoring", len(todo), quiet) as bar:
                def on_progress(res, done):
                    bar.update(done, rates=rates(res.images_per_s, res.megapixels_per_s))

                def recipe_for(threads):
                    return choice.recipe(model, threads=threads, kinds=("super-resolution",),
                                         command="ganrt restore")

                run_archive(todo, result, open_local=choice.open, recipe_for=recipe_for, device=choice.device,
                            make_runner=partial(ArchiveRunner, settings=settings), state=state,
                            fingerprint=fingerprint, jobs=jobs, ray=ray, ray_actors=ray_actors,
                            on_progress=on_progress)
    if report:
        details = {**fingerprint_of, "backend": choice.backend, "device": choice.device}
        report_file.write(report, result.report(details))
    if preview and result.written:
        from ganrt.pipelines.preview import contact_sheet

        contact_sheet(result.written, preview)
    _print_summary(result, f"{choice.model.name} on {choice.describe()}" + (" (Ray)" if ray else ""), quiet)
    if result.interrupted:
        return result.signal_code
    return 1 if result.failed else 0


def discover_folder(src: Path | str, dst: Path | str, fmt: str, suffix: str, overwrite: bool):
    """The folder job's Discovery and a function opening its job state, for local folders and fsspec
    URLs alike (a remote OUTPUT's state lives in ganrt's cache, sees the outputs through a listing,
    takes in the copy the OUTPUT holds and keeps that copy up to date). The state opened refuses an
    OUTPUT holding another input folder's outputs (``JobState.claim_input``)."""
    from ganrt.errors import UsageError
    from ganrt.pipelines.image_io import IMAGE_SUFFIXES
    from ganrt.pipelines.jobstate import JobState

    listing = None
    if isinstance(src, Path) and isinstance(dst, Path):
        from ganrt.pipelines.archive_walk import discover

        if not dst.exists() and dst.suffix.lower() in IMAGE_SUFFIXES:
            raise UsageError(f"OUTPUT {dst} looks like an image file, but INPUT is a folder: give an output folder")
        discovery = discover(src, dst, fmt, suffix)
    else:
        from ganrt.pipelines import remote_folder

        discovery, listing = remote_folder.discover(src, dst, fmt, suffix)
    source = src if isinstance(src, str) else str(discovery.src_root)

    def open_state(readonly: bool = False) -> JobState:
        state = JobState(discovery.dst_root, readonly=readonly)
        try:
            if listing is not None:  # a remote OUTPUT (a remote INPUT into a local OUTPUT: the OUTPUT's own state)
                state.remote = listing
                copy = remote_folder.StateCopy(listing)
                copy.merge_into(state)
                if not readonly:
                    state.copy = copy
                    listing.remove_dead_temps()
            state.claim_input(source, overwrite=overwrite)
        except BaseException:
            state.close()
            raise
        return state

    return discovery, open_state


def _dry_run(discovery, todo, result, quiet: bool) -> int:
    lines = [f"{len(discovery.tasks)} image(s) found, {len(discovery.ignored)} other file(s) ignored",
             f"{result.skipped} already done, {len(todo)} to restore, {len(result.failed)} cannot be"]
    for task in todo[:10]:
        lines.append(f"  {task.rel} → {task.dst.relative_to(discovery.dst_root).as_posix()}")
    if len(todo) > 10:
        lines.append(f"  … and {len(todo) - 10} more")
    for rel, reason in result.failed[:10]:
        lines.append(f"  {rel}: {reason}")
    if not quiet:
        console().print(shown("\n".join(lines)), markup=False)
    return 0


def _print_summary(result, title: str, quiet: bool, verb: str = "restored") -> None:
    import sys

    for path, reason in result.failed[:MAX_FAILURE_LINES]:
        sys.stderr.write(shown(f"failed: {path}: {reason}") + "\n")
    if len(result.failed) > MAX_FAILURE_LINES:
        sys.stderr.write(f"… and {len(result.failed) - MAX_FAILURE_LINES} more failures (see --report)\n")
    if result.interrupted:
        how = "terminated" if result.signal_code == 143 else "interrupted"
        sys.stderr.write(f"{how} after {result.restored} {verb} image(s); the job state is saved: "
                         "rerun the same command to resume\n")
    if quiet:
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), show_header=False)
    rows = [(verb, result.restored), ("skipped (already done)", result.skipped),
            ("failed", len(result.failed)), ("ignored (not images)", len(result.ignored)),
            ("time", f"{result.seconds:.1f} s"), ("images/s", f"{result.images_per_s:.3f}"),
            ("megapixels/s", f"{result.megapixels_per_s:.3f}")]
    if result.fallbacks:
        rows.append(("tiles re-run in fp32 (NaN/Inf)", result.fallbacks))
    if warned := result.summary()["restored_with_warnings"]:
        rows.insert(2, ("outputs with warnings (see --report)", warned))
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console().print(table)
