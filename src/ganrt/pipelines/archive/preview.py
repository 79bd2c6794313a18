"""A contact sheet to check a run before trusting it: input (bicubic to the output size) beside output."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrt.fsutil import atomic_path
from ganrt.pipelines.imageio.read import read_image
from ganrt.pipelines.imageio.samples import to_8bit

ROW_HEIGHT = 320
MAX_PANEL_WIDTH = 1600  # a 1×100000 strip is shown squeezed into this, not 32 million pixels wide
FULL_RES_LIMIT = 16_000_000  # above this many output pixels, resize the input straight to display size


def _display_rgb(path: Path) -> np.ndarray:
    img = read_image(path)
    px = to_8bit(img.pixels) if img.pixels.dtype == np.uint16 else img.pixels
    return np.repeat(px[..., None], 3, axis=2) if px.ndim == 2 else px


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    """``img`` at ``height`` rows, and at most MAX_PANEL_WIDTH columns wide."""
    import cv2

    h, w = img.shape[:2]
    width = min(MAX_PANEL_WIDTH, max(1, round(w * height / h)))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_CUBIC)


def contact_sheet(pairs: list[tuple[Path, Path]], dest: Path, *, count: int = 6, row_height: int = ROW_HEIGHT) -> Path:
    """Write a PNG with one row per (input, output) pair: input upscaled bicubic | output, with names."""
    import cv2

    rows = []
    for src, out in pairs[:count]:
        restored = _display_rgb(out)
        original = _display_rgb(src)
        oh, ow = restored.shape[:2]
        if oh * ow <= FULL_RES_LIMIT and min(oh, ow) > 0 and max(oh, ow) / min(oh, ow) < 64:
            upscaled = cv2.resize(original, (ow, oh), interpolation=cv2.INTER_CUBIC)
            left, right = _fit(upscaled, row_height), _fit(restored, row_height)
        else:
            right = _fit(restored, row_height)
            left = cv2.resize(original, (right.shape[1], row_height), interpolation=cv2.INTER_CUBIC)
        name = src.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        rows.append((name, np.hstack([left, np.full((row_height, 6, 3), 255, np.uint8), right])))
    return _save_sheet(rows, dest, "left: input, bicubic | right: restored", row_height)


def _save_sheet(rows: list[tuple[str, np.ndarray]], dest: Path, caption: str, row_height: int) -> Path:
    from PIL import Image, ImageDraw, PngImagePlugin

    from ganrt.pipelines.archive.plan import PREVIEW_MARK

    if not rows:
        raise ValueError("no images to preview")
    label_h = 22
    width = max(r.shape[1] for _, r in rows)
    sheet = Image.new("RGB", (width, sum(row_height + label_h for _ in rows)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for name, row in rows:
        draw.text((4, y + 4), f"{name}   ({caption})", fill="black")
        sheet.paste(Image.fromarray(row), (0, y + label_h))
        y += row_height + label_h
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", PREVIEW_MARK)  # lets a rerun replace its own sheet without --overwrite
    with atomic_path(dest) as tmp:
        sheet.save(tmp, format="PNG", pnginfo=info)
    return dest


def repair_sheet(pairs: list[tuple[Path, Path]], masks: dict[Path, np.ndarray], dest: Path, *, count: int = 6,
                 row_height: int = ROW_HEIGHT) -> Path:
    """A PNG with one row per repaired photo: damaged | mask (white = filled) | repaired."""
    rows = []
    gap = np.full((row_height, 6, 3), 255, np.uint8)
    for src, out in pairs[:count]:
        damaged, repaired = _fit(_display_rgb(src), row_height), _fit(_display_rgb(out), row_height)
        mask = masks.get(src)
        panels = [damaged]
        if mask is not None:
            import cv2

            shown = cv2.resize(mask, (damaged.shape[1], row_height), interpolation=cv2.INTER_AREA)
            panels.append(np.repeat(np.where(shown > 0, 255, 40).astype(np.uint8)[..., None], 3, axis=2))
        panels.append(repaired)
        row = np.hstack([p for panel in panels for p in (panel, gap)][:-1])
        rows.append((src.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), row))
    return _save_sheet(rows, dest, "damaged | mask | repaired", row_height)
