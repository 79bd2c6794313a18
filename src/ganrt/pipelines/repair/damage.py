"""Find the damage on a scanned photo: thin scratches (light or dark), dust specks, spots and tears.

Classical and offline, on the luma, in two detectors whose masks are joined:

1. **thin damage** (scratches, hairs, dust): the residual of the picture
   against a 7 × 7 median (which removes anything thinner than about 3 px) is
   compared with the local texture level (the median residual in a 15 px
   window: a long scratch does not raise its own threshold), so a
   scratch across a smooth sky is found while fur and foliage, whose residual
   is everywhere, are not. Candidates are kept by shape: on a straight line
   (openings with line kernels at 12 angles) and long — a scratch — or small
   and compact — a speck;
2. **tears and spots**: flat (local deviation under 2 levels), colourless
   regions near paper white that stand out from their surroundings (a top-hat
   wider than a quarter of the picture), grown to their whole flat region.
   Dark flat regions are left alone: on real photos they are shadows and
   night skies far more often than damage (dark specks are thin damage).

The mask is dilated by a few pixels so the filler also replaces the
damage's soft edges. Sizes scale with the picture (given for a 1000 px short
side). ``detect`` returns a uint8 mask (255 = damaged); precision and recall
on synthetic damage drawn over real photos are measured in
``benchmarks/damage_detection.py`` (``synthetic_damage`` draws that damage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


SPECK_CONTRAST = 1.5


@dataclass(frozen=True)
class DetectorSettings:
    sensitivity: float = 1.0  # > 1 finds fainter damage (and more false alarms)
    texture_ratio: float = 6.0  # a pixel's residual must be this many times the local texture level
    min_step: float = 60.0  # … and at least this many levels (of 255)
    min_scratch_length: int = 25  # px at a 1000-px short side
    speck_max_area: int = 150  # px at a 1000-px short side
    median: int = 7  # the median that removes thin damage (odd; wider removes wider damage)
    dilate: int = 3  # measured: 2 px left soft damage edges that cost 4.5 dB inside the holes


def _luma(rgb: np.ndarray) -> np.ndarray:
    import cv2

    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if gray.dtype == np.uint16:
        gray = (gray // 257).astype(np.uint8)
    return gray


def _saturation(rgb: np.ndarray) -> np.ndarray:
    import cv2

    if rgb.ndim == 2:
        return np.zeros(rgb.shape, np.uint8)
    eight = (rgb // 257).astype(np.uint8) if rgb.dtype == np.uint16 else rgb
    return cv2.cvtColor(eight, cv2.COLOR_RGB2HSV)[..., 1]


def _lines(binary: np.ndarray, length: int) -> np.ndarray:
    """Pixels of ``binary`` lying on a straight run of at least ``length`` in some direction."""
    import cv2

    out = np.zeros_like(binary)
    for angle in range(0, 180, 15):
        kernel = np.zeros((length, length), np.uint8)
        c = length // 2
        dx, dy = np.cos(np.deg2rad(angle)) * c, np.sin(np.deg2rad(angle)) * c
        cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1, 1)
        out |= cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    return out


def detect(rgb: np.ndarray, settings: DetectorSettings = DetectorSettings()) -> np.ndarray:
    """The damage mask of an RGB (or gray) image, uint8 0/255, same height and width."""
    import cv2

    gray = _luma(rgb)
    unit = max(0.25, min(gray.shape) / 1000.0)
    mask = _thin_damage(gray, settings, unit) | _flat_damage(gray, _saturation(rgb), settings)
    if settings.dilate:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * settings.dilate + 1,) * 2))
    return mask * 255


def _thin_damage(gray: np.ndarray, settings: DetectorSettings, unit: float) -> np.ndarray:
    import cv2

    residual = gray.astype(np.int16) - cv2.medianBlur(gray, settings.median).astype(np.int16)
    texture = cv2.medianBlur(np.minimum(np.abs(residual), 255).astype(np.uint8), 15).astype(np.float32)
    floor = max(8.0, settings.min_step / settings.sensitivity)
    length = max(9, int(settings.min_scratch_length * unit))
    speck = max(30, int(settings.speck_max_area * unit * unit))
    out = np.zeros(gray.shape, np.uint8)
    for sign in (1, -1):
        r = (sign * residual).astype(np.float32)
        level = settings.texture_ratio / settings.sensitivity * texture
        candidates = (r > np.maximum(floor, level)).astype(np.uint8)
        strong = (r > np.maximum(SPECK_CONTRAST * floor, SPECK_CONTRAST * level)).astype(np.uint8)
        out |= _keep_thin_shapes(candidates, _lines(candidates, length), strong, speck, length)
    return out


def _keep_thin_shapes(binary: np.ndarray, lines: np.ndarray, strong: np.ndarray, speck: int, length: int) -> np.ndarray:
    """Components that are scratches (mostly on a line, long) or specks (small, compact, and with a core that
    stands out ``SPECK_CONTRAST`` times more than a scratch must: texture makes many weak dots)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    line_hits = np.bincount(labels.ravel(), weights=lines.ravel().astype(np.float64), minlength=count)
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    extent = np.maximum(bw, bh)
    scratch = (line_hits >= 0.5 * area) & (extent >= length)
    cores = np.bincount(labels.ravel(), weights=strong.ravel().astype(np.float64), minlength=count)
    dust = (area <= speck) & (extent <= 3 * np.sqrt(speck)) & (cores > 0)
    keep = scratch | dust
    keep[0] = False
    return keep[labels].astype(np.uint8)


