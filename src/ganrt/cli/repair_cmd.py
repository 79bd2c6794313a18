"""`ganrt repair INPUT OUTPUT`: find scratches, dust and tears (or read the user's masks) and fill them.

Runs on the archive pipeline of `ganrt restore` (mirrored folders, job state
and resume, reports, previews, faithful formats and metadata); only the
stages differ (``ganrt.pipelines.repair``). ``--inpaint`` picks the filler:
``telea`` (default) or ``ns`` (OpenCV, offline), an inpainting model file
(LaMa and kin, through spandrel and the engines), or a ``ganrt train
gan|dcgan`` run folder (semantic inpainting with its generator and
discriminator). ``--then MODEL`` upscales the repaired photo in the same pass.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import (BackendOpt, DeviceOpt, OutscaleOpt, OverwriteOpt, PrecisionOpt, QuietOpt, RayActorsOpt,
                              RayOpt, ReportOpt, ThreadsOpt, TileOpt, console, flag, handle_errors, setup_logging,
                              shown)


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
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output format: same, png, jpg, webp, tiff, jp2 (JPEG 2000, lossless), avif or heic.")] = "same",
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
    from ganrt.cli.common import existing_path
    from ganrt.cli.restore_cmd import check_archive_options, check_ray_options, folder_locations
    from ganrt.errors import UsageError

    input, output = folder_locations(input, output, preview=preview, mask_dir=mask_dir)
    check_archive_options(input, fmt=fmt, outscale=outscale, threads=threads, quality=quality, jobs=jobs,
                          max_pixels=max_pixels, suffix=suffix)
    check_ray_options(input, ray, ray_actors)
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
    tools = _Tools(inpaint, then, face_model, backend=backend, device=device, precision=precision, tile=tile, threads=threads)
    from ganrt.pipelines.damage import DetectorSettings
    from ganrt.pipelines.restore import RestoreSettings

    restore = RestoreSettings(tile=tools.tile, outscale=outscale if outscale is not None else tools.default_outscale,
                              fmt=fmt, quality=quality, max_pixels=max_pixels)
    base = dict(restore=restore, mask_dir=mask_dir.resolve() if mask_dir else None,
                detector=DetectorSettings(sensitivity=sensitivity), save_masks=save_masks)
    fingerprint_of = {"command": "repair", "inpaint": tools.inpaint_id, "then": tools.then_id, "faces": tools.face_id,
                      "masks": str(mask_dir.resolve()) if mask_dir else f"detected@{sensitivity:g}",
                      "outscale": restore.outscale, "format": fmt, "suffix": suffix, "quality": quality,
                      "precision": precision}
    if isinstance(input, str) or input.is_dir():
        code = _repair_folder(input, output, tools, base, fingerprint_of, suffix=suffix, overwrite=overwrite,
                              resume=not no_resume, jobs=jobs, report=report, preview=preview, dry_run=dry_run,
                              quiet=quiet, ray=ray, ray_actors=ray_actors)
        raise typer.Exit(code)
    if dry_run or report or preview:
        raise UsageError("--dry-run, --report and --preview apply to folder inputs")
    _repair_one(input, output, tools, base, suffix=suffix, fmt=fmt, overwrite=overwrite, quiet=quiet)


@dataclass(frozen=True)
class RepairRecipe:
    """The filler and upscaler as picklable data: calling it (in a Ray actor) opens them."""

    inpaint: str
    inpaint_engine: object | None  # ganrt.cli.engine_setup.EngineRecipe
    semantic_run: str | None
    upscale_engine: object | None
    face_engine: object | None

    def __call__(self):
        from ganrt.pipelines.inpaint import OPENCV_METHODS, EngineFiller, OpenCVFiller

        if self.inpaint in OPENCV_METHODS:
            filler = OpenCVFiller(self.inpaint)
        elif self.semantic_run is not None:
            from ganrt.pipelines.semantic_inpaint import SemanticFiller, load_gan_run

            filler = SemanticFiller(load_gan_run(Path(self.semantic_run)))
        else:
            filler = EngineFiller(self.inpaint_engine())
        faces = None
        if self.face_engine is not None:
            from ganrt.pipelines.faces import FaceRestorer

            faces = FaceRestorer(self.face_engine())
        return filler, (self.upscale_engine() if self.upscale_engine is not None else None), faces


class _Tools:
    """The filler and the optional upscaler, resolved from the options (engines opened on demand)."""

    def __init__(self, inpaint: str, then: str | None, face_model: str | None = None, **engine_options):
        from ganrt.cli.engine_setup import choose_engine
        from ganrt.pipelines.inpaint import OPENCV_METHODS

        self.inpaint, self.then, self.face_model, self.options = inpaint, then, face_model, engine_options
        self.inpaint_choice = self.upscale_choice = self.face_choice = None
        self.face_id = None
        self.semantic_run: Path | None = None
        self.tile = None
        self.default_outscale = None
        if inpaint in OPENCV_METHODS:
            self.inpaint_id = inpaint
        elif Path(inpaint).expanduser().is_dir():
            self.semantic_run = Path(inpaint).expanduser()
            from ganrt.pipelines.semantic_inpaint import load_gan_run

            self.pair = load_gan_run(self.semantic_run)  # checks the run now, before any photo is read
            self.inpaint_id = f"semantic:{self.semantic_run.resolve()}"
        else:
            self.inpaint_choice = choose_engine(inpaint, kinds=("inpainting",), command="ganrt repair --inpaint",
                                                **engine_options)
            self.inpaint_id = f"{self.inpaint_choice.model.name}:{self.inpaint_choice.model.checksum}"
        if face_model is not None:
            self.face_choice = choose_engine(face_model, kinds=("face-restoration",),
                                             command="ganrt repair --face-model", **engine_options)
            self.face_id = f"{self.face_choice.model.name}:{self.face_choice.model.checksum}"
        if then is not None:
            self.upscale_choice = choose_engine(then, command="ganrt repair --then", **engine_options)
            self.tile = self.upscale_choice.tile
            self.default_outscale = self.upscale_choice.model.default_outscale
            self.then_id = f"{self.upscale_choice.model.name}:{self.upscale_choice.model.checksum}"
        else:
            from ganrt.runtime.memory import TilePolicy

            self.tile, self.then_id = TilePolicy(0), None

    def describe(self) -> str:
        text = self.filler_name
        if self.face_choice is not None:
            text += f", faces by {self.face_choice.model.name} ({self.face_choice.describe()})"
        if self.upscale_choice is not None:
            text += f", then {self.upscale_choice.model.name} ({self.upscale_choice.describe()})"
        return text

    @property
    def filler_name(self) -> str:
        from ganrt.pipelines.inpaint import OPENCV_METHODS

        if self.inpaint in OPENCV_METHODS:
            return OPENCV_METHODS[self.inpaint]
        if self.semantic_run is not None:
            return f"semantic inpainting with {self.semantic_run.name}"
        return f"{self.inpaint_choice.model.name} ({self.inpaint_choice.describe()})"

    @property
    def device(self) -> str:
        """Where the engines run (one actor per GPU under --ray when it is CUDA)."""
        for choice in (self.inpaint_choice, self.upscale_choice, self.face_choice):
            if choice is not None and choice.device.startswith("cuda"):
                return choice.device
        return "cpu"

    def recipe(self, threads: int | None) -> RepairRecipe:
        def engine(choice, spec, kinds, command):
            return choice.recipe(spec, threads=threads, kinds=kinds, command=command) if choice else None

        return RepairRecipe(self.inpaint, engine(self.inpaint_choice, self.inpaint, ("inpainting",),
                                                 "ganrt repair --inpaint"),
                            str(self.semantic_run.resolve()) if self.semantic_run else None,
                            engine(self.upscale_choice, self.then, ("super-resolution",), "ganrt repair --then"),
                            engine(self.face_choice, self.face_model, ("face-restoration",),
                                   "ganrt repair --face-model"))

    @contextlib.contextmanager
    def opened(self):
        with contextlib.ExitStack() as stack:
            yield self.open(stack)

    def open(self, stack):
        """(filler, upscaler or None, face restorer or None), their engines entered on ``stack`` (an ExitStack)."""
        from ganrt.pipelines.inpaint import OPENCV_METHODS, EngineFiller, OpenCVFiller

        if self.inpaint in OPENCV_METHODS:
            filler = OpenCVFiller(self.inpaint)
        elif self.semantic_run is not None:
            from ganrt.pipelines.semantic_inpaint import SemanticFiller

            filler = SemanticFiller(self.pair)
        else:
            filler = EngineFiller(stack.enter_context(self.inpaint_choice.open()))
        upscaler = stack.enter_context(self.upscale_choice.open()) if self.upscale_choice is not None else None
        faces = None
        if self.face_choice is not None:
            from ganrt.pipelines.faces import FaceRestorer

            faces = FaceRestorer(stack.enter_context(self.face_choice.open()))
        return filler, upscaler, faces


def _repair_one(src: Path, output: Path, tools: _Tools, base: dict, *, suffix, fmt, overwrite, quiet) -> None:
    import time

    from ganrt.errors import ImageReadError, UsageError
    from ganrt.fsutil import remove_stale_temps
    from ganrt.pipelines.output_plan import OutputPlan, single_output
    from ganrt.pipelines.repair import RepairSettings, is_mask, mask_path_for, read_stage, repair_one

    if not src.is_file():
        raise UsageError(f"input {src} is not a regular file")
    dst, _notes = single_output(src, output, fmt=fmt, suffix=suffix)
    plan = OutputPlan(inputs=(src,), overwrite=overwrite)
    plan.claim(dst, str(src))
    if base["save_masks"]:
        plan.claim(mask_path_for(dst), "--save-masks", ours=is_mask)
    settings = RepairSettings(filler=None, input_root=src.parent, **base)
    try:  # read first: a bad input (or mask) fails before any model is loaded
        prepared = read_stage(src, settings)
    except ImageReadError as exc:
        raise ImageReadError(f"{src}: {exc}") from None
    if dst.parent.is_dir():
        remove_stale_temps(dst.parent)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        filler, upscaler, faces = tools.open(stack)
        from dataclasses import replace

        written = repair_one(prepared, dst, replace(settings, filler=filler, faces=faces), upscaler)
    if not quiet:
        damaged = 100.0 * (prepared.mask > 0).mean()
        console().print(f"repaired {shown(str(src))} → {shown(str(written))}: {damaged:.2f} % of the pixels "
                        f"{prepared.mask_source} as damage, filled with {tools.describe()} in "
                        f"{time.perf_counter() - start:.1f} s", markup=False)


def _repair_folder(src: Path | str, dst: Path | str, tools: _Tools, base: dict, fingerprint_of: dict, *, suffix, overwrite,
                   resume, jobs, report, preview, dry_run, quiet, ray, ray_actors) -> int:
    import logging

    from ganrt.cli.progress import RateBar, rates
    from ganrt.cli.restore_cmd import _dry_run, _print_summary, discover_folder
    from ganrt.errors import UsageError
    from ganrt.fsutil import remove_stale_temps
    from ganrt.pipelines import report_file
    from ganrt.pipelines.archive import ArchiveResult, plan
    from ganrt.pipelines.jobstate import settings_fingerprint
    from ganrt.pipelines.output_plan import claim_side_files
    from ganrt.pipelines.repair import RepairSettings, is_mask, mask_path_for, repair_runner

    fmt = base["restore"].fmt
    discovery, open_state = discover_folder(src, dst, fmt, suffix, overwrite)
    if not discovery.tasks and not discovery.failed:
        raise UsageError(f"no images found in {src} ({len(discovery.ignored)} other file(s) ignored)")
    fingerprint = settings_fingerprint(fingerprint_of)
    # the photos' names under the folder as discovery resolved it, so a relative INPUT finds its masks
    settings = RepairSettings(filler=None, input_root=discovery.src_root if isinstance(src, Path) else None, **base)
    result = ArchiveResult()

    def plan_all(state):
        todo, outputs = plan(discovery, state, fingerprint, resume=resume, overwrite=overwrite, result=result)
        claim_side_files(outputs, report=report, preview=preview)
        if base["save_masks"]:
            kept = []
            for task in todo:
                problem = outputs.conflict(mask_path_for(task.dst), f"the mask of {task.rel}", ours=is_mask)
                if problem:
                    result.failed.append((task.rel, problem))
                else:
                    kept.append(task)
            todo = kept
        return todo

    if dry_run:
        with open_state(readonly=True) as state:
            todo = plan_all(state)
        return _dry_run(discovery, todo, result, quiet)
    with open_state() as state:
        remove_stale_temps(discovery.dst_root, recursive=True)
        todo = plan_all(state)
        if result.stale and not quiet:
            logging.getLogger("ganrt").warning(
                "%d output(s) of an earlier run with other settings stay beside the new ones (not deleted)",
                result.stale)
        runner = None
        if todo:
            from functools import partial

            from ganrt.cli.restore_cmd import run_archive

            with RateBar("repairing", len(todo), quiet) as bar:
                def on_progress(res, done):
                    bar.update(done, rates=rates(res.images_per_s, res.megapixels_per_s))

                runner = run_archive(todo, result, open_local=tools.opened, recipe_for=tools.recipe,
                                     device=tools.device, make_runner=partial(repair_runner, settings=settings),
                                     state=state, fingerprint=fingerprint, jobs=jobs, ray=ray, ray_actors=ray_actors,
                                     on_progress=on_progress)
    if report:
        details = {**fingerprint_of, "filler": tools.filler_name}
        if runner is not None:  # what this run found and filled
            details.update(masks=runner.masks, damaged_megapixels=round(runner.damaged_pixels / 1e6, 4))
        report_file.write(report, result.report(details))
    if preview and result.written and runner is not None:
        from ganrt.pipelines.preview import repair_sheet

        repair_sheet(result.written, runner.preview_masks, preview)
    _print_summary(result, f"repair: {tools.describe()}" + (" (Ray)" if ray else ""), quiet, verb="repaired")
    if result.interrupted:
        return result.signal_code
    return 1 if result.failed else 0

