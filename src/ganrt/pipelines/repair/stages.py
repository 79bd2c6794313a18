"""Repair a scanned photo: find (or read) the damage mask → fill it → optionally restore faces and upscale.

The stages mirror ``ganrt.pipelines.restore`` so the archive runner drives
both: ``read`` decodes the photo and gets its mask (the user's, from
``--mask-dir``, or detected), ``infer`` fills the holes and runs the optional
face restorer and upscaler, ``write`` finishes and writes the photo (and the
mask, with ``--save-masks``). Without an upscaler the output has the input's
size and every pixel outside the mask is the input's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from typing import TYPE_CHECKING

from ganrt.errors import ImageReadError
from ganrt.pipelines.imageio import sidecar
from ganrt.pipelines.imageio.read import read_image
from ganrt.pipelines.archive.runner import ArchiveRunner
from ganrt.pipelines.repair import masks
from ganrt.pipelines.repair.damage import DetectorSettings, detect
from ganrt.pipelines.repair.masks import MASK_SUFFIX
from ganrt.pipelines import restore as restore_stages
from ganrt.pipelines.restore import Prepared, RestoreSettings, check_output, finish_stage

if TYPE_CHECKING:
    from ganrt.pipelines.repair.faces import FaceRestorer
    from ganrt.pipelines.repair.inpaint import Filler

MASK_MARK = "ganrt-mask"
PREVIEW_MASKS = 6


def small_mask(mask: np.ndarray, height: int = 320) -> np.ndarray:
    """A mask shrunk for a contact sheet (thin scratches stay visible: area-max, not nearest)."""
    import cv2

    h, w = mask.shape
    if h <= height:
        return mask.copy()
    k = int(np.ceil(h / height))
    grown = cv2.dilate(mask, np.ones((k, k), np.uint8))
    return cv2.resize(grown, (max(1, w * height // h), height), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class RepairSettings:
    filler: Filler | None  # None: the stages that need none (reading and detecting, writing)
    restore: RestoreSettings = RestoreSettings()  # format, quality, tiles of the upscaler
    mask_dir: Path | None = None
    detector: DetectorSettings = DetectorSettings()
    save_masks: bool = False
    faces: FaceRestorer | None = None


@dataclass
class RepairPrepared(Prepared):
    mask: np.ndarray = field(default=None)  # H×W uint8, 255 = damaged
    mask_source: str = "detected"


def mask_path_for(dst: Path) -> Path:
    """Where ``--save-masks`` writes the mask of the output ``dst`` (``photo.jpg`` → ``photo.mask.png``)."""
    return dst.with_name(dst.stem + MASK_SUFFIX)


def is_mask(path: Path) -> bool:
    """A mask an earlier ganrt repair wrote (replaced without --overwrite)."""
    from ganrt.pipelines.archive.plan import carries_mark

    return carries_mark(path, MASK_MARK)


def read_stage(src: Path, settings: RepairSettings, mask: Path | None = None) -> RepairPrepared:
    """Read the photo and its mask: ``mask`` (found by ``masks.MaskFinder``) with --mask-dir, else detected."""
    from ganrt.pipelines.image_ops import to_model_rgb

    decoded = read_image(src, settings.restore.max_pixels, sidecar_xmp=sidecar.read(src))
    rgb = to_model_rgb(decoded.pixels, decoded.alpha)
    if settings.mask_dir is not None:
        if mask is None:
            raise ImageReadError(f"no mask for it in {settings.mask_dir}")
        found, source = masks.read_mask(mask, rgb.shape[:2]), "user"
    else:
        found, source = detect(rgb, settings.detector), "detected"
    masks.judge(found, source, src.name)
    return RepairPrepared(src, decoded, rgb, restore_stages.source_time(src), mask=found, mask_source=source)


def infer_stage(prepared: RepairPrepared, settings: RepairSettings, upscaler=None) -> np.ndarray:
    repaired = settings.filler.fill(prepared.rgb, prepared.mask)
    if settings.faces is not None:
        repaired = settings.faces.restore(repaired)
    if upscaler is None:
        return repaired
    staged = Prepared(prepared.src, prepared.decoded, repaired, prepared.mtime_ns)
    return restore_stages.infer_stage(upscaler, staged, settings.restore)


def write_mask(path: Path, mask: np.ndarray, dpi: tuple[float, float] | None = None,
               mtime_ns: int | None = None) -> Path:
    """The damage mask as a PNG marked as ganrt's, at the photo's pixel density (it lies over the photo),
    dated as the photo."""
    from PIL import Image, PngImagePlugin

    from ganrt.fsutil import atomic_path

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", MASK_MARK)
    with atomic_path(path, mtime_ns=mtime_ns) as tmp:
        Image.fromarray(mask).save(tmp, format="PNG", pnginfo=info, **({"dpi": dpi} if dpi else {}))
    return path


def write_stage(dst: Path, repaired: np.ndarray, prepared: RepairPrepared, settings: RepairSettings,
                scale: int, subject: str) -> Path:
    """Write the repaired image (and its mask); what it loses is noted (``notes``) under ``subject``."""
    finished = finish_stage(repaired, prepared, settings.restore, scale)
    check_output(dst, finished, subject)
    if settings.save_masks:
        write_mask(mask_path_for(dst), prepared.mask, prepared.decoded.dpi, prepared.mtime_ns)
    return restore_stages.write_stage(dst, finished, prepared, settings.restore)


class RepairRunner(ArchiveRunner):
    """The archive runner with repair's stages: same job state, resume, reports and failure rows."""

    def __init__(self, upscaler, settings: RepairSettings, state, fingerprint: str, **kwargs):
        super().__init__(upscaler, settings.restore, state, fingerprint, **kwargs)
        self.repair = settings
        self.masks = {"detected": 0, "user": 0}
        self.damaged_pixels = 0
        self.preview_masks: dict[Path, np.ndarray] = {}  # the first few masks, small, for --preview

    def _read(self, task) -> RepairPrepared:
        return read_stage(task.src, self.repair, task.inputs[0] if task.inputs else None)

    def _infer(self, prepared: RepairPrepared) -> np.ndarray:
        return infer_stage(prepared, self.repair, self.engine)

    def row_stats(self, prepared: RepairPrepared) -> dict:
        stats = {"mask_source": prepared.mask_source, "damaged": int(np.count_nonzero(prepared.mask))}
        if len(self.preview_masks) < PREVIEW_MASKS:
            stats["small_mask"] = small_mask(prepared.mask)
        return stats

    def absorb(self, task, stats: dict) -> None:
        self.masks[stats["mask_source"]] += 1
        self.damaged_pixels += stats["damaged"]
        if "small_mask" in stats and len(self.preview_masks) < PREVIEW_MASKS:
            self.preview_masks[task.src] = stats["small_mask"]

    def _write(self, task, prepared: RepairPrepared, repaired) -> Path:
        return write_stage(task.dst, repaired, prepared, self.repair, self.scale, task.rel)


def repair_runner(tools, settings: RepairSettings, state, fingerprint: str, **kwargs) -> RepairRunner:
    """A RepairRunner for opened ``tools`` (filler, upscaler or None, face restorer or None); None: the
    stages that need none of them (reading and detecting, writing), as Ray's read and write tasks run them."""
    from dataclasses import replace

    filler, upscaler, faces = tools if tools is not None else (settings.filler, None, settings.faces)
    return RepairRunner(upscaler, replace(settings, filler=filler, faces=faces), state, fingerprint, **kwargs)


def repair_one(prepared: RepairPrepared, dst: Path, settings: RepairSettings, upscaler=None) -> Path:
    """Repair an image already read and write it to ``dst`` (its final, planned path)."""
    scale = upscaler.scale if upscaler is not None else 1
    restore_stages.check_output_size(dst, prepared, settings.restore, scale)
    repaired = infer_stage(prepared, settings, upscaler)
    return write_stage(dst, repaired, prepared, settings, scale, prepared.src.name)
