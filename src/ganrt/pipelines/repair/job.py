"""``ganrt repair`` as jobs: one photo (``repair_file``), or a folder on the archive job (``RepairWork``).

What fills the holes is decided once, from ``--inpaint`` (``FillerSpec``): an OpenCV method, a ``ganrt train
gan|dcgan`` run (semantic inpainting), or an inpainting model run by an engine. ``RepairTools`` resolves it and
the optional face restorer and upscaler (``--face-model``, ``--then``) before any photo is read, and opens them
here or, as the picklable ``RepairRecipe``, in a cluster's workers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ganrt.kinds import FACE_RESTORATION, INPAINTING, SUPER_RESOLUTION
from ganrt.pipelines.repair.stages import RepairSettings, is_mask, mask_path_for, repair_runner

if TYPE_CHECKING:
    from ganrt.pipelines.repair.inpaint import Filler
    from ganrt.runtime.engine_choice import EngineChoice, EngineRecipe


@dataclass(frozen=True)
class FillerSpec:
    """``--inpaint`` resolved: ``kind`` is "opencv" (``value`` telea or ns), "semantic" (a gan/dcgan run folder,
    resolved) or "engine" (an inpainting model, opened by the tools' engine)."""

    kind: str
    value: str

    @classmethod
    def parse(cls, inpaint: str) -> FillerSpec:
        from ganrt.pipelines.repair.inpaint import OPENCV_METHODS

        if inpaint in OPENCV_METHODS:
            return cls("opencv", inpaint)
        if Path(inpaint).expanduser().is_dir():
            return cls("semantic", str(Path(inpaint).expanduser().resolve()))
        return cls("engine", inpaint)

    def open(self, engine=None, pair=None) -> Filler:
        """The filler: ``engine`` an opened inpainting engine (kind engine), ``pair`` a loaded run (semantic)."""
        if self.kind == "opencv":
            from ganrt.pipelines.repair.inpaint import OpenCVFiller

            return OpenCVFiller(self.value)
        if self.kind == "semantic":
            from ganrt.pipelines.repair.semantic import SemanticFiller, load_gan_run

            return SemanticFiller(pair if pair is not None else load_gan_run(Path(self.value)))
        from ganrt.pipelines.repair.inpaint import EngineFiller

        return EngineFiller(engine)


@dataclass(frozen=True)
class RepairRecipe:
    """The filler, upscaler and face restorer as picklable data: calling it (in a Ray actor) opens them."""

    filler: FillerSpec
    inpaint_engine: EngineRecipe | None
    upscale_engine: EngineRecipe | None
    face_engine: EngineRecipe | None

    def __call__(self):
        filler = self.filler.open(self.inpaint_engine() if self.inpaint_engine is not None else None)
        faces = None
        if self.face_engine is not None:
            from ganrt.pipelines.repair.faces import FaceRestorer

            faces = FaceRestorer(self.face_engine())
        return filler, (self.upscale_engine() if self.upscale_engine is not None else None), faces


class RepairTools:
    """The filler and the optional face restorer and upscaler, resolved from the options (engines opened on
    demand). ``choose(spec, kinds, command)`` resolves an engine with the command's shared engine options."""

    def __init__(self, inpaint: str, then: str | None, face_model: str | None,
                 choose: Callable[..., EngineChoice]):
        from ganrt.runtime.memory import TilePolicy

        self.filler = FillerSpec.parse(inpaint)
        self.specs = {"inpaint": inpaint, "then": then, "faces": face_model}
        self.inpaint_choice = self.upscale_choice = self.face_choice = None
        self.pair = None
        if self.filler.kind == "semantic":
            from ganrt.pipelines.repair.semantic import load_gan_run

            self.pair = load_gan_run(Path(self.filler.value))  # checks the run now, before any photo is read
        elif self.filler.kind == "engine":
            self.inpaint_choice = choose(inpaint, kinds=(INPAINTING,), command="ganrt repair --inpaint")
        if face_model is not None:
            self.face_choice = choose(face_model, kinds=(FACE_RESTORATION,), command="ganrt repair --face-model")
        if then is not None:
            self.upscale_choice = choose(then, kinds=(SUPER_RESOLUTION,), command="ganrt repair --then")
        self.tile = self.upscale_choice.tile if self.upscale_choice is not None else TilePolicy(0)
        self.default_outscale = self.upscale_choice.model.default_outscale if self.upscale_choice else None

    def identity(self) -> dict:
        """What of the tools changes a repaired photo: each engine's resolved identity (``EngineChoice``)."""
        inpaint = self.inpaint_choice.identity() if self.inpaint_choice is not None else \
            f"{self.filler.kind}:{self.filler.value}"
        return {"inpaint": inpaint, "then": self.upscale_choice.identity() if self.upscale_choice else None,
                "faces": self.face_choice.identity() if self.face_choice else None}

    @property
    def filler_name(self) -> str:
        from ganrt.pipelines.repair.inpaint import OPENCV_METHODS

        if self.filler.kind == "opencv":
            return OPENCV_METHODS[self.filler.value]
        if self.filler.kind == "semantic":
            return f"semantic inpainting with {Path(self.filler.value).name}"
        return f"{self.inpaint_choice.model.name} ({self.inpaint_choice.describe()})"

    def describe(self) -> str:
        text = self.filler_name
        if self.face_choice is not None:
            text += f", faces by {self.face_choice.model.name} ({self.face_choice.describe()})"
        if self.upscale_choice is not None:
            text += f", then {self.upscale_choice.model.name} ({self.upscale_choice.describe()})"
        return text

    @property
    def device(self) -> str:
        """Where the engines run (one actor per GPU under --ray when it is CUDA)."""
        for choice in (self.inpaint_choice, self.upscale_choice, self.face_choice):
            if choice is not None and choice.device.startswith("cuda"):
                return choice.device
        return "cpu"

    def recipe(self, threads: int | None) -> RepairRecipe:
        def engine(choice, key, kinds, flag):
            return choice.recipe(self.specs[key], threads=threads, kinds=kinds, command=f"ganrt repair {flag}") \
                if choice is not None else None

        return RepairRecipe(self.filler, engine(self.inpaint_choice, "inpaint", (INPAINTING,), "--inpaint"),
                            engine(self.upscale_choice, "then", (SUPER_RESOLUTION,), "--then"),
                            engine(self.face_choice, "faces", (FACE_RESTORATION,), "--face-model"))

    @contextlib.contextmanager
    def opened(self):
        """(filler, upscaler or None, face restorer or None), their engines open for the block."""
        with contextlib.ExitStack() as stack:
            def opened(choice):
                return stack.enter_context(choice.open()) if choice is not None else None

            filler = self.filler.open(opened(self.inpaint_choice), self.pair)
            upscaler = opened(self.upscale_choice)
            faces = None
            if self.face_choice is not None:
                from ganrt.pipelines.repair.faces import FaceRestorer

                faces = FaceRestorer(opened(self.face_choice))
            yield filler, upscaler, faces


class RepairWork:
    """The repair stages and tools, for ``ArchiveJob`` (see ``ganrt.pipelines.archive.job.Work``)."""

    def __init__(self, tools: RepairTools, settings: RepairSettings, fingerprint: dict):
        self.tools, self.settings, self._fingerprint = tools, settings, fingerprint
        self.device = tools.device
        self.make_runner = partial(repair_runner, settings=settings)  # picklable: Ray's workers build it too

    def prepare(self, discovery) -> None:
        """With --mask-dir, each photo's mask found (``masks.MaskFinder``) and folded into its version."""
        if self.settings.mask_dir is None:
            return
        from ganrt.errors import ImageReadError
        from ganrt.pipelines.repair.masks import MaskFinder, version_with

        finder, kept = MaskFinder(self.settings.mask_dir), []
        for task in discovery.tasks:
            try:
                mask = finder.find(task.src, Path(task.rel))
            except ImageReadError as exc:
                discovery.failed.append((task.rel, str(exc)))
                continue
            kept.append(replace(task, inputs=(mask,), mtime_ns=version_with(task.mtime_ns, mask)))
        discovery.tasks = kept

    def fingerprint(self) -> dict:
        return self._fingerprint

    def describe(self) -> str:
        return f"repair: {self.tools.describe()}"

    def open_local(self):
        return self.tools.opened()

    def recipe_for(self, threads: int | None) -> RepairRecipe:
        return self.tools.recipe(threads)

    def claim_outputs(self, plan, todo: list, result) -> list:
        """With --save-masks, each photo's mask beside its output: a photo whose mask cannot be written fails."""
        if not self.settings.save_masks:
            return todo
        kept = []
        for task in todo:
            problem = plan.conflict(mask_path_for(task.dst), f"the mask of {task.rel}", ours=is_mask)
            if problem:
                result.failed.append((task.rel, problem))
            else:
                kept.append(task)
        return kept

    def report_details(self, runner) -> dict:
        details = {"filler": self.tools.filler_name}
        if runner is not None:  # what this run found and filled
            details.update(masks=runner.masks, damaged_megapixels=round(runner.damaged_pixels / 1e6, 4))
        return details

    def write_preview(self, result, runner, path: Path) -> None:
        if runner is not None:
            from ganrt.pipelines.archive.preview import repair_sheet

            repair_sheet(result.written, runner.preview_masks, path)


@dataclass
class RepairedFile:
    written: Path
    seconds: float
    damaged_share: float  # of the photo's pixels
    mask_source: str  # "detected" or "user"


def repair_file(src: Path, output: Path, tools: RepairTools, settings: RepairSettings, *, fmt: str, suffix: str,
                overwrite: bool) -> RepairedFile:
    """Repair the one photo ``src`` into ``output`` (a file, or a folder)."""
    from ganrt.errors import ImageReadError, UsageError
    from ganrt.fsutil import remove_stale_temps
    from ganrt.pipelines.archive.plan import OutputPlan, single_output
    from ganrt.pipelines.repair.masks import MaskFinder
    from ganrt.pipelines.repair.stages import read_stage, repair_one

    if not src.is_file():
        raise UsageError(f"input {src} is not a regular file")
    dst, _notes = single_output(src, output, fmt=fmt, suffix=suffix)
    plan = OutputPlan(inputs=(src,), overwrite=overwrite)
    plan.claim(dst, str(src))
    if settings.save_masks:
        plan.claim(mask_path_for(dst), "--save-masks", ours=is_mask)
    try:  # read first: a bad input (or mask) fails before any model is loaded
        mask = MaskFinder(settings.mask_dir).find(src, Path(src.name)) if settings.mask_dir is not None else None
        prepared = read_stage(src, settings, mask)
    except ImageReadError as exc:
        raise ImageReadError(f"{src}: {exc}") from None
    if dst.parent.is_dir():
        remove_stale_temps(dst.parent)
    start = time.perf_counter()
    with tools.opened() as (filler, upscaler, faces):
        written = repair_one(prepared, dst, replace(settings, filler=filler, faces=faces), upscaler)
    return RepairedFile(written, time.perf_counter() - start, float((prepared.mask > 0).mean()),
                        prepared.mask_source)

