"""One image through the stages: read → prepare → infer → finish → write.

The stages are separate functions so that the folder pipeline can run them
in different threads; ``restore_prepared`` chains the last three for a single
image. None of them knows which backend the engine is, and none of them
decides where an output goes: that was planned before (``output_plan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrt.errors import ImageWriteError, ResourceError
from ganrt.pipelines.imageio import density, sidecar
from ganrt.pipelines.imageio.decoded import DecodedImage
from ganrt.pipelines.imageio.formats import DEFAULT_MAX_PIXELS, check_size, holds_16bit, holds_alpha, holds_pages
from ganrt.pipelines.imageio.read import read_image
from ganrt.pipelines.imageio.write import write_image
from ganrt.pipelines.image_ops import finish, output_size, to_model_rgb
from ganrt.pipelines.notes import note
from ganrt.runtime.memory import TilePolicy
from ganrt.runtime.tiling import DEFAULT_PAD, upscale


@dataclass(frozen=True)
class RestoreSettings:
    tile: TilePolicy = TilePolicy(0)  # fixed size (0 = whole image) or auto from a memory budget
    pad: int = DEFAULT_PAD
    batch: int = 4
    outscale: float | None = None  # None: the model's own scale
    fmt: str = "same"  # same|png|jpg|webp|tiff
    quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class Prepared:
    src: Path
    decoded: DecodedImage
    rgb: np.ndarray  # H×W×3 input for the model
    mtime_ns: int | None = None  # the source file's modification time, which its output is dated with
    notes: tuple[str, ...] = ()  # what reading it lost (pages past the first, deep samples): for the report
    pages: tuple[Prepared, ...] = ()  # a multi-page TIFF's later pages, restored after the first, into one TIFF

    @property
    def every_page(self) -> tuple[Prepared, ...]:
        return (self, *self.pages)

    @property
    def megapixels(self) -> float:
        return sum(page.decoded.height * page.decoded.width for page in self.every_page) / 1e6


@dataclass
class Finished:
    pixels: np.ndarray
    alpha: np.ndarray | None


def source_time(src: Path) -> int | None:
    """The modification time of the file read (outputs are dated as their originals, as ``cp -p`` does)."""
    try:
        return src.stat().st_mtime_ns
    except OSError:
        return None


def read_stage(src: Path, settings: RestoreSettings, into: Path | str | None = None) -> Prepared:
    """Read ``src`` for the output ``into``: every page of a multi-page TIFF where that output holds them."""
    decoded = read_image(src, settings.max_pixels, sidecar_xmp=sidecar.read(src),
                                  every_page=into is not None and holds_pages(Path(into).suffix))
    pages = tuple(Prepared(src, page, to_model_rgb(page.pixels, page.alpha)) for page in decoded.pages)
    return Prepared(src, decoded, to_model_rgb(decoded.pixels, decoded.alpha), source_time(src), pages=pages)


def check_memory_for_output(h: int, w: int, scale: int, channels: int, itemsize: int) -> None:
    """Refuse, with the reason, an image whose restored pixels alone would not fit in free memory."""
    import psutil

    need = h * scale * w * scale * channels * itemsize
    free = psutil.virtual_memory().available
    if need > 0.8 * free:
        raise ResourceError(f"the restored image ({w * scale}x{h * scale}) needs {need / 2**30:.1f} GB for its "
                            f"pixels alone, more than the {free / 2**30:.1f} GB free here; lower --max-pixels "
                            "to skip such images, or restore it on a larger machine")


def check_output_size(dst: Path, prepared: Prepared, settings: RestoreSettings, scale: int) -> None:
    """Refuse, before inference, an output its format cannot hold (a 4,100 px wide scan ×4 is beyond WebP)."""
    for page in prepared.every_page:
        d = page.decoded
        check_size(dst.suffix, *output_size(d.width, d.height, scale, settings.outscale))


def infer_pages(engine, prepared: Prepared, settings: RestoreSettings, on_tiles=None) -> tuple[np.ndarray, ...]:
    """The infer stage of every page of the image, first to last."""
    return tuple(infer_stage(engine, page, settings, on_tiles=on_tiles) for page in prepared.every_page)


def infer_stage(engine, prepared: Prepared, settings: RestoreSettings, on_tiles=None) -> np.ndarray:
    """One page through the engine (held pages count against the memory free for the next)."""
    h, w = prepared.rgb.shape[:2]
    channels = engine.spec.out_channels
    check_memory_for_output(h, w, engine.scale, channels, prepared.rgb.itemsize)
    tile = settings.tile.for_engine(engine, h, w, channels, settings.pad)
    batch = settings.tile.batch_for(tile, h, w, engine.scale, channels, settings.pad, most=settings.batch)
    return upscale(engine, prepared.rgb, tile=tile, pad=settings.pad, batch=batch, on_tiles=on_tiles)


def finish_stage(restored: np.ndarray, prepared: Prepared, settings: RestoreSettings, scale: int) -> Finished:
    d = prepared.decoded
    size = output_size(d.width, d.height, scale, settings.outscale)
    pixels, alpha = finish(restored, gray=d.gray, alpha=d.alpha, size=size)
    return Finished(pixels, alpha)


def check_output(dst: Path, finished: Finished, subject: str) -> None:
    """Whether ``dst`` (planned before any work) can hold the finished image; what it loses is noted
    (``notes``) under ``subject``.

    The plan already moved images with alpha to PNG; an alpha channel its header did not declare
    fails the image rather than write somewhere the plan did not check."""
    suffix = dst.suffix.lower()
    if finished.alpha is not None and not holds_alpha(suffix):
        raise ImageWriteError(f"the image has an alpha channel its header did not declare; {suffix} cannot "
                              "hold it (use --format png)")
    if finished.pixels.dtype == np.uint16 and not holds_16bit(suffix):
        note(subject, f"{suffix} cannot hold 16-bit samples; writing 8-bit")


def _scaled_dpi(finished: Finished, prepared: Prepared) -> tuple[float, float] | None:
    d = prepared.decoded
    h, w = finished.pixels.shape[:2]
    return density.scaled(d.dpi, (d.width, d.height), (w, h))


def write_stage(dst: Path, finished: Finished, prepared: Prepared, settings: RestoreSettings,
                pages: tuple[Finished, ...] = ()) -> Path:
    """Write the finished pixels with the source's metadata and modification time; its pixel density scaled
    with its size, so that a 300 dpi scan upscaled 4× is written at 1200 dpi and keeps its print size.
    ``pages``: the finished later pages (of ``prepared.pages``), each with its own profile and density."""
    d = prepared.decoded
    later = tuple(DecodedImage(page.pixels, page.alpha, icc=source.decoded.icc,
                                        dpi=_scaled_dpi(page, source))
                  for page, source in zip(pages, prepared.pages, strict=True))
    return write_image(dst, finished.pixels, finished.alpha, exif=d.exif, icc=d.icc, xmp=d.xmp,
                                iptc=d.iptc, dpi=_scaled_dpi(finished, prepared), text=d.text,
                                quality=settings.quality, consume=True, mtime_ns=prepared.mtime_ns, pages=later)


def finish_and_write(dst: Path, restored: tuple[np.ndarray, ...], prepared: Prepared, settings: RestoreSettings,
                     scale: int, subject: str) -> Path:
    """Finish every page (``infer_pages``'s result), check what ``dst`` can hold, and write them."""
    finished = [finish_stage(pixels, page, settings, scale)
                for pixels, page in zip(restored, prepared.every_page, strict=True)]
    for page in finished:
        check_output(dst, page, subject)
    return write_stage(dst, finished[0], prepared, settings, pages=tuple(finished[1:]))


def restore_prepared(engine, prepared: Prepared, dst: Path, settings: RestoreSettings,
                     on_tiles=None) -> Path:
    """Infer, finish and write an image already read (every page of it) to ``dst`` (its final, planned path)."""
    check_output_size(dst, prepared, settings, engine.scale)
    restored = infer_pages(engine, prepared, settings, on_tiles=on_tiles)
    return finish_and_write(dst, restored, prepared, settings, engine.scale, prepared.src.name)
