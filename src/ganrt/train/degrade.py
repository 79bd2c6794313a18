"""Low-resolution inputs made from high-resolution crops, on the fly and seeded.

- ``bicubic``: SRGAN's (and the benchmarks') degradation: an antialiased
  bicubic downscale by the scale factor.
- ``realesrgan``: Real-ESRGAN's second-order degradation, as its paper and
  training options describe it: two rounds of (blur with a random kernel —
  isotropic or anisotropic Gaussian, generalised Gaussian, plateau, or sinc
  with p = 0.1 — then a random resize up, down or kept, then Gaussian or
  Poisson noise, grey with p = 0.4, then JPEG at quality 30–95); the second
  blur with p = 0.8; then the resize to the target size, a final sinc filter
  with p = 0.8 and JPEG, in one of two random orders.

Every draw comes from the ``numpy.random.Generator`` given, so the same seed
gives the same low-resolution image.
"""

from __future__ import annotations

import math

import numpy as np

DEGRADATIONS = ("bicubic", "realesrgan")


def bicubic_down(hr: np.ndarray, scale: int) -> np.ndarray:
    """Antialiased bicubic downscale (Pillow's, close to MATLAB's imresize) of uint8 RGB."""
    from PIL import Image

    h, w = hr.shape[:2]
    return np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))


def degrade(hr: np.ndarray, scale: int, how: str, rng: np.random.Generator) -> np.ndarray:
    """The low-resolution image (uint8 RGB, size ÷ scale) made from ``hr`` by ``how``."""
    if how == "bicubic":
        return bicubic_down(hr, scale)
    return second_order(hr, scale, rng)


# --- kernels ------------------------------------------------------------------------------------

def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(size) - size // 2
    return np.meshgrid(r, r)


def _quadratic(size: int, sx: float, sy: float, theta: float) -> np.ndarray:
    """x^T Σ^-1 x over a size × size grid, Σ the rotated (sx, sy) covariance."""
    xx, yy = _grid(size)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    return (u / sx) ** 2 + (v / sy) ** 2


def _normalised(k: np.ndarray) -> np.ndarray:
    return (k / k.sum()).astype(np.float32)


def _bessel_j1(x: np.ndarray) -> np.ndarray:
    """J1 (Abramowitz & Stegun 9.4.4 and 9.4.6), good to 1e-7: the sinc kernel's numerator."""
    x = np.asarray(x, np.float64)
    ax = np.abs(x)
    small = ax < 3.0
    out = np.empty_like(x)
    t = (x[small] / 3.0) ** 2
    out[small] = x[small] * (0.5 - 0.56249985 * t + 0.21093573 * t**2 - 0.03954289 * t**3 + 0.00443319 * t**4
                             - 0.00031761 * t**5 + 0.00001109 * t**6)
    big = ~small
    y = 3.0 / ax[big]
    f1 = (0.79788456 + 0.00000156 * y + 0.01659667 * y**2 + 0.00017105 * y**3 - 0.00249511 * y**4
          + 0.00113653 * y**5 - 0.00020033 * y**6)
    th = (ax[big] - 2.35619449 + 0.12499612 * y + 0.00005650 * y**2 - 0.00637879 * y**3 + 0.00074348 * y**4
          + 0.00079824 * y**5 - 0.00029166 * y**6)
    out[big] = np.sign(x[big]) * f1 * np.cos(th) / np.sqrt(ax[big])
    return out


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """A circular low-pass (2-D sinc) kernel with cut-off frequency ``cutoff`` (radians)."""
    xx, yy = _grid(size)
    r = np.hypot(xx, yy)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = cutoff * _bessel_j1(cutoff * r) / (2 * math.pi * r)
    k[r == 0] = cutoff**2 / (4 * math.pi)
    return _normalised(k)


