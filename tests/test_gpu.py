"""CUDA and TensorRT paths: run where a GPU (and TensorRT) exist, skip with the reason elsewhere.
The device-side pixel conversion they share is also checked on the CPU."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
import torch

from conftest import psnr, to_nchw, torch_cuda
from ganrt.kinds import ModelSpec
from ganrt.runtime.cuda_pixels import download, upload
from ganrt.runtime.registry import create_engine
from ganrt.runtime.tiling import upscale

needs_cuda = pytest.mark.skipif(not torch_cuda(), reason="no CUDA GPU on this machine")
needs_trt = pytest.mark.skipif(not torch_cuda() or importlib.util.find_spec("tensorrt") is None,
                               reason="TensorRT and a CUDA GPU are needed (TensorRT is not installable here)")


def test_pixel_conversion_round_trip_on_cpu(photos):
    tiles = np.stack([photos["chelsea_45x59"][:40, :50]] * 2)
    x, size = upload(tiles, 255.0, "cpu", torch.float32, ModelSpec("t", 1, 3, 3, size_multiple=8, min_size=48))
    assert tuple(x.shape) == (2, 3, 48, 56) and size == (40, 50)
    np.testing.assert_allclose(x[0, :, :40, :50].numpy().transpose(1, 2, 0), tiles[0] / 255.0, atol=1e-6)
    y = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    y[1, 0, 0, 0] = float("nan")
    out, finite = download(y, size, 2)
    assert out.shape == (2, 80, 100, 3) and list(finite) == [True, False]
    assert 0.0 <= np.nanmin(out) and np.nanmax(out) <= 1.0


def test_sixteen_bit_tiles_reach_a_half_precision_engine_finite(photos):
    """fp16 ends at 65504: 16-bit pixels are scaled before they are narrowed, or white becomes inf."""
    tiles = (photos["chelsea_45x59"][None].astype(np.uint16) * 257)
    tiles[0, 0, 0] = 65535
    x, _ = upload(tiles, 65535.0, "cpu", torch.float16, ModelSpec("t", 1, 3, 3))
    assert x.dtype == torch.float16 and torch.isfinite(x).all()
    np.testing.assert_allclose(x[0].float().numpy().transpose(1, 2, 0), tiles[0] / 65535.0, atol=1e-3)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[needs_cuda, pytest.mark.cuda])])
@pytest.mark.parametrize("size", [(7, 9), (20, 5), (40, 50)])
def test_one_pad_rule_for_host_and_device_engines(photos, device, size):
    """An input under a model's minimum size (Real-CUGAN's 32 px, a user file's multiple) gets the same
    borders whether the engine pads it on the host (numpy) or on the device (the CUDA pixel path)."""
    from ganrt.runtime.base import Engine, pad_rule

    spec = ModelSpec("pad-check", 1, 3, 3, size_multiple=8, min_size=32)
    h, w = size
    tiles = np.ascontiguousarray(photos["astronaut_77x131"][None, :h, :w])

    class Host(Engine):
        backend = "host"

        def _infer(self, inputs):
            self.seen = inputs[0]
            return inputs[0]

    host = Host(spec, precision="fp32", device="cpu")
    host.infer(tiles.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    on_device, unpadded = upload(tiles, 255.0, device, torch.float32, spec)
    assert unpadded == (h, w) and pad_rule(spec, h, w)[2] == ("reflect" if h > 24 and w > 14 else "edge")
    np.testing.assert_allclose(on_device.cpu().numpy(), host.seen, atol=1e-7)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[needs_cuda, pytest.mark.cuda])])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_pixels_quantised_on_the_device_equal_the_host_quantiser(device, dtype):
    """8- and 16-bit outputs are quantised where the pixels are, to the very values the tiler's
    host quantiser gives, out of range and half-way values included."""
    from ganrt.runtime.tiling import quantize

    gen = torch.Generator().manual_seed(0)
    y = (torch.rand(2, 3, 20, 24, generator=gen) * 1.4 - 0.2)
    y[0, 0, 0, :4] = torch.tensor([0.5 / 255, 1.5 / 255, 254.5 / 255, 1.0])
    y = y.to(device, torch.float16)
    floats, finite = download(y, (9, 11), 2)
    pixels, _ = download(y, (9, 11), 2, dtype)
    assert pixels.dtype == dtype and pixels.shape == (2, 18, 22, 3) and list(finite) == [True, True]
    np.testing.assert_array_equal(pixels, quantize(floats, dtype))


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16", "fp32"])
def test_torch_cuda_matches_cpu(precision, photos, load):
    model = load("realesr-animevideov3")
    x = to_nchw(photos["astronaut_77x131"])
    with create_engine(model, backend="torch", device="cpu", precision="fp32") as ref:
        want = ref.infer(x)
    with create_engine(model, backend="torch", device="cuda", precision=precision) as gpu:
        got = gpu.infer(x)
        tiled = upscale(gpu, photos["astronaut_77x131"], tile=48)
        whole = upscale(gpu, photos["astronaut_77x131"])  # quantised on the device
    with create_engine(model, backend="torch", device="cpu", precision="fp32") as ref:
        whole_ref = upscale(ref, photos["astronaut_77x131"])
    assert psnr(np.clip(got, 0, 1), np.clip(want, 0, 1)) >= (60 if precision == "fp32" else 40)
    assert tiled.shape == (77 * 4, 131 * 4, 3)
    assert whole.dtype == np.uint8 and psnr(whole / 255.0, whole_ref / 255.0) >= (50 if precision == "fp32" else 38)


@needs_trt
@pytest.mark.tensorrt
def test_tensorrt_engine_builds_once_and_matches(tmp_path, photos, load):
    from ganrt.export.trt_profiles import Profile
    from ganrt.runtime.trt_backend import TrtEngine

    model = load("realesr-animevideov3")
    profile = Profile.from_hw((16, 16), (128, 128), (256, 256))
    x = to_nchw(photos["astronaut_77x131"])
    with create_engine(model, backend="torch", device="cpu", precision="fp32") as ref:
        want = ref.infer(x)
    engine = TrtEngine.from_model(model, precision="fp16", profiles=[profile], cache_dir=tmp_path)
    got = engine.infer(x)
    assert psnr(np.clip(got, 0, 1), np.clip(want, 0, 1)) >= 40
    start = time.perf_counter()
    again = TrtEngine.from_model(model, precision="fp16", profiles=[profile], cache_dir=tmp_path, streams=1)
    assert time.perf_counter() - start < 1.0  # reused, not rebuilt
    assert len(list(tmp_path.glob("*.engine"))) == 1
    two = TrtEngine.from_model(model, precision="fp16", profiles=[profile], cache_dir=tmp_path, streams=2)
    batch = np.concatenate([x, x[:, :, ::-1].copy(), x, x])
    out = two.infer(batch)
    np.testing.assert_allclose(out[0], out[2], atol=1e-3)
    assert again.max_input_hw == (256, 256)


def test_hidden_gpus_are_not_probed():
    """CUDA_VISIBLE_DEVICES empty or -1 hides the GPUs: ganrt takes the CPU without importing torch
    to ask (on a GPU machine that import and CUDA's start cost seconds per command)."""
    import os
    import subprocess
    import sys

    code = "import sys; from ganrt.machine import cuda_available; print(cuda_available(), 'torch' in sys.modules)"
    for hidden in ("", "-1"):
        run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CUDA_VISIBLE_DEVICES": hidden},
                             capture_output=True, text=True, check=True)
        assert run.stdout.split() == ["False", "False"]
