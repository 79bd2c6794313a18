"""`ganrt restore INPUT OUTPUT`: one image file, or a whole folder (mirrored, resumable).

Every output path (and the report and preview) is planned and checked before
any model is loaded or any image processed (``ganrt.pipelines.archive.plan``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import (BackendOpt, DeviceOpt, FormatOpt, ModelOpt, OutscaleOpt, OverwriteOpt, PrecisionOpt,
                              QuietOpt, RayActorsOpt, RayOpt, ReportOpt, ThreadsOpt, TileOpt, console, flag,
                              handle_errors, setup_logging, shown)

DEFAULT_MODEL = "RealESRGAN_x4plus"
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
    fmt: FormatOpt = "same",
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
    from ganrt.runtime.engine_choice import choose_engine

    def choose():
        return choose_engine(model, backend, device, precision, tile, threads, command="ganrt restore")

    if isinstance(input, str) or input.is_dir():
        from ganrt.pipelines.restore_job import RestoreWork

        def work(discovery):
            return RestoreWork(choose(), model, outscale=outscale, fmt=fmt, suffix=suffix, quality=quality,
                               max_pixels=max_pixels)

        from ganrt.pipelines.archive.job import FolderOptions

        options = FolderOptions(input, output, "restore", fmt=fmt, suffix=suffix, overwrite=overwrite,
                                resume=not no_resume, jobs=jobs, report=report, preview=preview, dry_run=dry_run)
        raise typer.Exit(run_folder_job(options, work, ray=ray, ray_actors=ray_actors, quiet=quiet,
                                        verb="restored", action="restore"))
    if dry_run or report or preview:
        raise UsageError("--dry-run, --report and --preview apply to folder inputs")
    from ganrt.cli.archive_view import tile_progress
    from ganrt.pipelines.restore_job import restore_file

    done = restore_file(input, output, choose, outscale=outscale, fmt=fmt, suffix=suffix, quality=quality,
                        max_pixels=max_pixels, overwrite=overwrite, progress=tile_progress("restoring", quiet))
    if not quiet:
        console().print(f"restored {shown(str(input))} → {shown(str(done.written))} with {done.model} "
                        f"({done.engine}) in {done.seconds:.1f} s", markup=False)


def run_folder_job(options, make_work, *, ray: str | None, ray_actors: int | None, quiet: bool, verb: str,
                   action: str) -> int:
    """A folder job from the options a command parsed: run it (here, or on Ray), show it, return its exit code."""
    from ganrt.cli.archive_view import archive_progress, show_outcome
    from ganrt.pipelines.archive.job import ArchiveJob

    cluster = None
    if ray is not None:
        from ganrt.pipelines.ray.archive import on_ray

        cluster = on_ray(ray, ray_actors)
    outcome = ArchiveJob(options, make_work, progress=archive_progress(f"{action.removesuffix('e')}ing", quiet),
                         cluster=cluster).run()
    show_outcome(outcome, quiet=quiet, verb=verb, action=action, on_ray=ray is not None)
    return outcome.exit_code


def folder_locations(input: str, output: str, *, preview: Path | None,
                     mask_dir: Path | None = None) -> tuple[Path | str, Path | str]:
    """INPUT and OUTPUT as local paths or fsspec URLs, refusing what a job on URLs cannot do (the rest
    works as on local folders)."""
    from ganrt.errors import UsageError
    from ganrt.pipelines.archive.urls import location

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
    from ganrt.errors import UsageError
    from ganrt.pipelines.imageio.formats import FORMAT_CHOICES
    from ganrt.validate import check_choice, check_positive, check_threads, existing_path

    if not isinstance(input, str):  # a URL is checked when it is listed
        existing_path(input, "input")
    check_choice(fmt, FORMAT_CHOICES, "--format")
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
