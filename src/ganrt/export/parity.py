"""Check an exported graph against the PyTorch fp32 model on real photos, at odd sizes.

fp32 graphs must match within 1e-4 max abs; fp16 graphs at PSNR ≥ 40 dB with
no NaN/Inf. Dynamic graphs are checked at two odd shapes, so a size frozen
into the graph shows up as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrt.quality import psnr

FP32_MAX_ABS = 1e-4
FP16_MIN_PSNR = 40.0
ODD_SIZES = ((47, 61), (63, 37))


@dataclass
class ParityResult:
    shape: tuple[int, ...]
    max_abs: float
    psnr_db: float
    nonfinite: int
    ok: bool


def parity_inputs(shape: tuple[int, int] | None, batch: int | None, channels: int = 3) -> list[np.ndarray]:
    """Real photo crops (float32 NCHW): at odd sizes for dynamic graphs, resized for static ones."""
    import cv2

    from ganrt.data import calibration_photos

    photos = list(calibration_photos().values())
    n = batch or 1
    out = []
    for i, size in enumerate([shape] if shape else ODD_SIZES):
        imgs = []
        for k in range(n):
            p = photos[(i + k) % len(photos)]
            img = cv2.resize(p, (size[1], size[0]), interpolation=cv2.INTER_AREA) if shape else p[: size[0], : size[1]]
            imgs.append(img.transpose(2, 0, 1).astype(np.float32) / 255)
        x = np.stack(imgs)
        if channels == 1:
            x = x.mean(axis=1, keepdims=True)
        out.append(np.ascontiguousarray(x))
    return out


def check_parity(model, onnx_path: Path, precision: str, inputs: list[np.ndarray]) -> list[ParityResult]:
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    results = []
    for x in inputs:
        with torch.inference_mode():
            want = model.module(torch.from_numpy(x)).numpy()
        feed = x.astype(np.float16) if inp.type == "tensor(float16)" else x
        got = session.run(None, {inp.name: feed})[0].astype(np.float32)
        bad = int((~np.isfinite(got)).sum())
        if got.shape != want.shape:
            results.append(ParityResult(x.shape, float("inf"), 0.0, bad, False))
            continue
        diff = np.abs(np.nan_to_num(got, nan=np.inf) - want)
        psnr_db = psnr(np.nan_to_num(got), want)
        max_abs = float(diff.max())
        ok = bad == 0 and (max_abs <= FP32_MAX_ABS if precision == "fp32" else psnr_db >= FP16_MIN_PSNR)
        results.append(ParityResult(x.shape, max_abs, psnr_db, bad, ok))
    return results
