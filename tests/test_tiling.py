"""Tiling: blend weights sum to one, context at every seam, tiled ≈ untiled on real photos."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import psnr
from ganrt.runtime import memory
from ganrt.runtime.registry import create_engine
from ganrt.runtime.memory import (CPU_BUDGET, PHOTO_BUDGET, WHOLE_RUN_BUDGET, TilePolicy,
                                  activation_bytes_per_pixel, share_memory_among)
from ganrt.runtime.tiling import axis_weights, min_tile, plan_axis, tile_shape, upscale


@pytest.mark.parametrize("n", [1, 5, 31, 64, 65, 129, 200, 513, 1000])
@pytest.mark.parametrize("tile", [0, 32, 48, 100, 256])
@pytest.mark.parametrize("pad", [4, 16])
@pytest.mark.parametrize("border", [0, 16])
def test_axis_plan_weights_sum_to_one(n, tile, pad, border):
    scale = 2
    tiles = plan_axis(n, tile, pad, border)
    total = np.zeros((n + 2 * border) * scale, np.float64)
    for t in tiles:
        assert t.length == tiles[0].length  # equal tiles batch together
        assert 0 <= t.start and t.start + t.length <= n + 2 * border
        assert t.keep_lo >= border and t.keep_hi <= border + n
        if t.ramp_lo:  # seams keep at least pad/2 of context on both sides
            assert t.keep_lo - t.start >= pad // 2
        if t.ramp_hi:
            assert t.start + t.length - t.keep_hi >= pad // 2
        total[t.keep_lo * scale: t.keep_hi * scale] += axis_weights(t, scale)
    image = total[border * scale: (border + n) * scale]
    np.testing.assert_allclose(image, 1.0, atol=1e-6)
    assert not total[: border * scale].any() and not total[(border + n) * scale:].any()
    if tile and n > max(tile, min_tile(pad)) and n + 2 * border > max(tile, min_tile(pad)) + 2 * pad:
        assert len(tiles) > 1


@pytest.mark.parametrize("n", [65, 129, 200, 480, 513, 640, 1000])
@pytest.mark.parametrize("tile", [32, 48, 100, 160, 320])
@pytest.mark.parametrize("pad", [4, 16])
@pytest.mark.parametrize("multiple", [1, 4, 8])
def test_tiles_are_as_short_as_their_count_allows(n, tile, pad, multiple):
    tiles = plan_axis(n, tile, pad, 0, multiple)
    count, length = len(tiles), tiles[0].length
    if count == 1:
        return
    assert length <= max(tile, min_tile(pad)) + 2 * pad
    if length < max(tile, min_tile(pad)) + 2 * pad:
        assert length % multiple == 0
        # one step shorter and the same count could not cover the axis with 2·pad overlaps
        assert count * (length - multiple) < n + (count - 1) * 2 * pad or \
            length - multiple - -(-(n - length + multiple) // (count - 1)) < 2 * pad
    for a, b in zip(tiles, tiles[1:]):
        assert a.start + a.length - b.start >= 2 * pad


def test_auto_tiles_spend_the_allowance_on_fewer_overlaps(load):
    """A photo too big to run whole takes the fewest engine pixels within the whole-image allowance; a
    scan's tiles stay within the tile budget."""
    per_px = activation_bytes_per_pixel(load("RealESRGAN_x4plus"))
    policy = TilePolicy(None, per_px, CPU_BUDGET, 1, PHOTO_BUDGET)  # no whole-run allowance beyond the photo's
    assert policy.for_image(240, 320, 4) == 0  # 0.9 GB: whole
    tile = policy.for_image(480, 640, 4)
    count, th, tw = tile_shape(480, 640, tile)
    held = 2 * 480 * 640 * 3 * 17
    assert count == 4 and policy.cost(tile, 480, 640, 4) + held <= PHOTO_BUDGET
    assert count * th * tw / (480 * 640) < 1.15  # 3 × 4 tiles of 192 ran 1.44× the pixels
    scan = policy.for_image(3000, 4000, 4)
    assert 0 < scan and policy.cost(scan, 3000, 4000, 4) <= CPU_BUDGET
    # a whole-run allowance buys the whole photo (no seams), never bigger tiles for a scan
    roomy = TilePolicy(None, per_px, CPU_BUDGET, 1, PHOTO_BUDGET, WHOLE_RUN_BUDGET)
    assert roomy.for_image(480, 640, 4) == 0 and roomy.for_image(600, 800, 4) == policy.for_image(600, 800, 4) > 0
    assert roomy.for_image(3000, 4000, 4) == scan
    share_memory_among(4)  # one of four Ray actors on a node: a quarter of the allowances each
    try:
        assert roomy.for_image(480, 640, 4) > 0 and roomy.for_image(3000, 4000, 4) == scan
    finally:
        share_memory_among(1)


