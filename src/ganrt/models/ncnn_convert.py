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


SPAN_MEAN = (0.4488, 0.4371, 0.4040)  # the RGB mean spandrel's SPAN subtracts (not stored in its state dict)


def _conv3xc(state: dict[str, np.ndarray], key: str, layer: Layer, gain: int = 2) -> None:
    """A re-parameterised SPAN convolution (one 3 × 3 conv in the ncnn graph) as the training-form
    branches spandrel's ``Conv3XC`` fuses back into it: 1 × 1 identity embedding → the 3 × 3 kernel
    in its first block → 1 × 1 projection back, and a zero 1 × 1 skip. Fusing gives the kernel exactly."""
    weight = layer.weights[0].reshape(conv_shape(layer))
    out_ch, in_ch = weight.shape[:2]
    _expect(weight.shape[2:] == (3, 3) and len(layer.weights) == 2, f"{layer.name}: not a 3×3 conv with bias")
    embed = np.zeros((in_ch * gain, in_ch, 1, 1), np.float32)
    embed[np.arange(in_ch), np.arange(in_ch)] = 1.0
    middle = np.zeros((out_ch * gain, in_ch * gain, 3, 3), np.float32)
    middle[:out_ch, :in_ch] = weight
    project = np.zeros((out_ch, out_ch * gain, 1, 1), np.float32)
    project[np.arange(out_ch), np.arange(out_ch)] = 1.0
    bias2 = np.zeros(out_ch * gain, np.float32)
    bias2[:out_ch] = layer.weights[1]
    state.update({f"{key}.conv.0.weight": embed, f"{key}.conv.0.bias": np.zeros(in_ch * gain, np.float32),
                  f"{key}.conv.1.weight": middle, f"{key}.conv.1.bias": bias2,
                  f"{key}.conv.2.weight": project, f"{key}.conv.2.bias": np.zeros(out_ch, np.float32),
                  f"{key}.sk.weight": np.zeros((out_ch, in_ch, 1, 1), np.float32),
                  f"{key}.sk.bias": np.zeros(out_ch, np.float32),
                  f"{key}.eval_conv.weight": weight.astype(np.float32), f"{key}.eval_conv.bias": layer.weights[1]})


def span_state_dict(layers: list[Layer]) -> dict[str, np.ndarray]:
    """SPAN (spandrel's key names) from the ONNX-exported ncnn graph, whose layer names are the
    PyTorch module paths: ``/block_1/c1_r/eval_conv/Conv`` → ``block_1.c1_r``."""
    means = [layer for layer in layers if layer.type == "MemoryData"]
    _expect(len(means) == 1 and np.allclose(means[0].weights[0], SPAN_MEAN, atol=1e-4),
            "SPAN graph without spandrel's RGB mean normalisation")
    state: dict[str, np.ndarray] = {}
    for layer in _convs(layers):
        parts = [p for p in layer.name.split("/") if p]
        if parts[-2:] == ["eval_conv", "Conv"]:
            _conv3xc(state, ".".join(parts[:-2]), layer)
        elif parts[0] in ("conv_cat", "upsampler"):
            _put_conv(state, "conv_cat" if parts[0] == "conv_cat" else "upsampler.0", layer)
        else:
            raise WeightConversionError(f"{layer.name}: not a SPAN convolution")
    _expect("conv_1.eval_conv.weight" in state and "upsampler.0.weight" in state
            and all(f"block_{i}.c3_r.eval_conv.weight" in state for i in range(1, 7)),
            "the graph does not have SPAN's convolutions")
    return state


CONVERTERS = {
    "RRDBNet": rrdbnet_state_dict,
    "SRVGGNetCompact": compact_state_dict,
    "SPAN": span_state_dict,
}
