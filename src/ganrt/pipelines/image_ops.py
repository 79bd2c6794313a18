"""Prepare decoded pixels for an RGB model, and finish the model's output for writing.

- Grayscale is fed to the model as three equal channels and turned back into
  one channel (ITU-R BT.601 luma) afterwards: grayscale in, grayscale out.
- Alpha: fully transparent pixels carry arbitrary (often black) colour that
  the model would smear into the visible edge as a dark fringe. Before
  restoration their colour is replaced by the colour bled in from the nearest
  visible pixels; the alpha channel itself is upscaled smoothly (bicubic,
  clamped) and an all-opaque alpha stays exactly opaque.
- ``outscale`` resizes the model's output with Lanczos to the requested factor.
"""

from __future__ import annotations

import numpy as np

from ganrt.runtime.tiling import maxval_for


def to_model_rgb(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """H×W×3 pixels for the model (same dtype as the input)."""
    rgb = np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels
    if alpha is not None and (alpha == 0).any() and (alpha > 0).any():
        rgb = bleed_transparent(rgb, alpha)
    return rgb


def bleed_transparent(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Replace the colour of fully transparent pixels by an alpha-weighted blur of the visible ones."""
    import cv2

    visible = (alpha > 0).astype(np.float32)
    colour = rgb.astype(np.float32) * visible[..., None]
    out = rgb.copy()
    todo = alpha == 0
    k = 3
    limit = 2 * max(rgb.shape[:2]) + 1
    while todo.any() and k <= limit:
        weight = cv2.blur(visible, (k, k))
        summed = cv2.blur(colour, (k, k))
        ready = todo & (weight > 1e-6)
        fill = summed[ready] / weight[ready][:, None]
        out[ready] = np.clip(np.rint(fill), 0, maxval_for(rgb.dtype)).astype(rgb.dtype)
        todo &= ~ready
        k = 2 * k + 1
    return out


def finish(restored: np.ndarray, *, gray: bool, alpha: np.ndarray | None, size: tuple[int, int]
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize the model output to ``size`` (w, h), back to gray if needed; upscale the alpha."""
    import cv2

    w, h = size
    out = restored
    if out.shape[1] != w or out.shape[0] != h:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LANCZOS4)
    if gray:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    out_alpha = None
    if alpha is not None:
        top = maxval_for(alpha.dtype)
        if alpha.min() == alpha.max():
            out_alpha = np.full((h, w), alpha.flat[0], dtype=alpha.dtype)
        else:
            up = cv2.resize(alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
            out_alpha = np.clip(np.rint(up), 0, top).astype(alpha.dtype)
    return out, out_alpha


def output_size(width: int, height: int, scale: int, outscale: float | None) -> tuple[int, int]:
    factor = scale if outscale is None else outscale
    return max(1, round(width * factor)), max(1, round(height * factor))
