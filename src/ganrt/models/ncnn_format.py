"""Read ncnn ``.param`` graphs and ``.bin`` weight blobs (the format facts are in ncnn's wiki
and ``shared/ncnn-format.md``).

Only what the built-in models' files use is supported: Convolution,
Deconvolution and InnerProduct weights (float16, float32, int8 or
codebook-quantised) with float32 biases, PReLU slopes and MemoryData constants.
Reading must consume the ``.bin`` file exactly; anything left over or missing
means the graph and the weights disagree and is an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ganrt.errors import WeightConversionError

PARAM_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32 = (0x0002C056, 0)


@dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, int | float | list[int | float]]
    weights: list[np.ndarray] = field(default_factory=list)

    def param(self, key: int, default=None):
        return self.params.get(key, default)


def _scalar(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_param(text: str) -> list[Layer]:
    """Parse the text ``.param`` format into layers, in file order."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != str(PARAM_MAGIC):
        raise WeightConversionError("not an ncnn .param file (bad magic number)")
    try:
        layer_count, _blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError) as exc:
        raise WeightConversionError("ncnn .param header is malformed") from exc
    layers: list[Layer] = []
    for line in lines[2:]:
        parts = line.split()
        ltype, name, n_bottom, n_top = parts[0], parts[1], int(parts[2]), int(parts[3])
        pos = 4
        bottoms = parts[pos : pos + n_bottom]
        pos += n_bottom
        tops = parts[pos : pos + n_top]
        pos += n_top
        params: dict[int, int | float | list[int | float]] = {}
        for item in parts[pos:]:
            key_text, value_text = item.split("=", 1)
            key = int(key_text)
            if key <= -23300:
                values = value_text.split(",")
                count = int(values[0])
                params[-key - 23300] = [_scalar(v) for v in values[1 : 1 + count]]
            else:
                params[key] = _scalar(value_text)
        layers.append(Layer(ltype, name, bottoms, tops, params))
    if len(layers) != layer_count:
        raise WeightConversionError(
            f"ncnn .param declares {layer_count} layers but lists {len(layers)}"
        )
    return layers


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, nbytes: int) -> bytes:
        end = self.pos + nbytes
        if end > len(self.data):
            raise WeightConversionError(
                f"ncnn .bin ends early: needed {nbytes} bytes at offset {self.pos}, "
                f"file has {len(self.data)}"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def raw_f32(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)

    def tagged(self, count: int) -> np.ndarray:
        """A weight blob preceded by a 4-byte storage tag, padded to 4 bytes."""
        (tag,) = struct.unpack("<I", self.take(4))
        if tag == TAG_FP16:
            values = np.frombuffer(self.take(2 * count), dtype="<f2").astype(np.float32)
            self.take((-2 * count) % 4)
            return values
        if tag == TAG_INT8:
            values = np.frombuffer(self.take(count), dtype=np.int8).astype(np.float32)
            self.take((-count) % 4)
            return values
        if tag in TAG_FP32:
            return self.raw_f32(count)
        codebook = np.frombuffer(self.take(4 * 256), dtype="<f4")
        indices = np.frombuffer(self.take(count), dtype=np.uint8)
        self.take((-count) % 4)
        return codebook[indices].astype(np.float32)


def read_weights(layers: list[Layer], data: bytes) -> list[Layer]:
    """Attach the weights in ``data`` to ``layers`` (in place) and check every byte was read."""
    reader = _Reader(data)
    for layer in layers:
        if layer.type in ("Convolution", "Deconvolution"):  # 5=1: bias, 6: weight count
            layer.weights.append(reader.tagged(int(layer.param(6, 0))))
            if layer.param(5, 0) == 1:
                layer.weights.append(reader.raw_f32(int(layer.param(0))))
        elif layer.type == "InnerProduct":  # 1=1: bias, 2: weight count
            layer.weights.append(reader.tagged(int(layer.param(2, 0))))
            if layer.param(1, 0) == 1:
                layer.weights.append(reader.raw_f32(int(layer.param(0))))
        elif layer.type == "PReLU":
            layer.weights.append(reader.raw_f32(int(layer.param(0, 1))))
        elif layer.type == "MemoryData":  # a constant blob: w × h × c raw float32
            count = int(layer.param(0, 1)) * max(1, int(layer.param(1, 1))) * max(1, int(layer.param(2, 1)))
            layer.weights.append(reader.raw_f32(count))
        elif layer.type in ("Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp",
                            "PixelShuffle", "ReLU", "Sigmoid", "Swish", "Pooling", "Crop"):
            continue
        else:
            raise WeightConversionError(f"unsupported ncnn layer type {layer.type!r} ({layer.name})")
    if reader.pos != len(data):
        raise WeightConversionError(
            f"ncnn .bin has {len(data) - reader.pos} unread bytes after the last layer: "
            "graph and weights do not match"
        )
    return layers


def conv_shape(layer: Layer) -> tuple[int, int, int, int]:
    """OIHW shape of a Convolution layer's weight (square kernels only, as in these files)."""
    out_ch = int(layer.param(0))
    kernel = int(layer.param(1))
    kernel_h = int(layer.param(11, kernel))
    count = int(layer.param(6))
    in_ch, rem = divmod(count, out_ch * kernel * kernel_h)
    if rem:
        raise WeightConversionError(f"{layer.name}: weight count {count} does not fit its shape")
    return out_ch, in_ch, kernel_h, kernel


def fused_leaky_slope(layer: Layer) -> float | None:
    """The slope of a LeakyReLU fused into a Convolution (``9=2``), or None."""
    if layer.param(9, 0) != 2:
        return None
    values = layer.param(10, [0.0])
    return float(values[0])
