"""Make the sample "old photos" in this folder from scikit-image's bundled pictures.

Each picture is shrunk (as a small print or a low-resolution scan would be),
blurred, given film grain, faded or turned grayscale, and saved as a
low-quality JPEG: the degradations Real-ESRGAN's generators are trained to undo.
Run from the repository root: `python samples/make_samples.py` (needs scikit-image).
"""

from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).parent
PICTURES = {
    # name: (loader, long side in pixels, look, JPEG quality)
    "astronaut": (data.astronaut, 144, "colour", 40),
    "coffee": (data.coffee, 160, "faded", 35),
    "chelsea": (data.chelsea, 150, "colour", 45),
    "cameraman": (data.camera, 128, "gray", 40),
    "rocket": (data.rocket, 120, "sepia", 50),
}


def degrade(img: np.ndarray, long_side: int, look: str, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    f = long_side / max(h, w)
    small = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 0.7).astype(np.float32)
    small += rng.normal(0, 4.0, small.shape).astype(np.float32)
    if look == "faded":
        small = 0.75 * small + 0.25 * 200.0
    elif look == "sepia":
        gray = small.mean(axis=2, keepdims=True)
        small = gray * np.array([1.07, 0.88, 0.66], np.float32) + 12
    return np.clip(small, 0, 255).astype(np.uint8)


def main() -> None:
    rng = np.random.default_rng(1957)
    for name, (loader, side, look, quality) in PICTURES.items():
        out = degrade(loader(), side, look, rng)
        Image.fromarray(out).save(HERE / f"{name}.jpg", quality=quality)
        print(f"{name}.jpg {out.shape[1]}x{out.shape[0]} {look}")


if __name__ == "__main__":
    main()