def _flat_damage(gray: np.ndarray, saturation: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """Tears and spots: flat colourless regions near white or black that stand out from their surroundings."""
    import cv2

    h, w = gray.shape
    g = gray.astype(np.float32)
    mean = cv2.blur(g, (5, 5))
    deviation = np.sqrt(np.maximum(cv2.blur(g * g, (5, 5)) - mean * mean, 0))
    flat = (deviation < 2.0) & (saturation < 30)
    wide = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, ((max(h, w) // 4) | 1,) * 2)
    step = settings.min_step / settings.sensitivity
    out = np.zeros((h, w), np.uint8)
    min_area = max(50, h * w // 2000)
    for level, op in ((gray > 225, cv2.MORPH_TOPHAT),):  # dark flat areas are shadows and night skies too often
        region = (flat & level).astype(np.uint8)
        if not region.any():
            continue
        seeds = cv2.morphologyEx(gray, op, wide) > step
        count, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
        seeded = np.bincount(labels.ravel(), weights=seeds.ravel().astype(np.float64), minlength=count)
        keep = (stats[:, 4] >= min_area) & (seeded >= 0.25 * stats[:, 4])
        keep[0] = False
        found = keep[labels].astype(np.uint8)
        out |= cv2.morphologyEx(found, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return out


# --- synthetic damage, for tests and benchmarks ------------------------------------------------

def synthetic_damage(rgb: np.ndarray, rng: np.random.Generator, *, scratches: int = 4, specks: int = 25,
                     tears: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(damaged image, true mask 0/255): light and dark scratches, dust specks and a tear drawn on ``rgb``."""
    import cv2

    img = rgb.copy()
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for i in range(scratches):
        colour = 235 if i % 2 == 0 else 25
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        angle = rng.uniform(0, np.pi)
        span = rng.uniform(0.3, 0.8) * max(h, w)
        x1, y1 = int(x0 + np.cos(angle) * span), int(y0 + np.sin(angle) * span)
        thickness = int(rng.integers(1, 3))
        cv2.line(img, (x0, y0), (x1, y1), (colour,) * 3, thickness, cv2.LINE_AA)
        cv2.line(mask, (x0, y0), (x1, y1), 255, thickness + 1)
    for i in range(specks):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(1, 4))
        colour = 240 if i % 3 else 15
        cv2.circle(img, (cx, cy), r, (colour,) * 3, -1, cv2.LINE_AA)
        cv2.circle(mask, (cx, cy), r + 1, 255, -1)
    for _ in range(tears):
        cx, cy = int(rng.integers(w // 5, 4 * w // 5)), int(rng.integers(h // 5, 4 * h // 5))
        pts = np.array([[cx + rng.integers(-w // 12, w // 12), cy + rng.integers(-h // 12, h // 12)]
                        for _ in range(7)], np.int32)
        hull = cv2.convexHull(pts)
        cv2.fillConvexPoly(img, hull, (245, 243, 238), cv2.LINE_AA)
        cv2.fillConvexPoly(mask, hull, 255)
    return img, mask


def precision_recall(found: np.ndarray, truth: np.ndarray, tolerance: int = 2) -> tuple[float, float]:
    """Pixel precision and recall of a mask against the truth, each allowing ``tolerance`` px of offset."""
    import cv2

    f, t = found > 0, truth > 0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1,) * 2)
    t_wide = cv2.dilate(t.astype(np.uint8), kernel) > 0
    f_wide = cv2.dilate(f.astype(np.uint8), kernel) > 0
    precision = float((f & t_wide).sum() / max(1, f.sum()))
    recall = float((t & f_wide).sum() / max(1, t.sum()))
    return precision, recall
