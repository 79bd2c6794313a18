"""The ncnn → state dict conversion reads every byte and names every weight."""

from __future__ import annotations

import numpy as np
import pytest

from ganrt.errors import WeightConversionError
from ganrt.models.ncnn_convert import CONVERTERS
from ganrt.models.ncnn_format import parse_param, read_weights
from ganrt.models.registry import BUILTIN_MODELS, get_builtin
from ganrt.models.zoo import convert_ncnn, ncnn_files

EXPECTED = {  # parameter tensors per model, from the upstream architectures (SPAN: spandrel's Conv3XC form)
    "RealESRGAN_x4plus": 702,
    "RealESRGAN_x4plus_anime_6B": 192,
    "realesr-animevideov3": 53,
    "realesr-animevideov3-x2": 53,
    "realesr-animevideov3-x3": 53,
    "RealSR_DF2K_x4": 702,
    "SPAN-x2-ch48": 20 * 10 + 4,
    "SPAN-x2-ch52": 20 * 10 + 4,
    "SPAN-x4-ch48": 20 * 10 + 4,
    "SPAN-x4-ch52": 20 * 10 + 4,
    # Real-CUGAN: 30 weighted layers (31 with the ×4 network's conv_final), weight + bias each; pro: + its flag
    **{e.name: 2 * (31 if e.scale == 4 else 30) + ("-pro-" in e.name) for e in BUILTIN_MODELS if e.arch == "RealCUGAN"},
}


@pytest.mark.parametrize("entry", BUILTIN_MODELS, ids=lambda e: e.name)
def test_conversion_names_every_weight(entry):
    state, sha = convert_ncnn(entry)
    assert len(state) == EXPECTED[entry.name]
    assert len(sha) == 64
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in state.values())
    if entry.arch == "RRDBNet":
        assert state["conv_first.weight"].shape == (64, 3, 3, 3)
        assert state["body.0.rdb1.conv1.weight"].shape == (32, 64, 3, 3)
        assert state["body.0.rdb1.conv5.weight"].shape == (64, 192, 3, 3)
        assert state["conv_last.weight"].shape == (3, 64, 3, 3)
        assert {"conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight"} <= set(state)
    elif entry.arch == "SPAN":
        width = 48 if "ch48" in entry.name else 52
        assert state["conv_1.eval_conv.weight"].shape == (width, 3, 3, 3)
        assert state["upsampler.0.weight"].shape == (3 * entry.scale**2, width, 3, 3)
    elif entry.arch == "RealCUGAN":  # exactly the key names and shapes of spandrel's network
        from spandrel.architectures.RealCUGAN import UpCunet2x, UpCunet3x, UpCunet4x

        net = {2: UpCunet2x, 3: UpCunet3x, 4: UpCunet4x}[entry.scale](pro="-pro-" in entry.name)
        assert {k: v.shape for k, v in state.items()} == {k: tuple(v.shape) for k, v in net.state_dict().items()}
    else:
        assert state["body.0.weight"].shape == (64, 3, 3, 3)
        assert state["body.1.weight"].shape == (64,)
        assert state["body.34.weight"].shape == (48, 64, 3, 3)


def test_reading_must_end_at_the_last_byte():
    entry = get_builtin("realesr-animevideov3")
    param, binary = ncnn_files(entry)
    data = binary.read_bytes()
    layers = parse_param(param.read_text())
    with pytest.raises(WeightConversionError, match="ends early"):
        read_weights(layers, data[:-4])
    layers = parse_param(param.read_text())
    with pytest.raises(WeightConversionError, match="unread bytes"):
        read_weights(layers, data + b"\0\0\0\0")


def test_graph_that_does_not_match_the_architecture_is_refused():
    entry = get_builtin("realesr-animevideov3")
    param, binary = ncnn_files(entry)
    layers = read_weights(parse_param(param.read_text()), binary.read_bytes())
    with pytest.raises(WeightConversionError):
        CONVERTERS["RRDBNet"](layers)


def test_bad_param_file_is_refused():
    with pytest.raises(WeightConversionError, match="magic"):
        parse_param("1234\n1 1\nInput data 0 1 data\n")
