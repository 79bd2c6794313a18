"""Calibration images: real photographs shipped with ganrt, plus deliberately harsh synthetic ones.

Used to find fp16-overflowing nodes, to check export parity, and for the
bf16 fidelity guard. Everything here is generated or loaded without network
access or optional packages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrt.kinds import GENERATION, INPAINTING

CALIBRATION_DIR = Path(__file__).parent / "calibration"


def calibration_photos() -> dict[str, np.ndarray]:
    """The real photographs (uint8 RGB, 64×64)."""
    from PIL import Image

    return {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in sorted(CALIBRATION_DIR.glob("*.png"))}


def harsh_images(size: int = 64) -> dict[str, np.ndarray]:
    """Bright, saturated and high-contrast inputs: where fp16 activations overflow first."""
    yy, xx = np.mgrid[0:size, 0:size]
    stripes = np.zeros((size, size, 3), np.uint8)
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]):
        stripes[:, i * size // 6:(i + 1) * size // 6] = colour
    checker = (((yy // 2 + xx // 2) % 2) * 255).astype(np.uint8)
    sun = np.clip(255 * (1.6 - np.hypot(yy - size / 2, xx - size / 2) / (size / 3)), 0, 255).astype(np.uint8)
    photo = next(iter(calibration_photos().values())).astype(np.float32)
    contrast = np.clip((photo - 128) * 3 + 128, 0, 255).astype(np.uint8)
    return {
        "white": np.full((size, size, 3), 255, np.uint8),
        "saturated_stripes": stripes,
        "checkerboard": np.repeat(checker[..., None], 3, axis=2),
        "bright_sun": np.repeat(sun[..., None], 3, axis=2),
        "high_contrast_photo": contrast[:size, :size],
    }


def calibration_batch(channels: int = 3) -> list[np.ndarray]:
    """All calibration images as float32 NCHW arrays in 0..1, one image per array."""
    images = list(calibration_photos().values()) + list(harsh_images().values())
    out = []
    for img in images:
        x = img.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        if channels == 1:
            x = x.mean(axis=1, keepdims=True)
        elif channels != 3:
            x = np.concatenate([x] * (channels // 3) + [x[:, : channels % 3]], axis=1)
        out.append(np.ascontiguousarray(x))
    return out


def calibration_inputs(spec, *, harsh: bool = True) -> list[list[np.ndarray]]:
    """Calibration cases for any model kind: each case is the list of inputs (float32, batch first).

    Super-resolution: the real photos (and, with ``harsh``, the harsh images), one per case.
    Generators: seeded noise batches, plus noise at three times the usual spread (where
    activations grow largest). Inpainters: the photos with a block and a scribble to fill."""
    kind = spec.kind
    if kind.name == GENERATION:
        rng = np.random.default_rng(1234)
        cases = [[rng.standard_normal((4, spec.noise_dim)).astype(np.float32)] for _ in range(3)]
        if harsh:
            cases.append([(3 * rng.standard_normal((4, spec.noise_dim))).astype(np.float32)])
        return cases
    images = calibration_batch(spec.in_channels)
    images = images if harsh else images[: len(calibration_photos())]
    if kind.one_size:  # face networks: the pictures at the network's own size
        images = [_resized(x, spec.min_size) for x in images]
    if kind.name == INPAINTING:
        out = []
        for i, x in enumerate(images):
            mask = np.zeros((1, 1, *x.shape[2:]), np.float32)
            h, w = x.shape[2:]
            mask[..., h // 4: h // 2, w // 3: w // 3 + w // 4] = 1.0
            mask[..., (i * 7) % h, :] = 1.0
            out.append([x, mask])
        return out
    return [[x] for x in images]


def _resized(x: np.ndarray, size: int) -> np.ndarray:
    """An NCHW float image (one) resized to size × size, values kept in 0..1."""
    import cv2

    hwc = cv2.resize(x[0].transpose(1, 2, 0), (size, size), interpolation=cv2.INTER_CUBIC)
    hwc = hwc.reshape(size, size, -1)  # cv2 drops a single channel's axis
    return np.ascontiguousarray(np.clip(hwc, 0, 1).transpose(2, 0, 1)[None], dtype=np.float32)
