"""Faces in a repaired photo: find them, restore each with a face network, paste them back feathered.

- Detection: the frontal-face LBP cascade that ships inside scikit-image
  (offline; OpenCV 5's wheel no longer carries its Haar cascades), on the
  grey image at most 800 px on its long side.
- Alignment: a square window around each detected face, grown so the whole
  head and some context are in it (the cascade finds upright faces only, so
  no rotation), reflected at the photo's edges, resized to the network's
  size (512 for GFPGAN and RestoreFormer).
- Restoration: the face network through the same engines as every model
  (loaded from the user's file by spandrel; ``ganrt.models.loader`` wraps it
  to take and give 0..1 pixels).
- Paste-back: the restored window resized back and blended with a feathered
  mask, so no seam shows; pixels outside the windows are not touched.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

GROW = 1.8  # window side / detected box side
MIN_FACE = 24  # pixels (at detection scale): smaller detections are noise, or too small to restore
DETECT_SIDE = 800  # photos are searched at most this large (long side); boxes are scaled back


def _cascade():
    try:
        import skimage.data
        from skimage.feature import Cascade
    except ImportError:
        from ganrt.errors import BackendUnavailableError

        raise BackendUnavailableError("--face-model finds faces with scikit-image's cascade: "
                                      "pip install 'ganrt[faces]'") from None
    return Cascade(skimage.data.lbp_frontal_face_cascade_filename())


def detect_faces(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Upright faces as (x, y, w, h) boxes, largest first (overlapping detections merged)."""
    import cv2

    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if gray.dtype != np.uint8:
        gray = (gray.astype(np.float32) * (255.0 / np.iinfo(gray.dtype).max)).astype(np.uint8)
    h, w = gray.shape
    factor = min(1.0, DETECT_SIDE / max(h, w))
    small = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    side = min(small.shape)
    if side < MIN_FACE:
        return []
    found = _cascade().detect_multi_scale(img=small, scale_factor=1.2, step_ratio=1, min_size=(MIN_FACE, MIN_FACE),
                                          max_size=(side, side), min_neighbor_number=5)
    boxes = [(d["c"] / factor, d["r"] / factor, d["width"] / factor, d["height"] / factor) for d in found]
    merged: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if not any(_overlap(box, kept) > 0.3 for kept in merged):
            merged.append(tuple(int(round(v)) for v in box))
    return merged


def _overlap(a, b) -> float:
    """Intersection over the smaller box."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1e-9, min(a[2] * a[3], b[2] * b[3]))


def face_window(box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """The square window (x0, y0, side) restored for a detected box: centred on it, GROW times larger."""
    x, y, w, h = box
    side = int(round(max(w, h) * GROW))
    cx, cy = x + w / 2, y + h / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def feather(side: int) -> np.ndarray:
    """A side×side blend mask: 1 in the middle, falling smoothly to 0 at the edges."""
    import cv2

    margin = max(2, side // 8)
    mask = np.zeros((side, side), np.float32)
    mask[margin:side - margin, margin:side - margin] = 1.0
    k = 2 * margin + 1
    return cv2.GaussianBlur(mask, (k, k), margin / 2)


class FaceRestorer:
    """Restores the faces of a photo with ``engine`` (a face network of ``size``² input)."""

    def __init__(self, engine, size: int = 512):
        self.engine, self.size = engine, size

    def restore(self, rgb: np.ndarray) -> np.ndarray:
        faces = detect_faces(rgb)
        if not faces:
            return rgb
        out = rgb.copy()
        for box in faces:
            self._paste(out, rgb, face_window(box))
        log.debug("restored %d face(s)", len(faces))
        return out

    def _paste(self, out: np.ndarray, rgb: np.ndarray, window: tuple[int, int, int]) -> None:
        import cv2

        from ganrt.runtime.tiling import upscale

        x0, y0, side = window
        h, w = rgb.shape[:2]
        top, left = max(0, -y0), max(0, -x0)
        bottom, right = max(0, y0 + side - h), max(0, x0 + side - w)
        crop = rgb[max(0, y0):min(h, y0 + side), max(0, x0):min(w, x0 + side)]
        crop = cv2.copyMakeBorder(crop, top, bottom, left, right, cv2.BORDER_REFLECT_101)
        shrink = side > self.size
        face = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        restored = upscale(self.engine, face, tile=0, pad=0, batch=1, border=0)
        back = cv2.resize(restored, (side, side), interpolation=cv2.INTER_CUBIC if shrink else cv2.INTER_AREA)
        mask = feather(side)[top:side - bottom, left:side - right, None]
        region = (slice(max(0, y0), min(h, y0 + side)), slice(max(0, x0), min(w, x0 + side)))
        inside = back[top:side - bottom, left:side - right].astype(np.float32)
        blended = mask * inside + (1 - mask) * out[region].astype(np.float32)
        if np.issubdtype(out.dtype, np.integer):
            blended = np.clip(np.rint(blended), 0, np.iinfo(out.dtype).max)
        out[region] = blended.astype(out.dtype)