def test_the_memory_bound_is_read_where_tiles_are_planned(load, monkeypatch):
    """A policy made on a Ray driver carries the allowances, not the driver's free memory: an actor plans
    within a quarter of what its own node has available."""
    policy = pickle.loads(pickle.dumps(TilePolicy.auto(load("RealESRGAN_x4plus"))))
    assert (policy.photo_budget, policy.whole_budget, policy.bounded) == (PHOTO_BUDGET, WHOLE_RUN_BUDGET, True)
    here = memory.memory_quarter()
    assert here > 0
    read_here = TilePolicy(None, policy.act_bytes_per_px, CPU_BUDGET, 1, min(PHOTO_BUDGET, here),
                           min(WHOLE_RUN_BUDGET, here))
    sizes = [(240, 320), (480, 640), (600, 800), (3000, 4000)]
    assert [policy.for_image(h, w, 4) for h, w in sizes] == [read_here.for_image(h, w, 4) for h, w in sizes]
    # on a node with 1 GB available (a quarter: 256 MB) only the tile budget is left
    monkeypatch.setattr(memory, "memory_quarter", lambda: 256 << 20)
    budget_only = TilePolicy(None, policy.act_bytes_per_px, CPU_BUDGET, 1)
    assert [policy.for_image(h, w, 4) for h, w in sizes] == [budget_only.for_image(h, w, 4) for h, w in sizes]
    assert policy.for_image(240, 320, 4) > 0


@pytest.mark.parametrize("model", ["realesr-animevideov3", "RealESRGAN_x4plus_anime_6B"])
def test_tiled_matches_untiled_on_a_real_photo(model, photos, load):
    img = photos["astronaut_77x131"]
    with create_engine(load(model), backend="onnxruntime", device="cpu", precision="fp32") as engine:
        whole = upscale(engine, img, tile=0)
        tiled = upscale(engine, img, tile=48, batch=3)
    assert whole.shape == tiled.shape == (77 * 4, 131 * 4, 3)
    assert whole.dtype == tiled.dtype == np.uint8
    # tiles overlap by 2·pad (each kept pixel has ≥ pad/2 of context); the RRDB networks see further than
    # that (benchmarks/results/tile_context.md), so their seams are near, not bit, identical
    assert psnr(tiled, whole, 255) >= 48


def test_batch_size_does_not_change_the_result(photos, load):
    img = photos["coffee_61x93"]
    with create_engine(load("realesr-animevideov3"), backend="torch", device="cpu", precision="fp32") as engine:
        one = upscale(engine, img, tile=32, batch=1)
        many = upscale(engine, img, tile=32, batch=8)
    assert np.abs(one.astype(int) - many).max() <= 1


def test_16bit_and_multi_image_inputs(photos, load):
    img16 = photos["chelsea_45x59"].astype(np.uint16) * 257
    with create_engine(load("realesr-animevideov3"), backend="torch", device="cpu", precision="fp32") as engine:
        out16 = upscale(engine, img16, tile=32)
        out8 = upscale(engine, photos["chelsea_45x59"], tile=32)
        frames = upscale(engine, np.stack([photos["chelsea_45x59"]] * 3), tile=0, batch=2)
    assert out16.dtype == np.uint16 and out16.shape == (180, 236, 3)
    assert np.abs(out16 / 257.0 - out8).max() <= 1.0
    assert frames.shape == (3, 180, 236, 3) and np.abs(frames[0].astype(int) - frames[2]).max() <= 1
