"""``ganrt restore`` as jobs: one image file (``restore_file``), or a folder on the archive job (``RestoreWork``).

Both read first and resolve the engine after, so a bad input or folder is refused before any model loads.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager

from ganrt.kinds import SUPER_RESOLUTION
from ganrt.pipelines.archive.runner import ArchiveRunner
from ganrt.pipelines.restore import RestoreSettings

if TYPE_CHECKING:
    from ganrt.runtime.engine_choice import EngineChoice

log = logging.getLogger("ganrt")


class RestoreWork:
    """The restore stages over one engine, for ``ArchiveJob`` (see ``ganrt.pipelines.archive.job.Work``)."""

    def __init__(self, choice: EngineChoice, spec: str, *, outscale: float | None, fmt: str, suffix: str,
                 quality: int, max_pixels: int):
        self.choice, self.spec = choice, spec
        outscale = outscale if outscale is not None else choice.model.default_outscale
        self.settings = RestoreSettings(tile=choice.tile, outscale=outscale, fmt=fmt, quality=quality,
                                        max_pixels=max_pixels)
        engine = choice.identity()
        self._fingerprint = {"model": engine["model"], "weights_sha256": engine["weights_sha256"],
                             "precision": engine["precision"], "outscale": outscale, "format": fmt, "suffix": suffix,
                             "quality": quality, "tile": engine["tile"]}
        self.device = choice.device
        self.make_runner = partial(ArchiveRunner, settings=self.settings)  # picklable: Ray's workers build it too

    def prepare(self, discovery) -> None:
        pass  # an image is all a restore reads

    def fingerprint(self) -> dict:
        return self._fingerprint

    def describe(self) -> str:
        return f"{self.choice.model.name} on {self.choice.describe()}"

    def open_local(self):
        return self.choice.open()

    def recipe_for(self, threads: int | None):
        return self.choice.recipe(self.spec, threads=threads, kinds=(SUPER_RESOLUTION,), command="ganrt restore")

    def claim_outputs(self, plan, todo: list, result) -> list:
        return todo

    def report_details(self, runner) -> dict:
        return {"backend": self.choice.backend, "device": self.choice.device}

    def write_preview(self, result, runner, path: Path) -> None:
        from ganrt.pipelines.archive.preview import contact_sheet

        contact_sheet(result.written, path)


@dataclass
class FileOutcome:
    written: Path
    seconds: float
    engine: str  # the engine that ran, described
    model: str


def _no_bar(total: int) -> ContextManager[Callable[[int], None]]:
    return contextlib.nullcontext(lambda count=1: None)


def restore_file(src: Path, output: Path, choose: Callable[[], EngineChoice], *, outscale: float | None,
                 fmt: str, suffix: str, quality: int, max_pixels: int, overwrite: bool,
                 progress: Callable[[int], ContextManager[Callable[[int], None]]] = _no_bar) -> FileOutcome:
    """Restore the one image ``src`` into ``output`` (a file, or a folder). ``choose()`` resolves the engine once
    the image has been read; ``progress(tiles)`` gives the callback told of each finished tile."""
    from ganrt.errors import ImageReadError, UsageError
    from ganrt.fsutil import remove_stale_temps
    from ganrt.pipelines.archive.plan import OutputPlan, single_output
    from ganrt.pipelines.restore import read_stage, restore_prepared
    from ganrt.runtime.tiling import tile_count

    if not src.is_file():
        raise UsageError(f"input {src} is not a regular file")
    dst, notes = single_output(src, output, fmt=fmt, suffix=suffix)
    OutputPlan(inputs=(src,), overwrite=overwrite).claim(dst, str(src))
    try:  # read first: a bad input fails before any model is loaded
        prepared = read_stage(src, RestoreSettings(max_pixels=max_pixels), into=dst)
    except ImageReadError as exc:
        raise ImageReadError(f"{src}: {exc}") from None
    choice = choose()
    outscale = outscale if outscale is not None else choice.model.default_outscale
    settings = RestoreSettings(tile=choice.tile, outscale=outscale, quality=quality, max_pixels=max_pixels)
    for text in notes:
        log.warning("%s: %s", src.name, text)
    if dst.parent.is_dir():
        remove_stale_temps(dst.parent)  # what a killed restore into this folder left
    start = time.perf_counter()
    with choice.open() as engine:
        tiles = 0
        for page in prepared.every_page:  # a multi-page TIFF's pages all go into its TIFF output
            h, w = page.rgb.shape[:2]
            tile = settings.tile.for_engine(engine, h, w, engine.spec.out_channels, settings.pad)
            tiles += tile_count(h, w, tile, settings.pad)
        with progress(tiles) as advance:
            written = restore_prepared(engine, prepared, dst, settings, on_tiles=advance)
        return FileOutcome(written, time.perf_counter() - start, engine.describe(), choice.model.name)
