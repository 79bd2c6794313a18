"""How much context each model needs: at image borders (mirror padding) and between tiles (overlap).

Three measurements per model, on real photographs, fp32 (OpenVINO on the CPU):

- **context**: the model's output next to a cut, run with ``d`` real input
  pixels beyond the cut, against the output with the whole photo there. The
  largest change (in 8-bit levels) over the last input column before the cut
  says how many pixels of context change the output; ``ganrt`` overlaps tiles
  by enough that every kept pixel has the context where this falls to a level.
- **borders**: a region restored alone with ``b`` pixels of mirror padding,
  against the same region restored inside its photo (32 real pixels around):
  PSNR of the outer 8-pixel ring. Mirror padding would cost the pixels; it is
  kept only if it makes this ring better.
- **seams**: a photo restored in tiles of 64 with the tiler's overlap ``pad``
  against the whole photo in one call: PSNR, the largest change in levels,
  and the pixels the engine ran ÷ the photo's pixels.
- **plans** (``--plans``): a 640 × 480 photo restored in the tiles of the
  1.25 GB photo allowance, and in tiles of 160 (what the 512 MB tile budget
  gave x4plus before), against one whole call (x4plus: 4 GB, what the CPU
  policy now runs when a quarter of the free memory holds it): PSNR, largest
  change, pixels run, seconds.

    python benchmarks/tile_context.py [--models a,b]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import write  # noqa: E402

MODELS = ["realesr-animevideov3", "RealESRGAN_x4plus"]
CONTEXTS = [0, 2, 4, 6, 8, 12, 16, 24]
BORDERS = [0, 4, 8, 16]
PADS = [4, 8, 12, 16]
RING = 8


def photos() -> list[np.ndarray]:
    """Real photographs (scikit-image), float32 0..1."""
    from skimage import data

    return [np.asarray(f(), np.float32) / 255 for f in (data.astronaut, data.coffee, data.chelsea)]


def run(engine, img: np.ndarray, **kw) -> np.ndarray:
    from ganrt.runtime.tiling import upscale

    return upscale(engine, np.ascontiguousarray(img), out_dtype=np.float32, **kw)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """ganrt's PSNR (peak 1), 99 dB for identical outputs (the results are JSON: no Infinity)."""
    from ganrt.quality import psnr as psnr_db

    return min(99.0, psnr_db(a, b))


def context_rows(name: str, engine, imgs: list[np.ndarray]) -> list[dict]:
    """Largest change next to a cut with ``d`` pixels of real context beyond it."""
    s, rows = engine.scale, []
    worst = {d: 0.0 for d in CONTEXTS}
    for img in imgs:
        strip = img[100:148, 100:228]  # 48 × 128, the cut after column 64
        ref = run(engine, strip)
        for d in CONTEXTS:
            out = run(engine, strip[:, : 64 + d])
            worst[d] = max(worst[d], float(np.abs(out[:, 63 * s: 64 * s] - ref[:, 63 * s: 64 * s]).max()) * 255)
    for d in CONTEXTS:
        rows.append({"model": name, "context_px": d, "max_change_levels": round(worst[d], 2)})
        print(rows[-1], flush=True)
    return rows


def border_rows(name: str, engine, imgs: list[np.ndarray]) -> list[dict]:
    """PSNR of the outer ring of a region restored alone with mirror border ``b`` against real context."""
    s, rows = engine.scale, []
    ring = RING * s
    scores = {b: [] for b in BORDERS}
    for img in imgs:
        outer = img[68:196, 68:196]  # 128 × 128: a 64 × 64 region with 32 real pixels around it
        ref = run(engine, outer)[32 * s: 96 * s, 32 * s: 96 * s]
        mask = np.ones(ref.shape[:2], bool)
        mask[ring:-ring, ring:-ring] = False
        for b in BORDERS:
            out = run(engine, outer[32:96, 32:96], border=b)
            scores[b].append(psnr(out[mask], ref[mask]))
    for b in BORDERS:
        rows.append({"model": name, "mirror_border_px": b, "ring_psnr_db": round(float(np.mean(scores[b])), 2)})
        print(rows[-1], flush=True)
    return rows


