"""Run an engine over images of any size: overlapping tiles, seamless blends, borders as measured.

Layout along each axis (input pixels): the image is mirror-padded by
``border`` at its edges, then covered by tiles of equal length
``tile + 2*pad`` (equal sizes let tiles batch together). Two neighbouring
tiles overlap by at least ``2*pad``; their outputs meet in a blend zone
``±pad/2`` around the middle of the overlap, weighted by complementary
sin²/cos² ramps that sum exactly to one, so no seam is visible and every kept
output pixel inside the image has at least ``pad/2`` input pixels of context.

``border`` defaults to 0: measured against the same regions restored inside
their photos (32 real pixels around), mirror padding made the outer 8-pixel
ring *worse*, not better (compact: 40.9 dB with none, 38.8–39.0 dB with
4–16 px; x4plus: 34.6 dB with none, 32.8–33.3 dB with 4–16 px;
benchmarks/tile_context.py, results/tile_borders.md), and 16 px of it cost a
160 × 120 photo 1.52× the pixels. The networks' own zero padding is the
better guess at what lies beyond the edge.

Tiles are as short as their count allows (overlaps of exactly ``2*pad``,
rounded up to the network's size step): fewer pixels run twice.

Memory follows the tile, not the image: tiles are processed one tile row at
a time, the float accumulator spans one band of output rows, and finished
rows are quantised straight into the output array.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_PAD = 16  # context between tiles
DEFAULT_BORDER = 0  # mirror padding at the image's edges (see the module docstring)
QUANTIZE_ROWS = 64


@dataclass(frozen=True)
class AxisTile:
    start: int  # first input pixel of the tile, in padded coordinates
    length: int  # tile length in input pixels
    keep_lo: int  # kept region [keep_lo, keep_hi), padded coordinates
    keep_hi: int
    ramp_lo: int  # blend half-width at keep_lo (0 at the image border)
    ramp_hi: int


def min_tile(pad: int) -> int:
    """The smallest tile that keeps blend ramps of three neighbouring tiles apart."""
    return max(32, 4 * (pad // 2))


def tile_length(total: int, count: int, pad: int, most: int, multiple: int = 1) -> int:
    """The shortest equal tile length (a multiple of ``multiple``, at most ``most``) with which ``count`` tiles
    cover ``total`` pixels, evenly spread, every neighbour overlapping by at least ``2*pad``."""
    length = -(-(total + (count - 1) * 2 * pad) // count)
    length = -(-length // multiple) * multiple
    while length < most and length - math.ceil((total - length) / (count - 1)) < 2 * pad:  # rounded starts
        length += multiple
    return min(length, most)


def plan_axis(n: int, tile: int, pad: int, border: int = DEFAULT_BORDER, multiple: int = 1) -> list[AxisTile]:
    """Tiles covering an axis of ``n`` input pixels, in coordinates padded by ``border`` (see the module
    docstring). ``tile`` bounds the tiles' count (neighbours step at most ``tile``); their length is then
    the least that covers the axis with that count, rounded up to ``multiple`` (the network's size step)."""
    total = n + 2 * border
    if tile <= 0 or n <= tile:
        return [AxisTile(0, total, border, border + n, 0, 0)]
    tile = max(tile, min_tile(pad))
    if n <= tile:
        return [AxisTile(0, total, border, border + n, 0, 0)]
    length = tile + 2 * pad
    if total <= length:  # the whole padded axis fits in one tile
        return [AxisTile(0, total, border, border + n, 0, 0)]
    count = 1 + math.ceil((total - length) / tile)  # neighbours step at most ``tile``: overlap ≥ 2·pad
    length = tile_length(total, count, pad, length, max(1, multiple))
    starts = [round(i * (total - length) / (count - 1)) for i in range(count)]
    bounds = [(starts[i + 1] + starts[i] + length) // 2 for i in range(count - 1)]
    half = pad // 2
    tiles = []
    for i, start in enumerate(starts):
        first, last = i == 0, i == count - 1
        tiles.append(AxisTile(
            start=start,
            length=length,
            keep_lo=border if first else bounds[i - 1] - half,
            keep_hi=border + n if last else bounds[i] + half,
            ramp_lo=0 if first else half,
            ramp_hi=0 if last else half,
        ))
    return tiles


def axis_weights(t: AxisTile, scale: int) -> np.ndarray:
    """Blend weights over the kept region of a tile, in output pixels."""
    w = np.ones((t.keep_hi - t.keep_lo) * scale, dtype=np.float32)
    for ramp, at_start in ((t.ramp_lo, True), (t.ramp_hi, False)):
        if ramp:
            width = 2 * ramp * scale
            phase = (np.arange(width, dtype=np.float64) + 0.5) / width * (np.pi / 2)
            ramp_w = (np.sin(phase) ** 2 if at_start else np.cos(phase) ** 2).astype(np.float32)
            if at_start:
                w[:width] = ramp_w
            else:
                w[-width:] = ramp_w
    return w


def _mirror_index(n: int, pad: int) -> np.ndarray:
    return np.pad(np.arange(n), pad, mode="reflect" if n > 1 else "edge")


def maxval_for(dtype: np.dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype.kind == "f":
        return 1.0
    raise ValueError(f"unsupported pixel type {dtype}")


def quantize(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float 0..1 → ``dtype`` pixels (clamped, rounded)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.clip(values, 0.0, 1.0).astype(dtype, copy=False)
    scaled = np.clip(values, 0.0, 1.0) * np.float32(maxval_for(dtype))
    scaled += np.float32(0.5)
    return scaled.astype(dtype)


def tile_count(height: int, width: int, tile: int, pad: int = DEFAULT_PAD, border: int = DEFAULT_BORDER) -> int:
    """How many engine tiles one image of height × width takes (for progress bars)."""
    return tile_shape(height, width, tile, pad, border)[0]


def tile_shape(height: int, width: int, tile: int, pad: int = DEFAULT_PAD, border: int = DEFAULT_BORDER,
               multiple: int = 1) -> tuple[int, int, int]:
    """(tiles, tile height, tile width) in input pixels: what one image of height × width costs the engine."""
    ys, xs = plan_axis(height, tile, pad, border, multiple), plan_axis(width, tile, pad, border, multiple)
    return len(ys) * len(xs), ys[0].length, xs[0].length


def upscale(engine, images: np.ndarray, *, tile: int = 0, pad: int = DEFAULT_PAD, batch: int = 4,
            out_dtype=None, on_tiles: Callable[[int], None] | None = None,
            border: int = DEFAULT_BORDER) -> np.ndarray:
    """Restore ``images`` (H,W,C or N,H,W,C; uint8, uint16 or float 0..1) with ``engine``.

    ``tile=0`` runs each whole (mirror-padded) image in one call. Returns the
    upscaled images in ``out_dtype`` (default: the input's dtype).
    ``on_tiles(k)`` is called after every engine call with the number of tiles done.

    One function on purpose: the whole-image path and the banded, blended path share the gather (``tiles_of``)
    and crop closures over a dozen of the image's figures; the hot loops read them without passing them on.
    """
    single = images.ndim == 3
    if single:
        images = images[None]
    n_img, h, w, c = images.shape
    if c != engine.channels:
        raise ValueError(f"model expects {engine.channels} channels, image has {c}")
    out_dtype = np.dtype(out_dtype or images.dtype)
    maxval = maxval_for(images.dtype)
    s = engine.scale
    m = engine.spec.size_multiple
    ys, xs = plan_axis(h, tile, pad, border, m), plan_axis(w, tile, pad, border, m)
    iy_all, ix_all = _mirror_index(h, border), _mirror_index(w, border)
    out = np.empty((n_img, h * s, w * s, engine.spec.out_channels), dtype=out_dtype)
    batch = max(1, batch)

    def tiles_of(ty: AxisTile, tx: AxisTile, idx: list[int]) -> np.ndarray:
        iy = iy_all[ty.start: ty.start + ty.length]
        ix = ix_all[tx.start: tx.start + tx.length]
        if len(iy) == h and len(ix) == w and border == 0:  # the whole image, unpadded: no gather
            return images[idx[0]: idx[-1] + 1]
        return np.stack([images[i].take(iy, axis=0).take(ix, axis=1) for i in idx])  # 4× a 2-D index

    def crop(res: np.ndarray, ty: AxisTile, tx: AxisTile) -> np.ndarray:
        y0, x0 = (ty.keep_lo - ty.start) * s, (tx.keep_lo - tx.start) * s
        return res[..., y0: y0 + (ty.keep_hi - ty.keep_lo) * s, x0: x0 + (tx.keep_hi - tx.keep_lo) * s, :]

    if len(ys) == 1 and len(xs) == 1:  # whole images: no blending, quantise directly
        for i0 in range(0, n_img, batch):
            idx = list(range(i0, min(i0 + batch, n_img)))
            kept = crop(engine.infer_pixels(tiles_of(ys[0], xs[0], idx), maxval, out_dtype), ys[0], xs[0])
            if kept.shape == out.shape and kept.dtype == out_dtype and kept.flags.c_contiguous:
                return kept[0] if single else kept  # one call, nothing cut: its result is the output (no copy)
            out[i0: i0 + len(idx)] = kept if kept.dtype == out_dtype else quantize(kept, out_dtype)
            if on_tiles:
                on_tiles(len(idx))
        return out[0] if single else out

    wx = [axis_weights(tx, s) for tx in xs]
    off = border * s  # padded output coordinates → output coordinates
    carry: np.ndarray | None = None  # rows of the previous band still waiting for this row's blend
    band_lo = 0
    for j, ty in enumerate(ys):
        lo, hi = ty.keep_lo * s, ty.keep_hi * s
        if carry is None:
            band_lo = lo
        band = np.zeros((n_img, hi - band_lo, w * s, out.shape[3]), np.float32)
        if carry is not None:
            band[:, : carry.shape[1]] = carry
            carry = None
        wy = axis_weights(ty, s)[:, None, None]
        jobs = [(i, k) for k in range(len(xs)) for i in range(n_img)]
        for b0 in range(0, len(jobs), batch):
            chunk = jobs[b0: b0 + batch]
            tiles = np.concatenate([tiles_of(ty, xs[k], [i]) for i, k in chunk])
            res = engine.infer_pixels(tiles, maxval)
            for (i, k), r in zip(chunk, res):
                tx = xs[k]
                x0, x1 = tx.keep_lo * s - off, tx.keep_hi * s - off
                kept = crop(r, ty, tx)
                kept *= wy
                kept *= wx[k][None, :, None]
                band[i, lo - band_lo: hi - band_lo, x0:x1] += kept
            del res, tiles
            if on_tiles:
                on_tiles(len(chunk))
        done_hi = ys[j + 1].keep_lo * s if j + 1 < len(ys) else hi
        for r0 in range(0, done_hi - band_lo, QUANTIZE_ROWS):  # row chunks: no full-band temporaries
            r1 = min(r0 + QUANTIZE_ROWS, done_hi - band_lo)
            out[:, band_lo - off + r0: band_lo - off + r1] = quantize(band[:, r0:r1], out_dtype)
        if done_hi < hi:
            carry = band[:, done_hi - band_lo:].copy()  # a copy, so the finished band is freed
        del band
        band_lo = done_hi
    return out[0] if single else out


def fit_tile(tile: int, height: int, width: int, pad: int, limit: tuple[int, int] | None,
             border: int = DEFAULT_BORDER) -> int:
    """Shrink ``tile`` (0 = whole image) so that every engine call stays within ``limit`` (H, W)."""
    if limit is None:
        return tile
    side = max(16, min(limit) - 2 * pad)
    if tile == 0:
        return 0 if height + 2 * border <= limit[0] and width + 2 * border <= limit[1] else side
    return min(tile, side)
