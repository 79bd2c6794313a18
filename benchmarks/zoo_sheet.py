"""The built-in models side by side on one old photograph, with the CPU time each took.

The input is the bundled ``samples/astronaut.jpg`` (144 × 144: a small, grainy,
JPEG-compressed print, as ``samples/make_samples.py`` makes it). Every model
restores the whole photo ×4 through ganrt's default CPU path (``--backend auto``),
whole image, timed after a warm-up; the sheet shows the same 72 × 72 crop (the
face) of each result at 288 × 288, next to the input enlarged by bicubic.
Writes ``docs/zoo-sheet.jpg`` (for the README) and ``results/zoo_sheet.{json,md}``.

    python benchmarks/zoo_sheet.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["RealESRGAN_x4plus", "RealSR_DF2K_x4", "SPAN-x4-ch48", "RealCUGAN-se-4x-conservative",
          "RealESRGAN_x4plus_anime_6B", "realesr-animevideov3"]
CROP = (slice(6, 78), slice(40, 112))  # the face, in input pixels


def main() -> None:
    import cv2
    from PIL import Image, ImageDraw

    from ganrt.models import load_model
    from ganrt.runtime.registry import create_engine
    from ganrt.runtime.tiling import upscale

    photo = np.asarray(Image.open(ROOT / "samples" / "astronaut.jpg").convert("RGB"))
    h, w = photo.shape[:2]

    def crop4(img: np.ndarray) -> np.ndarray:
        return img[CROP[0].start * 4: CROP[0].stop * 4, CROP[1].start * 4: CROP[1].stop * 4]

    panels = [("input, bicubic x4", crop4(cv2.resize(photo, (w * 4, h * 4), interpolation=cv2.INTER_CUBIC)))]
    rows = []
    for name in MODELS:
        model = load_model(name)
        with create_engine(model, device="cpu") as engine:
            upscale(engine, photo, tile=0)  # warm-up: compile, caches
            t0 = time.perf_counter()
            out = upscale(engine, photo, tile=0)
            seconds = time.perf_counter() - t0
            path = engine.describe()
        assert out.shape == (h * 4, w * 4, 3)
        rows.append({"model": name, "engine": path, "seconds": round(seconds, 3)})
        panels.append((f"{name}: {seconds:.2f} s", crop4(out)))
        print(rows[-1], flush=True)
    side, label, cols = 288, 16, 4
    sheet = Image.new("RGB", (cols * side, -(-len(panels) // cols) * (side + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (text, img) in enumerate(panels):
        x, y = (i % cols) * side, (i // cols) * (side + label)
        draw.text((x + 4, y + 2), text, fill="black")
        sheet.paste(Image.fromarray(img), (x, y + label))
    out = ROOT / "docs" / "zoo-sheet.jpg"
    out.parent.mkdir(exist_ok=True)
    sheet.save(out, quality=88)
    write("zoo_sheet", rows, ["model", "engine", "seconds"],
          f"Built-in models on one old photograph ({w}×{h} → {w * 4}×{h * 4}), CPU",
          "Whole photo, one call after a warm-up, ganrt's automatic CPU path; the picture is docs/zoo-sheet.jpg.")


if __name__ == "__main__":
    main()
