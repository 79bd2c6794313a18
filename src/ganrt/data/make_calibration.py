"""Make the calibration photos in ``calibration/`` (64×64 crops of scikit-image's bundled pictures).

astronaut and rocket are NASA pictures (public domain); coffee and chelsea are CC0
(see scikit-image's data/README). Run: `python src/ganrt/data/make_calibration.py`.
"""

from pathlib import Path

from PIL import Image
from skimage import data

CROPS = {
    "astronaut_face": (data.astronaut, (20, 180, 84, 244)),
    "coffee_cup": (data.coffee, (150, 240, 214, 304)),
    "chelsea_fur": (data.chelsea, (100, 170, 164, 234)),
    "rocket_sky": (data.rocket, (100, 250, 164, 314)),
}

if __name__ == "__main__":
    out = Path(__file__).parent / "calibration"
    out.mkdir(exist_ok=True)
    for name, (loader, (y0, x0, y1, x1)) in CROPS.items():
        Image.fromarray(loader()[y0:y1, x0:x1]).save(out / f"{name}.png")
