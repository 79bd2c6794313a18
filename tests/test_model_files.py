"""User model files load through spandrel; unsafe, corrupt and unknown files are refused clearly."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import to_nchw
from ganrt.errors import ModelLoadError, UnknownModelError, UnsafeCheckpointError
from ganrt.models import load_model
from ganrt.runtime.registry import create_engine


@pytest.fixture(scope="module")
def compact_state(load):
    return {k: v.clone() for k, v in load("realesr-animevideov3").module.state_dict().items()}


@pytest.fixture(scope="module")
def upstream_state():
    """The built-in compact weights under their public Real-ESRGAN key names, as a release .pth holds them."""
    from ganrt.models.registry import get_builtin
    from ganrt.models.zoo import builtin_state_dict

    state, _ = builtin_state_dict(get_builtin("realesr-animevideov3"))
    return state


def test_pth_with_params_ema_wrapper_loads_and_runs(tmp_path, upstream_state, photos, load):
    path = tmp_path / "realesr-animevideov3.pth"
    torch.save({"params_ema": upstream_state}, path)
    model = load_model(str(path))
    assert (model.arch, model.scale, model.in_channels, model.builtin) == ("RealESRGAN Compact", 4, 3, False)
    x = to_nchw(photos["chelsea_45x59"])
    with create_engine(model, backend="torch", device="cpu", precision="fp32") as mine, \
            create_engine(load("realesr-animevideov3"), backend="torch", device="cpu", precision="fp32") as builtin:
        np.testing.assert_allclose(mine.infer(x), builtin.infer(x), atol=1e-6)


def test_safetensors_file_loads(tmp_path, upstream_state):
    path = tmp_path / "compact.safetensors"
    save_file({k: v.contiguous() for k, v in upstream_state.items()}, str(path))
    model = load_model(str(path))
    assert model.scale == 4 and len(model.checksum) == 64


@pytest.mark.parametrize("arch", ["SPAN", "SwinIR"])
def test_other_architectures_are_detected_by_spandrel(tmp_path, arch):
    if arch == "SPAN":
        from spandrel.architectures.SPAN import SPAN

        net = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2)
    else:
        from spandrel.architectures.SwinIR import SwinIR

        net = SwinIR(upscale=2, img_size=16, window_size=8, embed_dim=24, depths=[2], num_heads=[2],
                     upsampler="pixelshuffledirect")
    path = tmp_path / f"{arch}.pth"
    torch.save(net.state_dict(), path)
    model = load_model(str(path))
    assert model.scale == 2 and arch.lower() in model.arch.lower()


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"params": Payload(marker)}, fh)
    torch.save({"params": Payload(marker)}, tmp_path / "evil_zip.pth")
    for p in (path, tmp_path / "evil_zip.pth"):
        with pytest.raises(UnsafeCheckpointError, match="nothing in it was run"):
            load_model(str(p))
    assert not marker.exists()


def test_corrupt_and_unknown_files(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip" * 10)
    with pytest.raises(ModelLoadError, match="corrupt|cannot read"):
        load_model(str(corrupt))
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(str(bad_st))
    unknown = tmp_path / "unknown.pth"
    torch.save({"encoder.weight": torch.zeros(4, 4), "decoder.bias": torch.zeros(4)}, unknown)
    with pytest.raises(ModelLoadError, match="unknown model architecture"):
        load_model(str(unknown))
    with pytest.raises(UnknownModelError, match="not found"):
        load_model(str(tmp_path / "missing.pth"))
    with pytest.raises(UnknownModelError, match="Did you mean 'realesr-animevideov3'"):
        load_model("realesr-animevideo")


def test_converted_weights_are_cached_and_reused(ganrt_cache, load):
    from ganrt.models.registry import get_builtin
    from ganrt.models.zoo import builtin_state_dict, cached_weights_path

    entry = get_builtin("realesr-animevideov3")
    load(entry.name)
    path = cached_weights_path(entry)
    assert path.is_file() and path.parent.parent == ganrt_cache
    mtime = path.stat().st_mtime_ns
    builtin_state_dict(entry)
    assert path.stat().st_mtime_ns == mtime  # loaded, not converted again
    path.write_bytes(b"garbage")  # a damaged cache is converted again, not trusted
    state, _ = builtin_state_dict(entry)
    assert "body.0.weight" in state and path.stat().st_size > 1000


@pytest.mark.parametrize("name", ["realesr-animevideov3", "RealESRGAN_x4plus_anime_6B"])
@pytest.mark.slow
def test_builtin_networks_equal_spandrels(name, load, photos):
    """The built-ins are built without spandrel (seconds of imports); the network is the same."""
    from ganrt.models.loader import describe_state_dict, module_of
    from ganrt.models.registry import get_builtin
    from ganrt.models.zoo import builtin_state_dict

    state, _ = builtin_state_dict(get_builtin(name))
    reference = module_of(describe_state_dict(state, name=name))
    mine = load(name).module
    assert "spandrel" not in type(mine).__module__
    x = torch.from_numpy(to_nchw(photos["chelsea_45x59"]))
    with torch.inference_mode():
        assert torch.allclose(mine(x), reference(x), atol=1e-5)
