"""Check an exported graph against the PyTorch fp32 model on real inputs, at odd sizes.

fp32 graphs must match within 1e-4 max abs; fp16 graphs at PSNR ≥ 40 dB with
no NaN/Inf. Dynamic image graphs are checked at two odd shapes, so a size
frozen into the graph shows up as a failure; generators at two batch sizes,
so a batch frozen into the graph does too. Outputs are compared in 0..1
(a generator's -1..1 is mapped first), so PSNR means the same for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrt.kinds import GENERATION, INPAINTING
from ganrt.kinds import to_unit_range
from ganrt.quality import psnr

FP32_MAX_ABS = 1e-4
FP16_MIN_PSNR = 40.0
ODD_SIZES = ((47, 61), (63, 37))
GENERATOR_BATCHES = (3, 5)


@dataclass
class ParityResult:
    shape: tuple[int, ...]
    max_abs: float
    psnr_db: float
    nonfinite: int
    ok: bool


def _photo_batch(size: tuple[int, int], batch: int, channels: int, offset: int, resize: bool) -> np.ndarray:
    import cv2

    from ganrt.data import calibration_photos

    photos = list(calibration_photos().values())
    imgs = []
    for k in range(batch):
        p = photos[(offset + k) % len(photos)]
        img = cv2.resize(p, (size[1], size[0]), interpolation=cv2.INTER_AREA) if resize else p[: size[0], : size[1]]
        imgs.append(img.transpose(2, 0, 1).astype(np.float32) / 255)
    x = np.stack(imgs)
    if channels == 1:
        x = x.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(x)


def parity_inputs(spec, shape: tuple[int, int] | None, batch: int | None) -> list[list[np.ndarray]]:
    """Cases (each the list of the model's inputs): real photo crops at odd sizes for dynamic image
    graphs (resized for static ones), with a mask for inpainters; seeded noise for generators."""
    kind = spec.kind
    if kind.name == GENERATION:
        rng = np.random.default_rng(7)
        return [[rng.standard_normal((n, spec.noise_dim)).astype(np.float32)]
                for n in ([batch] if batch else GENERATOR_BATCHES)]
    cases = []
    m, lo = max(1, spec.size_multiple), spec.min_size
    if kind.one_size:  # a face network: one case, a photo resized to the network's own size
        sizes, resize = [(lo, lo)], True
    else:
        sizes = [shape] if shape else [tuple(-(-max(v, lo) // m) * m for v in odd) for odd in ODD_SIZES]
        resize = shape is not None
    for i, size in enumerate(sizes):  # odd sizes, rounded up to what the network takes (LaMa: 8)
        x = _photo_batch(size, batch or 1, spec.in_channels, i, resize=resize)
        if kind.name == INPAINTING:
            mask = np.zeros((x.shape[0], 1, *x.shape[2:]), np.float32)
            mask[..., size[0] // 3: size[0] // 2, size[1] // 4: size[1] // 2] = 1.0
            cases.append([x, mask])
        else:
            cases.append([x])
    return cases


def check_parity(model, onnx_path: Path, precision: str, cases: list[list[np.ndarray]]) -> list[ParityResult]:
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    results = []
    for case in cases:
        with torch.inference_mode():
            want = model.module(*(torch.from_numpy(x) for x in case)).numpy()
        feed = {i.name: (x.astype(np.float16) if i.type == "tensor(float16)" else x)
                for i, x in zip(session.get_inputs(), case)}
        got = session.run(None, feed)[0].astype(np.float32)
        bad = int((~np.isfinite(got)).sum())
        if got.shape != want.shape:
            results.append(ParityResult(case[0].shape, float("inf"), 0.0, bad, False))
            continue
        diff = np.abs(np.nan_to_num(got, nan=np.inf) - want)
        psnr_db = psnr(to_unit_range(np.nan_to_num(got), model.value_range), to_unit_range(want, model.value_range))
        max_abs = float(diff.max())
        ok = bad == 0 and (max_abs <= FP32_MAX_ABS if precision == "fp32" else psnr_db >= FP16_MIN_PSNR)
        results.append(ParityResult(case[0].shape, max_abs, psnr_db, bad, ok))
    return results
