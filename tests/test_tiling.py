"""Tiling: blend weights sum to one, context at every seam, tiled ≈ untiled on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import psnr
from ganrt.runtime.registry import create_engine
from ganrt.runtime.tiling import axis_weights, min_tile, plan_axis, upscale


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


@pytest.mark.parametrize("model", ["realesr-animevideov3", "RealESRGAN_x4plus_anime_6B"])
def test_tiled_matches_untiled_on_a_real_photo(model, photos, load):
    img = photos["astronaut_77x131"]
    with create_engine(load(model), backend="onnxruntime", device="cpu", precision="fp32") as engine:
        whole = upscale(engine, img, tile=0)
        tiled = upscale(engine, img, tile=48, batch=3)
    assert whole.shape == tiled.shape == (77 * 4, 131 * 4, 3)
    assert whole.dtype == tiled.dtype == np.uint8
    assert psnr(tiled, whole, 255) >= 50


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
