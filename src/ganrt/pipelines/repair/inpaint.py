"""Fill the damaged pixels of a photo: OpenCV's Telea / Navier–Stokes, or an inpainting engine.

Every filler takes an H×W×3 image (uint8 or uint16) and a mask (H×W, non-zero =
damaged) and returns the image with only the masked pixels replaced: every
pixel outside the mask comes back bit for bit (``composite``).

``EngineFiller`` runs a learned inpainter (LaMa and kin, kind ``inpainting``)
through the one engine interface, on windows cut around the holes rather than
on the whole scan: the mask's components, grown by ``context`` pixels, give the
windows, so each hole is seen with ``context`` pixels of real picture around
it, wherever it lies. A window larger than ``max_side`` is cut into tiles that
overlap by ``2·context`` (the tiler's own plan), and each tile fills only the
holes in its kept part, so a hole on a tile edge still has its context. Holes
filled earlier count as known picture for the windows after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ganrt.kinds import INPAINTING
from ganrt.runtime.tiling import maxval_for, plan_axis

class Filler(Protocol):
    """What fills a photo's damaged pixels: ``OpenCVFiller``, ``EngineFiller`` and ``repair.semantic.SemanticFiller``."""

    def fill(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``rgb`` with the pixels where ``mask`` is set filled; every other pixel as it was, bit for bit."""


OPENCV_METHODS = {"telea": "OpenCV Telea (fast marching)", "ns": "OpenCV Navier–Stokes"}


def composite(original: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``filled`` where ``mask`` is set, ``original`` (bit for bit) everywhere else."""
    m = mask > 0
    out = original.copy()
    out[m] = filled[m]
    return out


@dataclass(frozen=True)
class OpenCVFiller:
    method: str = "telea"
    radius: int = 5

    @property
    def name(self) -> str:
        return OPENCV_METHODS[self.method]

    def fill(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import cv2

        m = (mask > 0).astype(np.uint8)
        if not m.any():
            return rgb.copy()
        flag = cv2.INPAINT_TELEA if self.method == "telea" else cv2.INPAINT_NS
        if rgb.dtype == np.uint8:
            filled = cv2.inpaint(np.ascontiguousarray(rgb), m, self.radius, flag)
        else:  # OpenCV inpaints 16-bit and float pictures one channel at a time
            planes = [cv2.inpaint(np.ascontiguousarray(rgb[..., c], dtype=np.float32), m, self.radius, flag)
                      for c in range(rgb.shape[2])]
            top = maxval_for(rgb.dtype)
            filled = np.clip(np.rint(np.stack(planes, axis=2)), 0, top).astype(rgb.dtype)
        return composite(rgb, filled, m)


def hole_windows(mask: np.ndarray, context: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) windows that hold every hole with ``context`` pixels around it, largest first."""
    import cv2

    h, w = mask.shape
    grown = cv2.dilate((mask > 0).astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_RECT, (2 * context + 1, 2 * context + 1)))
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for i in range(1, count):
        x, y, bw, bh, _area = stats[i]
        boxes.append((max(0, y), min(h, y + bh), max(0, x), min(w, x + bw)))
    return sorted(boxes, key=lambda b: -(b[1] - b[0]) * (b[3] - b[2]))


class EngineFiller:
    """A learned inpainter (an engine of kind ``inpainting``) on windows around the holes."""

    def __init__(self, engine, *, context: int = 64, max_side: int = 512):
        if engine.kind.name != INPAINTING:
            raise ValueError(f"{engine.spec.name} is a {engine.kind.name} model, not an inpainter")
        self.engine = engine
        self.context = context
        self.max_side = max(max_side, 4 * context)

    @property
    def name(self) -> str:
        return f"{self.engine.spec.name} ({self.engine.describe()})"

    def fill(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        top = float(maxval_for(rgb.dtype))
        work = rgb.astype(np.float32) / top
        todo = mask > 0
        for y0, y1, x0, x1 in hole_windows(mask, self.context):
            ys = plan_axis(y1 - y0, self.max_side, self.context, 0)
            xs = plan_axis(x1 - x0, self.max_side, self.context, 0)
            for ty in ys:
                for tx in xs:
                    self._fill_tile(work, todo, y0 + ty.start, ty.length, x0 + tx.start, tx.length,
                                    (y0 + ty.keep_lo, y0 + ty.keep_hi, x0 + tx.keep_lo, x0 + tx.keep_hi))
        filled = np.clip(np.rint(work * top), 0, top).astype(rgb.dtype)
        return composite(rgb, filled, mask)

    def _fill_tile(self, work, todo, ty, th, tx, tw, keep) -> None:
        h, w = todo.shape
        ty, tx = max(0, min(ty, h - th)), max(0, min(tx, w - tw))
        holes = todo[ty:ty + th, tx:tx + tw]
        ky0, ky1, kx0, kx1 = keep
        kept = np.zeros_like(holes)
        kept[ky0 - ty:ky1 - ty, kx0 - tx:kx1 - tx] = holes[ky0 - ty:ky1 - ty, kx0 - tx:kx1 - tx]
        if not kept.any():
            return
        image = work[ty:ty + th, tx:tx + tw].transpose(2, 0, 1)[None]
        out = self.engine.infer(np.ascontiguousarray(image), holes[None, None].astype(np.float32))[0]
        out = np.clip(out.transpose(1, 2, 0), 0.0, 1.0)
        region = work[ty:ty + th, tx:tx + tw]
        region[kept] = out[kept]
        todo[ty:ty + th, tx:tx + tw] &= ~kept  # filled: known picture for the windows after this one
