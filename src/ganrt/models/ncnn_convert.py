"""Convert the Real-ESRGAN ncnn graphs into PyTorch state dicts with the public key names.

The mapping follows the layer order of the upstream ONNX→ncnn conversion:
convolutions appear in the order the network applies them. Each converter
checks the graph's shape (convolution count, channel widths, where LeakyReLU
is fused) before naming anything, so a file that does not match the expected
architecture fails loudly instead of producing a model that runs but is wrong.
"""

from __future__ import annotations

import numpy as np

from ganrt.errors import WeightConversionError
from ganrt.models.ncnn_format import Layer, conv_shape, fused_leaky_slope


def _convs(layers: list[Layer]) -> list[Layer]:
    return [layer for layer in layers if layer.type == "Convolution"]


def _put_conv(state: dict[str, np.ndarray], key: str, layer: Layer) -> None:
    shape = conv_shape(layer)
    state[f"{key}.weight"] = layer.weights[0].reshape(shape)
    if len(layer.weights) < 2:
        raise WeightConversionError(f"{layer.name}: expected a bias for {key}")
    state[f"{key}.bias"] = layer.weights[1]


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise WeightConversionError(message)


def rrdbnet_state_dict(layers: list[Layer]) -> dict[str, np.ndarray]:
    """RRDBNet (ESRGAN) ×4: conv_first, body.{i}.rdb{1..3}.conv{1..5}, conv_body, conv_up1/2, conv_hr, conv_last."""
    convs = _convs(layers)
    num_blocks, rem = divmod(len(convs) - 6, 15)
    _expect(rem == 0 and num_blocks > 0, f"{len(convs)} convolutions do not form an RRDBNet")
    names = ["conv_first"]
    for block in range(num_blocks):
        for rdb in (1, 2, 3):
            names += [f"body.{block}.rdb{rdb}.conv{i}" for i in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]

    leaky = {name for name in names if name.rsplit(".", 1)[-1] in ("conv1", "conv2", "conv3", "conv4")}
    leaky |= {"conv_up1", "conv_up2", "conv_hr"}
    state: dict[str, np.ndarray] = {}
    for name, layer in zip(names, convs):
        slope = fused_leaky_slope(layer)
        _expect(
            (slope is not None) == (name in leaky) and (slope is None or abs(slope - 0.2) < 1e-6),
            f"{layer.name}: activation does not match RRDBNet's {name}",
        )
        _put_conv(state, name, layer)
    interps = [layer for layer in layers if layer.type == "Interp"]
    _expect(
        len(interps) == 2 and all(layer.param(0) == 1 for layer in interps),
        "RRDBNet upsampling must be two nearest ×2 resizes",
    )
    return state


def compact_state_dict(layers: list[Layer]) -> dict[str, np.ndarray]:
    """SRVGGNetCompact: convolutions at even body indices, PReLU slopes at odd ones."""
    convs = _convs(layers)
    prelus = [layer for layer in layers if layer.type == "PReLU"]
    _expect(
        len(convs) >= 2 and len(prelus) == len(convs) - 1,
        f"{len(convs)} convolutions and {len(prelus)} PReLUs do not form an SRVGGNetCompact",
    )
    _expect(
        any(layer.type == "PixelShuffle" for layer in layers),
        "SRVGGNetCompact must end in a PixelShuffle",
    )
    state: dict[str, np.ndarray] = {}
    for i, layer in enumerate(convs):
        _expect(fused_leaky_slope(layer) is None, f"{layer.name}: unexpected fused activation")
        _put_conv(state, f"body.{2 * i}", layer)
    for i, layer in enumerate(prelus):
        state[f"body.{2 * i + 1}.weight"] = layer.weights[0]
    return state


CONVERTERS = {
    "RRDBNet": rrdbnet_state_dict,
    "SRVGGNetCompact": compact_state_dict,
}
