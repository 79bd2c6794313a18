"""One image through the stages: read → prepare → infer → finish → write.

The stages are separate functions so that the folder pipeline can run them
in different threads; ``restore_file`` chains them for a single image. None
of them knows which backend the engine is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrt.pipelines import image_io
from ganrt.pipelines.image_ops import finish, output_size, to_model_rgb
from ganrt.runtime.memory import TilePolicy
from ganrt.runtime.tiling import DEFAULT_PAD, upscale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreSettings:
    tile: TilePolicy = TilePolicy(0)  # fixed size (0 = whole image) or auto from a memory budget
    pad: int = DEFAULT_PAD
    batch: int = 4
    outscale: float | None = None  # None: the model's own scale
    fmt: str = "same"  # same|png|jpg|webp|tiff
    quality: int = 95
    max_pixels: int = image_io.DEFAULT_MAX_PIXELS


@dataclass
class Prepared:
    src: Path
    decoded: image_io.DecodedImage
    rgb: np.ndarray  # H×W×3 input for the model

    @property
    def megapixels(self) -> float:
        return self.decoded.height * self.decoded.width / 1e6


@dataclass
class Finished:
    pixels: np.ndarray
    alpha: np.ndarray | None


def read_stage(src: Path, settings: RestoreSettings) -> Prepared:
    decoded = image_io.read_image(src, settings.max_pixels)
    return Prepared(src, decoded, to_model_rgb(decoded.pixels, decoded.alpha))


def infer_stage(engine, prepared: Prepared, settings: RestoreSettings) -> np.ndarray:
    h, w = prepared.rgb.shape[:2]
    channels = engine.spec.out_channels
    tile = settings.tile.for_engine(engine, h, w, channels, settings.pad)
    batch = settings.tile.batch_for(tile, h, w, engine.scale, channels, settings.pad, most=settings.batch)
    return upscale(engine, prepared.rgb, tile=tile, pad=settings.pad, batch=batch)


def finish_stage(restored: np.ndarray, prepared: Prepared, settings: RestoreSettings, scale: int) -> Finished:
    d = prepared.decoded
    size = output_size(d.width, d.height, scale, settings.outscale)
    pixels, alpha = finish(restored, gray=d.gray, alpha=d.alpha, size=size)
    return Finished(pixels, alpha)


def resolve_output(dst: Path, *, has_alpha: bool, sixteen_bit: bool) -> tuple[Path, list[str]]:
    """Adjust the output path when its format cannot hold the image; say why."""
    notes = []
    suffix = dst.suffix.lower()
    if has_alpha and not image_io.holds_alpha(suffix):
        notes.append(f"{suffix} cannot hold the alpha channel; writing PNG instead")
        dst = dst.with_suffix(".png")
    elif sixteen_bit and not image_io.holds_16bit(suffix):
        notes.append(f"{suffix} cannot hold 16-bit samples; writing 8-bit")
    return dst, notes


def write_stage(dst: Path, finished: Finished, prepared: Prepared, settings: RestoreSettings) -> Path:
    d = prepared.decoded
    return image_io.write_image(dst, finished.pixels, finished.alpha, exif=d.exif, icc=d.icc,
                                quality=settings.quality, consume=True)


def restore_prepared(engine, prepared: Prepared, dst: Path, settings: RestoreSettings) -> tuple[Path, list[str]]:
    """Infer, finish and write an image already read. Returns the path written and notes."""
    restored = infer_stage(engine, prepared, settings)
    finished = finish_stage(restored, prepared, settings, engine.scale)
    dst, notes = resolve_output(dst, has_alpha=finished.alpha is not None,
                                sixteen_bit=finished.pixels.dtype == np.uint16)
    for note in notes:
        log.warning("%s: %s", prepared.src.name, note)
    return write_stage(dst, finished, prepared, settings), notes


def restore_file(engine, src: Path, dst: Path, settings: RestoreSettings) -> tuple[Path, list[str]]:
    """Restore one image file into ``dst`` (format from its suffix). Returns the path written and notes."""
    return restore_prepared(engine, read_stage(src, settings), dst, settings)
