"""ONNX ``DFT`` nodes as matrix products, for TensorRT, which has no DFT layer (LaMa's FFT convolutions).

A DFT of length n along one axis is a product with an n × n' matrix of cos and sin
(n' = n // 2 + 1 for a one-sided transform of a real input): for the real and
imaginary parts ``a`` and ``b`` of the input, with ``C = cos θ`` and ``S = ∓sin θ``
(θ = 2π·k·m / n; minus for the forward transform),

    real = a·C − b·S,   imag = a·S + b·C,   (÷ n for the inverse, as ONNX's DFT does)

The matrices are built in the graph from the axis length (``Range``, ``Mod``, ``Cos``,
``Sin``), so dynamic image sizes stay dynamic; k·m is reduced mod n in integers before
it becomes an angle, so large transforms keep their precision. The cost is O(n) per
output value instead of FFT's O(log n): small at LaMa's feature-map sizes (an eighth
of the image a side), where TensorRT runs the products on tensor cores.

Only what an exported graph holds is rewritten: opset 17-19 DFT (``axis`` an
attribute), a real (…, 1) or complex (…, 2) input of known last dimension, an
optional ``dft_length`` (the input is cropped or zero-padded to it, as ONNX says).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Part of a TensorRT engine's cache key when its graph was rewritten: change it whenever the
# rewrite's output changes, so engines built from the old rewrite are not reused.
REWRITE_VERSION = "dft-matmul-1"


def has_dft(proto) -> bool:
    return any(node.op_type == "DFT" for node in proto.graph.node)


def dft_as_matmul(proto):
    """A copy of ``proto`` with every DFT node replaced by matrix products (see the module docstring)."""
    model = onnx.shape_inference.infer_shapes(proto)
    dims = _inferred_dims(model)
    ranks = _ranks(model, dims)
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    nodes = []
    for i, node in enumerate(proto.graph.node):
        if node.op_type != "DFT":
            nodes.append(node)
            continue
        pairs = (dims.get(node.input[0]) or [None])[-1]  # 1 real, 2 complex, None: not inferred (padded to 2)
        if ranks.get(node.input[0]) is None:
            raise NotImplementedError(f"the rank of DFT input {node.input[0]} is not known")
        nodes.extend(_Rewrite(node, f"{node.name or 'dft'}__mm{i}", pairs, ranks[node.input[0]]).nodes())
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    del out.graph.value_info[:]  # the DFT outputs keep their names; inference recomputes the rest
    return out


def _inferred_dims(model) -> dict[str, list[int | None]]:
    """The dimensions shape inference found for each value that has a shape (None: not a number)."""
    return {value.name: [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
            for value in [*model.graph.value_info, *model.graph.input, *model.graph.output]
            if value.type.tensor_type.HasField("shape")}


_SAME_AS_FIRST = {"DFT", "Concat", "Slice", "Pad", "Transpose", "Conv", "ConvTranspose", "Resize", "Split",
                  "Softmax", "InstanceNormalization", "BatchNormalization", "Identity", "Dropout", "LeakyRelu"}
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Neg", "Relu", "Sigmoid", "Tanh", "Cast", "CastLike",
              "Sqrt", "Abs", "Exp", "Log", "Where", "Erf", "Clip", "MatMul", "Sin", "Cos", "Floor", "Round", "Mod"}


def _ranks(model, dims: dict[str, list[int | None]]) -> dict[str, int | None]:
    """The rank of every value: from shape inference, and where it stops (a DFT with a ``dft_length``
    input, then everything after it), carried on through the ops whose output rank follows from their
    inputs' (DFT keeps its input's)."""
    ranks: dict[str, int | None] = {}
    consts: dict[str, list[int]] = {t.name: list(numpy_helper.to_array(t).reshape(-1))
                                    for t in model.graph.initializer if t.data_type == 7}
    for t in model.graph.initializer:
        ranks[t.name] = len(t.dims)
    ranks.update({name: len(shape) for name, shape in dims.items()})
    for node in model.graph.node:
        if node.op_type == "Constant":
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
            if tensor is not None:
                ranks[node.output[0]] = len(tensor.dims)
                if tensor.data_type == 7:
                    consts[node.output[0]] = list(numpy_helper.to_array(tensor).reshape(-1))
            continue
        if all(ranks.get(o) is not None for o in node.output):
            continue
        known = [ranks.get(i) for i in node.input if i]
        rank = None
        if node.op_type in _SAME_AS_FIRST and known and known[0] is not None:
            rank = known[0]
        elif node.op_type in _BROADCAST and known and None not in known:
            rank = max(known)
        elif node.op_type == "Gather" and None not in known[:2]:
            rank = known[0] - 1 + known[1]
        elif node.op_type in ("Unsqueeze", "Squeeze") and known[0] is not None and node.input[1] in consts:
            rank = known[0] + len(consts[node.input[1]]) * (1 if node.op_type == "Unsqueeze" else -1)
        for out in node.output:
            if ranks.get(out) is None:
                ranks[out] = rank
    return ranks


class _Rewrite:
    """The nodes that compute one DFT node's output (same name) with matrix products."""

    def __init__(self, node, prefix: str, pairs: int | None, rank: int):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if len(node.input) > 2 and node.input[2]:
            raise NotImplementedError("DFT with axis as an input (opset 20)")
        if pairs not in (1, 2, None):
            raise NotImplementedError(f"DFT input {node.input[0]} of last dimension {pairs}")
        self.node, self.prefix, self.pairs, self.rank = node, prefix, pairs, rank
        self.axis = attrs.get("axis", 1) % rank
        if self.axis == rank - 1:
            raise NotImplementedError("DFT along the real/imaginary axis")
        self.inverse, self.onesided = bool(attrs.get("inverse", 0)), bool(attrs.get("onesided", 0))
        self.length = node.input[1] if len(node.input) > 1 and node.input[1] else None
        self._out: list = []
        self._count = 0

    def _op(self, op: str, inputs: list[str], **attrs) -> str:
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        self._out.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def _const(self, values, dtype="int64") -> str:
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        tensor = numpy_helper.from_array(np.array(values, dtype=dtype), name)
        self._out.append(helper.make_node("Constant", [], [name], name=name, value=tensor))
        return name

    def nodes(self) -> list:
        x = self.node.input[0]
        size = self._op("Gather", [self._op("Shape", [x]), self._const([self.axis])], axis=0)  # [1]
        n = size
        if self.length is not None:  # crop or zero-pad the axis to dft_length
            n = self._op("Reshape", [self._op("Cast", [self.length], to=7), self._const([1])])
            x = self._op("Slice", [x, self._const([0]), n, self._const([self.axis])])
            x = self._pad_end(x, self.axis, self._op("Max", [self._op("Sub", [n, size]), self._const([0])]))
        if self.pairs is None:  # a real (…, 1) input gets a zero imaginary part: (…, 2) either way
            pairs = self._op("Gather", [self._op("Shape", [x]), self._const([-1])], axis=0)
            x = self._pad_end(x, self.rank - 1, self._op("Sub", [self._const([2]), pairs]))
        bins = self._op("Add", [self._op("Div", [n, self._const([2])]), self._const([1])]) if self.onesided else n
        cos, sin = self._matrices(n, bins, like=x)
        moved = [d for d in range(self.rank - 1) if d != self.axis] + [self.axis]
        back = [moved.index(d) for d in range(self.rank - 1)]
        re = self._op("Transpose", [self._op("Gather", [x, self._const(0)], axis=-1)], perm=moved)
        out_re, out_im = self._op("MatMul", [re, cos]), self._op("MatMul", [re, sin])
        if self.pairs != 1:
            im = self._op("Transpose", [self._op("Gather", [x, self._const(1)], axis=-1)], perm=moved)
            out_re = self._op("Sub", [out_re, self._op("MatMul", [im, sin])])
            out_im = self._op("Add", [out_im, self._op("MatMul", [im, cos])])
        if self.inverse:
            scale = self._op("CastLike", [self._op("Cast", [n], to=1), x])
            out_re, out_im = self._op("Div", [out_re, scale]), self._op("Div", [out_im, scale])
        last = self._const([-1])
        parts = [self._op("Unsqueeze", [self._op("Transpose", [v], perm=back), last]) for v in (out_re, out_im)]
        self._out.append(helper.make_node("Concat", parts, list(self.node.output), name=f"{self.prefix}_out", axis=-1))
        return self._out

    def _pad_end(self, x: str, axis: int, grow: str) -> str:
        """``x`` zero-padded by ``grow`` (a [1] tensor) at the end of ``axis``."""
        after = [self._const([0] * (self.rank - axis - 1))] if axis < self.rank - 1 else []
        return self._op("Pad", [x, self._op("Concat", [self._const([0] * (self.rank + axis)), grow, *after], axis=0)])

    def _matrices(self, n: str, bins: str, like: str) -> tuple[str, str]:
        """(cos θ, ∓sin θ) as [n, bins] matrices of ``like``'s type, θ = 2π (k·m mod n) / n."""
        zero, one = self._const(0), self._const(1)
        scalar_n, scalar_bins = (self._op("Squeeze", [v, self._const([0])]) for v in (n, bins))
        k = self._op("Unsqueeze", [self._op("Range", [zero, scalar_n, one]), self._const([1])])
        m = self._op("Unsqueeze", [self._op("Range", [zero, scalar_bins, one]), self._const([0])])
        turns = self._op("Cast", [self._op("Mod", [self._op("Mul", [k, m]), n])], to=1)
        theta = self._op("Div", [self._op("Mul", [turns, self._const(2 * math.pi, "float32")]),
                                 self._op("Cast", [n], to=1)])
        cos = self._op("CastLike", [self._op("Cos", [theta]), like])
        sin = self._op("Sin", [theta])
        if not self.inverse:
            sin = self._op("Neg", [sin])
        return cos, self._op("CastLike", [sin, like])