def random_kernel(rng: np.random.Generator, *, sigma: tuple[float, float], sinc_p: float = 0.1) -> np.ndarray:
    size = int(rng.choice(np.arange(7, 22, 2)))
    if rng.random() < sinc_p:
        cutoff = rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi)
        return sinc_kernel(size, cutoff)
    kind = rng.choice(["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
                      p=[0.45, 0.25, 0.12, 0.03, 0.12, 0.03])
    sx = rng.uniform(*sigma)
    sy = sx if kind.endswith("iso") and not kind.endswith("aniso") else rng.uniform(*sigma)
    q = _quadratic(size, sx, sy, rng.uniform(-math.pi, math.pi) if sx != sy else 0.0)
    if kind.startswith("generalized"):
        return _normalised(np.exp(-0.5 * q ** rng.uniform(0.5, 4.0)))
    if kind.startswith("plateau"):
        return _normalised(1.0 / (1.0 + q ** rng.uniform(1.0, 2.0)))
    return _normalised(np.exp(-0.5 * q))


# --- steps --------------------------------------------------------------------------------------

def _blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def _resize(img: np.ndarray, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    interp = [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC][int(rng.integers(3))]
    return cv2.resize(img, (max(1, w), max(1, h)), interpolation=interp)


def _noise(img: np.ndarray, rng: np.random.Generator, *, sigma: tuple[float, float],
           poisson: tuple[float, float]) -> np.ndarray:
    gray = rng.random() < 0.4
    shape = img.shape[:2] + ((1,) if gray else (3,))
    if rng.random() < 0.5:
        noise = rng.normal(0.0, rng.uniform(*sigma) / 255.0, shape)
    else:  # shot noise at 8-bit photon counts, scaled as Real-ESRGAN's poisson_scale_range
        base = img.mean(axis=2, keepdims=True) if gray else img
        noise = (rng.poisson(np.clip(base, 0, 1) * 256.0) / 256.0 - base) * rng.uniform(*poisson)
    return np.clip(img + noise, 0.0, 1.0).astype(np.float32)


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    quality = int(rng.integers(30, 96))
    pixels = np.clip(np.rint(img[..., ::-1] * 255), 0, 255).astype(np.uint8)  # resizes and sinc overshoot
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def second_order(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    """Real-ESRGAN's two rounds of blur, resize, noise and JPEG, then the final resize and sinc."""
    h, w = hr.shape[:2]
    img = hr.astype(np.float32) / 255.0
    rounds = [dict(sigma=(0.2, 3.0), resize=(0.15, 1.5), noise=(1, 30), poisson=(0.05, 3.0), blur_p=1.0),
              dict(sigma=(0.2, 1.5), resize=(0.3, 1.2), noise=(1, 25), poisson=(0.05, 2.5), blur_p=0.8)]
    for r in rounds:
        if rng.random() < r["blur_p"]:
            img = _blur(img, random_kernel(rng, sigma=r["sigma"]))
        mode = rng.choice(["up", "down", "keep"], p=[0.2, 0.7, 0.1])
        factor = {"up": rng.uniform(1.0, r["resize"][1]), "down": rng.uniform(r["resize"][0], 1.0), "keep": 1.0}[mode]
        if r is rounds[1]:
            factor /= scale  # the second round works at the target scale, as Real-ESRGAN's does
        img = _resize(img, round(w * factor), round(h * factor), rng)
        img = _noise(img, rng, sigma=r["noise"], poisson=r["poisson"])
        if r is rounds[0]:
            img = _jpeg(img, rng)
    target = (w // scale, h // scale)
    if rng.random() < 0.5:  # resize and sinc, then JPEG
        img = _resize(img, *target, rng)
        if rng.random() < 0.8:
            img = _blur(img, sinc_kernel(int(rng.choice(np.arange(7, 22, 2))), rng.uniform(math.pi / 3, math.pi)))
        img = _jpeg(img, rng)
    else:  # JPEG, then resize and sinc
        img = _jpeg(img, rng)
        img = _resize(img, *target, rng)
        if rng.random() < 0.8:
            img = _blur(img, sinc_kernel(int(rng.choice(np.arange(7, 22, 2))), rng.uniform(math.pi / 3, math.pi)))
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