def seam_rows(name: str, engine, imgs: list[np.ndarray]) -> list[dict]:
    """The tiler (tiles of 64, overlap ``pad``) against one whole call."""
    from ganrt.runtime.tiling import plan_axis

    rows = []
    for pad in PADS:
        scores, worst, ratio = [], 0.0, []
        for img in imgs:
            crop = img[40:200, 40:280]  # 160 × 240
            whole, tiled = run(engine, crop), run(engine, crop, tile=64, pad=pad)
            scores.append(psnr(tiled, whole))
            worst = max(worst, float(np.abs(tiled - whole).max()) * 255)
            ys, xs = plan_axis(160, 64, pad), plan_axis(240, 64, pad)
            ratio.append(len(ys) * ys[0].length * len(xs) * xs[0].length / (160 * 240))
        rows.append({"model": name, "pad": pad, "psnr_vs_whole_db": round(float(np.mean(scores)), 2),
                     "max_change_levels": round(worst, 2), "pixels_run_ratio": round(float(np.mean(ratio)), 3)})
        print(rows[-1], flush=True)
    return rows


def plan_rows(name: str, engine, model) -> list[dict]:
    """A 640 × 480 photo in one call, in the tiles of the photo allowance, and in tiles of 160."""
    import time

    from PIL import Image
    from skimage import data

    from ganrt.runtime.memory import CPU_BUDGET, PHOTO_BUDGET, TilePolicy, activation_bytes_per_pixel
    from ganrt.runtime.tiling import DEFAULT_PAD, tile_shape

    img = np.asarray(Image.fromarray(data.coffee()).resize((640, 480), Image.LANCZOS), np.float32) / 255
    photo = TilePolicy(None, activation_bytes_per_pixel(model), CPU_BUDGET, max(1, model.size_multiple),
                       PHOTO_BUDGET).for_image(480, 640, engine.scale)
    rows, whole = [], None
    for label, tile in (("whole", 0), ("photo allowance (1.25 GB)", photo), ("tiles of 160", 160)):
        t0 = time.perf_counter()
        out = run(engine, img, tile=tile)
        seconds = time.perf_counter() - t0
        whole = out if whole is None else whole
        count, th, tw = tile_shape(480, 640, tile, DEFAULT_PAD, multiple=model.size_multiple)
        rows.append({"model": name, "plan": label, "tiles": f"{count} of {tw}x{th}",
                     "pixels_run_ratio": round(count * th * tw / (480 * 640), 3), "seconds": round(seconds, 1),
                     "psnr_vs_whole_db": round(psnr(out, whole), 2),
                     "max_change_levels": round(float(np.abs(out - whole).max()) * 255, 2)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    import argparse

    from ganrt.models import load_model
    from ganrt.runtime.registry import create_engine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--plans", action="store_true", help="only the 640 × 480 plans (minutes for x4plus)")
    args = parser.parse_args()
    names = [m for m in args.models.split(",") if m]
    if args.plans:
        plans = []
        for name in names:
            model = load_model(name)
            with create_engine(model, backend="openvino", device="cpu", precision="fp32") as engine:
                plans += plan_rows(name, engine, model)
        write("tile_plans", plans, ["model", "plan", "tiles", "pixels_run_ratio", "seconds", "psnr_vs_whole_db",
                                    "max_change_levels"],
              "A 640 × 480 photo: tiles of the photo allowance and tiles of 160 against one whole call",
              "OpenVINO fp32, one run each; seconds include the tiler's blending.")
        return
    imgs = photos()
    context, borders, seams = [], [], []
    for name in names:
        with create_engine(load_model(name), backend="openvino", device="cpu", precision="fp32") as engine:
            context += context_rows(name, engine, imgs)
            borders += border_rows(name, engine, imgs)
            seams += seam_rows(name, engine, imgs)
    write("tile_context", context, ["model", "context_px", "max_change_levels"],
          "Context beyond a cut: largest change of the output next to it (8-bit levels, worst of 3 photos)",
          "context_px: real input pixels beyond the cut; the change is measured over the last input column "
          "before it, against the output with the whole photo there.")
    write("tile_borders", borders, ["model", "mirror_border_px", "ring_psnr_db"],
          "Mirror border at the image's edge: PSNR of the outer 8-pixel ring against real context (mean of 3)",
          "0 = no padding: the network's own zero padding.")
    write("tile_seams", seams, ["model", "pad", "psnr_vs_whole_db", "max_change_levels", "pixels_run_ratio"],
          "Tiles of 64 with overlap pad against one whole call (160 × 240 crops of 3 photos)",
          "Each kept pixel has at least pad/2 pixels of context; pixels_run_ratio: engine pixels ÷ photo pixels.")


if __name__ == "__main__":
    main()
