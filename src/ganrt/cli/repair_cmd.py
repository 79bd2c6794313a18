"""`ganrt repair INPUT OUTPUT`: find scratches, dust and tears (or read the user's masks) and fill them.

Runs on the archive pipeline of `ganrt restore` (mirrored folders, job state
and resume, reports, previews, faithful formats and metadata); only the
stages differ (``ganrt.pipelines.repair.stages``). ``--inpaint`` picks the filler:
``telea`` (default) or ``ns`` (OpenCV, offline), an inpainting model file
(LaMa and kin, through spandrel and the engines), or a ``ganrt train
gan|dcgan`` run folder (semantic inpainting with its generator and
discriminator). ``--then MODEL`` upscales the repaired photo in the same pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import (BackendOpt, DeviceOpt, FormatOpt, OutscaleOpt, OverwriteOpt, PrecisionOpt, QuietOpt,
                              RayActorsOpt, RayOpt, ReportOpt, ThreadsOpt, TileOpt, console, flag, handle_errors,
                              setup_logging, shown)


@handle_errors
def repair(
    input: Annotated[str, typer.Argument(help="A photo, or a folder of photos (walked recursively); a folder may be an fsspec URL (s3://bucket/scans).")],
    output: Annotated[str, typer.Argument(help="Output file or folder (for one photo), or output folder (for a folder; may be an fsspec URL).")],
    inpaint: Annotated[str, typer.Option("--inpaint", help="telea or ns (OpenCV), an inpainting model file (LaMa…), or a `ganrt train gan|dcgan` run folder (semantic inpainting).")] = "telea",
    mask_dir: Annotated[Path | None, typer.Option("--mask-dir", help="Use these masks (same relative names, .png allowed; white = damaged) instead of detecting damage.")] = None,
    save_masks: Annotated[bool, flag("--save-masks", help="Write the mask used beside each output (photo.mask.png).")] = False,
    sensitivity: Annotated[float, typer.Option("--sensitivity", help="Damage detection: above 1 finds fainter damage (and more false alarms).")] = 1.0,
    then: Annotated[str | None, typer.Option("--then", help="Upscale the repaired photo with this restore model in the same pass.")] = None,
    face_model: Annotated[str | None, typer.Option("--face-model", help="Restore the faces found in each photo with this GFPGAN, RestoreFormer or CodeFormer file (needs ganrt[faces]).")] = None,
    backend: BackendOpt = "auto",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: TileOpt = "auto",
    outscale: OutscaleOpt = None,
    threads: ThreadsOpt = None,
    fmt: FormatOpt = "same",
    suffix: Annotated[str, typer.Option("--suffix", help="Add this to every output file name.")] = "",
    quality: Annotated[int, typer.Option("--quality", help="JPEG/WebP quality (1-100).")] = 95,
    overwrite: OverwriteOpt = False,
    no_resume: Annotated[bool, flag("--no-resume", help="Redo every photo, ignoring what earlier runs finished.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Reader and writer threads (detection runs in the readers).")] = 2,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Refuse images whose header declares more pixels.")] = 200_000_000,
    report: ReportOpt = None,
    preview: Annotated[Path | None, typer.Option("--preview", help="Write a contact sheet (damaged | mask | repaired) as PNG.")] = None,
    dry_run: Annotated[bool, flag("--dry-run", help="Show what would be done; write nothing.")] = False,
    ray: RayOpt = None,
    ray_actors: RayActorsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Repair scratches, dust and tears in a photo or a folder of photos (resumable), optionally upscaling."""
    setup_logging(quiet)
    from ganrt.cli.restore_cmd import check_archive_options, check_ray_options, folder_locations
    from ganrt.errors import UsageError

    input, output = folder_locations(input, output, preview=preview, mask_dir=mask_dir)
    check_archive_options(input, fmt=fmt, outscale=outscale, threads=threads, quality=quality, jobs=jobs,
                          max_pixels=max_pixels, suffix=suffix)
    check_ray_options(input, ray, ray_actors)
    _check_repair_options(input, sensitivity=sensitivity, outscale=outscale, then=then, mask_dir=mask_dir)
    from functools import partial

    from ganrt.pipelines.repair.job import RepairTools, RepairWork
    from ganrt.runtime.engine_choice import choose_engine

    settings_for = partial(_settings, outscale=outscale, fmt=fmt, quality=quality, max_pixels=max_pixels,
                           mask_dir=mask_dir, sensitivity=sensitivity, save_masks=save_masks)

    def make_tools() -> RepairTools:
        return RepairTools(inpaint, then, face_model, partial(choose_engine, backend=backend, device=device,
                                                              precision=precision, tile=tile, threads=threads))

    if isinstance(input, str) or input.is_dir():
        from ganrt.cli.restore_cmd import run_folder_job
        from ganrt.pipelines.archive.job import FolderOptions

        def work(discovery) -> RepairWork:
            tools = make_tools()
            settings = settings_for(tools)
            fingerprint = {"command": "repair", **tools.identity(),
                           "masks": str(mask_dir.resolve()) if mask_dir else f"detected@{sensitivity:g}",
                           "outscale": settings.restore.outscale, "format": fmt, "suffix": suffix, "quality": quality}
            return RepairWork(tools, settings, fingerprint)

        options = FolderOptions(input, output, "repair", fmt=fmt, suffix=suffix, overwrite=overwrite,
                                resume=not no_resume, jobs=jobs, report=report, preview=preview, dry_run=dry_run)
        raise typer.Exit(run_folder_job(options, work, ray=ray, ray_actors=ray_actors, quiet=quiet, verb="repaired",
                                        action="repair"))
    if dry_run or report or preview:
        raise UsageError("--dry-run, --report and --preview apply to folder inputs")
    from ganrt.pipelines.repair.job import repair_file

    tools = make_tools()
    done = repair_file(input, output, tools, settings_for(tools), fmt=fmt, suffix=suffix, overwrite=overwrite)
    if not quiet:
        console().print(f"repaired {shown(str(input))} → {shown(str(done.written))}: {100 * done.damaged_share:.2f} % "
                        f"of the pixels {done.mask_source} as damage, filled with {tools.describe()} in "
                        f"{done.seconds:.1f} s", markup=False)


