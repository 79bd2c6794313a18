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


def _cugan_table(scale: int) -> list[tuple[str, str, int, int, int, str | None]]:
    """Real-CUGAN's weighted layers in the order the ncnn graph applies them (spandrel's
    ``UpCunet{2,3,4}x`` key names): (key, ncnn layer type, out channels, in channels, kernel, activation)."""
    rows: list[tuple[str, str, int, int, int, str | None]] = []

    def unet_conv(prefix: str, cin: int, mid: int, cout: int, se: bool) -> None:
        rows.extend([(f"{prefix}.conv.0", "Convolution", mid, cin, 3, "leaky"),
                     (f"{prefix}.conv.2", "Convolution", cout, mid, 3, "leaky")])
        if se:  # squeeze-excitation: global mean → 1 × 1 conv + ReLU → 1 × 1 conv + sigmoid (InnerProducts in ncnn)
            rows.extend([(f"{prefix}.seblock.conv1", "InnerProduct", cout // 8, cout, 1, "relu"),
                         (f"{prefix}.seblock.conv2", "InnerProduct", cout, cout // 8, 1, "sigmoid")])

    wide = 64 if scale == 4 else 3  # the ×4 network's U-Nets work in 64 channels, then conv_final + PixelShuffle
    unet_conv("unet1.conv1", 3, 32, 64, False)
    rows.append(("unet1.conv1_down", "Convolution", 64, 64, 2, "leaky"))
    unet_conv("unet1.conv2", 64, 128, 64, True)
    rows += [("unet1.conv2_up", "Deconvolution", 64, 64, 2, "leaky"),
             ("unet1.conv3", "Convolution", 64, 64, 3, "leaky"),
             ("unet1.conv_bottom", "Deconvolution", wide, 64, 5 if scale == 3 else 4, None)]
    unet_conv("unet2.conv1", wide, 32, 64, False)
    rows.append(("unet2.conv1_down", "Convolution", 64, 64, 2, "leaky"))
    unet_conv("unet2.conv2", 64, 64, 128, True)
    rows.append(("unet2.conv2_down", "Convolution", 128, 128, 2, "leaky"))
    unet_conv("unet2.conv3", 128, 256, 128, True)
    rows.append(("unet2.conv3_up", "Deconvolution", 128, 128, 2, "leaky"))
    unet_conv("unet2.conv4", 128, 64, 64, True)
    rows += [("unet2.conv4_up", "Deconvolution", 64, 64, 2, "leaky"),
             ("unet2.conv5", "Convolution", 64, 64, 3, "leaky"),
             ("unet2.conv_bottom", "Convolution", wide, 64, 3, None)]
    if scale == 4:
        rows.append(("conv_final", "Convolution", 12, 64, 3, None))
    return rows


_NCNN_ACTIVATION = {None: 0, "relu": 1, "leaky": 2, "sigmoid": 4}  # ncnn's fused activation ids (param 9)


def realcugan_state_dict(layers: list[Layer], *, pro: bool = False) -> dict[str, np.ndarray]:
    """Real-CUGAN (``UpCunet2x``/``3x``/``4x``) from the pnnx-converted ncnn graphs of realcugan-ncnn-vulkan.

    The graph holds the two cascaded U-Nets; the reflect padding in front, the nearest ×4 skip of
    the ×4 network and the pro models' ``x·0.7 + 0.15`` input mapping live in the wrapper's shaders,
    as they live in spandrel's ``forward``. Deconvolution weights are stored output-major in ncnn
    (PyTorch's ConvTranspose2d is input-major); InnerProducts are the SE blocks' 1 × 1 convolutions.
    ``pro`` adds the buffer by which spandrel recognises the pro models."""
    weighted = [layer for layer in layers if layer.type in ("Convolution", "Deconvolution", "InnerProduct")]
    scale = 4 if any(layer.type == "PixelShuffle" for layer in layers) else 3 if any(
        layer.type == "Deconvolution" and layer.param(1) == 5 for layer in layers) else 2
    table = _cugan_table(scale)
    _expect(len(weighted) == len(table),
            f"{len(weighted)} weighted layers do not form a ×{scale} Real-CUGAN ({len(table)} expected)")
    state: dict[str, np.ndarray] = {}
    for (key, ltype, out_ch, in_ch, kernel, act), layer in zip(table, weighted):
        count = int(layer.param(2 if ltype == "InnerProduct" else 6, 0))
        _expect(layer.type == ltype and int(layer.param(0)) == out_ch and count == out_ch * in_ch * kernel * kernel
                and (ltype == "InnerProduct" or int(layer.param(1)) == kernel),
                f"{layer.name}: a {layer.type} of {layer.param(0)} outputs is not Real-CUGAN's {key}")
        _expect(int(layer.param(9, 0)) == _NCNN_ACTIVATION[act]
                and (act != "leaky" or abs(float(layer.param(10, [0.0])[0]) - 0.1) < 1e-6),
                f"{layer.name}: activation does not match Real-CUGAN's {key}")
        _expect(len(layer.weights) == 2, f"{layer.name}: expected a bias for {key}")
        weight = layer.weights[0].reshape(out_ch, in_ch, kernel, kernel)
        if ltype == "Deconvolution":
            weight = weight.transpose(1, 0, 2, 3)
        state[f"{key}.weight"] = np.ascontiguousarray(weight)
        state[f"{key}.bias"] = layer.weights[1]
    if pro:
        state["pro"] = np.zeros(1, np.float32)
    return state


def realcugan_pro_state_dict(layers: list[Layer]) -> dict[str, np.ndarray]:
    return realcugan_state_dict(layers, pro=True)


CONVERTERS = {
    "RRDBNet": rrdbnet_state_dict,
    "SRVGGNetCompact": compact_state_dict,
    "SPAN": span_state_dict,
    "RealCUGAN": realcugan_state_dict,
    "RealCUGAN-pro": realcugan_pro_state_dict,
}
