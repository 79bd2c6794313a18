"""How close an output is to its reference: PSNR, the one measure every fidelity check here uses."""

from __future__ import annotations

import numpy as np


def psnr(got: np.ndarray, want: np.ndarray, *, peak: float = 1.0) -> float:
    """PSNR in dB of ``got`` against ``want``, both clipped to 0..``peak`` (inf when identical).

    Float outputs in 0..1 use ``peak=1``; 8-bit images ``peak=255``. NaN is the
    caller's to replace first (``np.nan_to_num``), as each check decides what it counts as.
    """
    a = np.clip(np.asarray(got, np.float64), 0, peak)
    b = np.clip(np.asarray(want, np.float64), 0, peak)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(peak * peak / mse))


def y_channel(rgb: np.ndarray) -> np.ndarray:
    """The luma of H × W × 3 RGB in 0..1 as BasicSR computes it for PSNR/SSIM: BT.601 Y in 16..235."""
    rgb = np.asarray(rgb, np.float64)
    return rgb @ np.array([65.481, 128.553, 24.966]) + 16.0


def _crop(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border else img


def psnr_y(got: np.ndarray, want: np.ndarray, crop_border: int = 0) -> float:
    """PSNR on the Y channel (peak 255) of H × W × 3 RGB in 0..1, ``crop_border`` pixels cut off each side
    (BasicSR's convention: crop_border = scale)."""
    a, b = _crop(y_channel(np.clip(got, 0, 1)), crop_border), _crop(y_channel(np.clip(want, 0, 1)), crop_border)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim_y(got: np.ndarray, want: np.ndarray, crop_border: int = 0) -> float:
    """SSIM on the Y channel (11 × 11 Gaussian window, σ 1.5, as BasicSR and the SSIM paper)."""
    import cv2

    a, b = _crop(y_channel(np.clip(got, 0, 1)), crop_border), _crop(y_channel(np.clip(want, 0, 1)), crop_border)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = cv2.getGaussianKernel(11, 1.5)
    window = window @ window.T

    def blur(x):
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())