def _check_repair_options(input: Path | str, *, sensitivity: float, outscale: float | None, then: str | None,
                          mask_dir: Path | None) -> None:
    from ganrt.errors import UsageError
    from ganrt.validate import existing_path

    if not 0.1 <= sensitivity <= 10:
        raise UsageError("--sensitivity must be between 0.1 and 10")
    if outscale is not None and then is None:
        raise UsageError("--outscale needs --then MODEL (repair alone keeps the photo's size)")
    if mask_dir is not None:
        existing_path(mask_dir, "--mask-dir")
        if not mask_dir.is_dir():
            raise UsageError(f"--mask-dir {mask_dir} is not a folder")
        if isinstance(input, Path) and input.is_dir() and mask_dir.resolve().is_relative_to(input.resolve()):
            raise UsageError("--mask-dir must not be inside INPUT (its masks would be repaired as photos)")


def _settings(tools, *, outscale: float | None, fmt: str, quality: int, max_pixels: int, mask_dir: Path | None,
              sensitivity: float, save_masks: bool):
    """The repair stages' settings, given the tools (the upscaler's tiles and default scale)."""
    from ganrt.pipelines.repair.damage import DetectorSettings
    from ganrt.pipelines.repair.stages import RepairSettings
    from ganrt.pipelines.restore import RestoreSettings

    restore = RestoreSettings(tile=tools.tile, outscale=outscale if outscale is not None else tools.default_outscale,
                              fmt=fmt, quality=quality, max_pixels=max_pixels)
    return RepairSettings(filler=None, restore=restore, mask_dir=mask_dir.resolve() if mask_dir else None,
                          detector=DetectorSettings(sensitivity=sensitivity), save_masks=save_masks)
