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
