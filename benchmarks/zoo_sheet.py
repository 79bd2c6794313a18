"""The built-in photo and anime models side by side on one old photograph, with the CPU time each took.

The input is the bundled ``samples/cameraman.jpg`` (a 1978 test photograph),
cropped and downscaled ×4 so that each model restores it back to its size;
every model runs through ganrt's default CPU path (``--backend auto``), whole
image, timed after a warm-up. Writes ``docs/zoo-sheet.jpg`` (for the README)
and ``results/zoo_sheet.{json,md}``; also a ``ganrt bench`` row per model.

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
MODELS = ["RealESRGAN_x4plus", "RealSR_DF2K_x4", "SPAN-x4-ch48", "RealESRGAN_x4plus_anime_6B", "realesr-animevideov3"]


def main() -> None:
    import cv2
    from PIL import Image, ImageDraw

    from ganrt.models import load_model
    from ganrt.quality import psnr_y
    from ganrt.runtime.registry import create_engine
    from ganrt.runtime.tiling import upscale
    from ganrt.train.degrade import bicubic_down

    photo = np.asarray(Image.open(ROOT / "samples" / "cameraman.jpg").convert("RGB"))
    h, w = photo.shape[:2]
    hr = np.ascontiguousarray(photo[h // 8: h // 8 + 192, w // 4: w // 4 + 256])
    lr = bicubic_down(hr, 4)
    panels = [("input (bicubic ×4)", cv2.resize(lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_CUBIC))]
    rows = []
    for name in MODELS:
        model = load_model(name)
        with create_engine(model, device="cpu") as engine:
            upscale(engine, lr, tile=0)  # warm-up: compile, caches
            t0 = time.perf_counter()
            out = upscale(engine, lr, tile=0)
            seconds = time.perf_counter() - t0
            path = engine.describe()
        rows.append({"model": name, "engine": path, "seconds": round(seconds, 3),
                     "psnr_y_vs_original": round(psnr_y(out / 255, hr / 255, 4), 2)})
        panels.append((f"{name}  {seconds:.2f} s", out))
        print(rows[-1], flush=True)
    panels.append(("original", hr))
    label = 18
    cols = 3
    sheet = Image.new("RGB", (cols * hr.shape[1], -(-len(panels) // cols) * (hr.shape[0] + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (text, img) in enumerate(panels):
        x, y = (i % cols) * hr.shape[1], (i // cols) * (hr.shape[0] + label)
        draw.text((x + 4, y + 3), text, fill="black")
        sheet.paste(Image.fromarray(img), (x, y + label))
    out = ROOT / "docs" / "zoo-sheet.jpg"
    out.parent.mkdir(exist_ok=True)
    sheet.save(out, quality=90)
    write("zoo_sheet", rows, ["model", "engine", "seconds", "psnr_y_vs_original"],
          "Built-in models on one old photograph (64×48 → 256×192), CPU",
          "Whole image, after a warm-up; PSNR on Y against the original before the ×4 downscale "
          "(GAN models trade PSNR for detail: read it with the picture, docs/zoo-sheet.jpg).")


if __name__ == "__main__":
    main()
