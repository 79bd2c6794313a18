"""fp32 ONNX → strongly typed fp16 ONNX, keeping fp32 where activations would overflow.

TensorRT 11 builds strongly typed networks only, so the precision must be in
the graph. The conversion is onnxconverter-common's float16 converter
(a small, pure-Python, maintained Microsoft package that takes a node block
list and keeps graph IO in fp32); which nodes stay fp32 is *measured*, not
hard-coded:

1. ``activation_ranges`` runs the fp32 graph in ONNX Runtime on calibration
   images (real photos plus bright, saturated and high-contrast ones) with an
   ``Abs → ReduceMax`` probe on every tensor, so only scalars come back (each
   probe runs right after its tensor is made, which is then freed as usual);
2. ``overflow_nodes`` blocks every node that reads or writes a tensor (or a
   weight) whose magnitude exceeds ``bound`` (fp16 tops out at 65504; the
   default bound leaves 16× headroom for inputs harsher than the calibration);
3. the converted graph is checked against fp32 on the same images:
   no NaN/Inf and PSNR ≥ 40 dB, or the export fails. The fp32 outputs come
   from step 1's pass (the probes are extra outputs of the same run), so the
   fp32 graph runs once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ganrt.errors import ExportError
from ganrt.kinds import to_unit_range
from ganrt.quality import psnr

log = logging.getLogger(__name__)

FP16_MAX = 65504.0
DEFAULT_BOUND = FP16_MAX / 16
MIN_PSNR_DB = 40.0


def _name_nodes(proto) -> None:
    seen: set[str] = set()
    for i, node in enumerate(proto.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def _float_tensors(proto) -> list[str]:
    """Names of the float32 activations: graph inputs and every node output ONNX infers as float."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    types = {vi.name: vi.type.tensor_type.elem_type
             for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}
    names = [i.name for i in proto.graph.input]
    for node in proto.graph.node:
        names += [o for o in node.output if o and types.get(o) == onnx.TensorProto.FLOAT]
    return names


def _feeds(session, case) -> dict:
    """A calibration case (one array, or the list of a model's inputs) as an ORT feed."""
    arrays = [case] if isinstance(case, np.ndarray) else list(case)
    return {i.name: (x.astype(np.float16) if i.type == "tensor(float16)" else x)
            for i, x in zip(session.get_inputs(), arrays)}


def calibrate(proto, images: list) -> tuple[dict[str, float], list[list[np.ndarray]]]:
    """One fp32 pass over the calibration cases in one ORT session: (max |value| of every float tensor,
    the graph's own outputs per case — the reference the fp16 graph is checked against).

    A case is one float32 array, or the list of the model's inputs (``ganrt.data.calibration_inputs``)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    tensors = _float_tensors(probe)
    index = {name: i for i, name in enumerate(tensors)}
    maxima = [f"__ganrt_max_{i}" for i in range(len(tensors))]

    def probe_nodes(name: str) -> list:
        i = index[name]
        return [helper.make_node("Abs", [name], [f"__ganrt_abs_{i}"]),
                helper.make_node("ReduceMax", [f"__ganrt_abs_{i}"], [maxima[i]], keepdims=0)]

    # each probe right after the node that makes its tensor, run in that order (priority-based): the
    # tensor is freed as soon as the graph is done with it. Probes appended after the whole graph kept
    # every activation alive to the end: GFPGAN's pass peaked at 5.3 GB, against 2.3 GB now
    nodes = [n for graph_input in probe.graph.input if graph_input.name in index for n in probe_nodes(graph_input.name)]
    for node in probe.graph.node:
        nodes += [node, *(n for out in node.output if out in index for n in probe_nodes(out))]
    del probe.graph.node[:]
    probe.graph.node.extend(nodes)
    own = [o.name for o in proto.graph.output]
    probe.graph.output.extend(helper.make_tensor_value_info(m, onnx.TensorProto.FLOAT, []) for m in maxima)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.execution_order = ort.ExecutionOrder.PRIORITY_BASED
    options.log_severity_level = 3
    # no arena, no memory patterns: with a probe on every tensor, both grew by ~1.5 GB per 512² image of
    # GFPGAN (9 images: 11 GB)
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ranges = dict.fromkeys(tensors, 0.0)
    references = []
    for x in images:
        values = session.run(own + maxima, _feeds(session, x))
        references.append(values[:len(own)])
        for name, value in zip(tensors, values[len(own):]):
            v = float(value)
            ranges[name] = v if not np.isfinite(v) else max(ranges[name], v)
    return ranges, references


def activation_ranges(proto, images: list) -> dict[str, float]:
    """Max |value| of every float tensor over the calibration cases (``calibrate``'s first half)."""
    return calibrate(proto, images)[0]


def overflow_nodes(proto, ranges: dict[str, float], bound: float = DEFAULT_BOUND) -> list[str]:
    """Nodes that read or write anything (activation or weight) beyond ``bound``: they stay fp32."""
    from onnx import numpy_helper

    weights = {t.name: float(np.abs(numpy_helper.to_array(t)).max(initial=0.0))
               for t in proto.graph.initializer if t.data_type == 1}
    big = {name for name, v in {**ranges, **weights}.items() if not v <= bound}
    return [n.name for n in proto.graph.node if big.intersection(n.input) or big.intersection(n.output)]


def convert_to_fp16(proto, block: list[str], *, io_fp16: bool = False):
    import warnings

    from onnxconverter_common.float16 import convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_float_to_float16(proto, keep_io_types=not io_fp16, node_block_list=block,
                                        max_finite_val=DEFAULT_BOUND)


def compare_on(references: list[list[np.ndarray]], fp16_bytes: bytes, images: list,
               value_range: tuple[float, float] = (0.0, 1.0)) -> tuple[float, int]:
    """(worst PSNR in dB over ``images``, count of non-finite output values) of the fp16 graph against
    the fp32 graph's outputs on the same images (``calibrate``'s ``references``)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    half = ort.InferenceSession(fp16_bytes, options, providers=["CPUExecutionProvider"])
    worst, bad = float("inf"), 0
    for x, ref in zip(images, references, strict=True):
        want = ref[0]
        got = half.run(None, _feeds(half, x))[0].astype(np.float32)
        bad += int((~np.isfinite(got)).sum())
        worst = min(worst, psnr(to_unit_range(np.nan_to_num(got, nan=value_range[1] * 2), value_range),
                                to_unit_range(want, value_range)))
    return worst, bad


def fp16_from_onnx(src: str | Path, dst: str | Path, *, images: list[np.ndarray] | None = None,
                   bound: float = DEFAULT_BOUND, io_fp16: bool = False) -> Path:
    """Write the fp16 version of the fp32 graph ``src`` to ``dst``; returns ``dst``."""
    import onnx

    from ganrt.data import calibration_inputs
    from ganrt.export.onnx_export import read_metadata, save_onnx, set_metadata, spec_from_metadata

    proto = onnx.load(str(src))
    _name_nodes(proto)
    meta = read_metadata(proto)
    spec = spec_from_metadata(meta, Path(src).stem)
    images = images if images is not None else calibration_inputs(spec)
    ranges, references = calibrate(proto, images)
    block = overflow_nodes(proto, ranges, bound)
    if block:
        log.info("keeping %d node(s) in fp32 (activations beyond ±%g): %s", len(block), bound,
                 ", ".join(block[:5]) + (" …" if len(block) > 5 else ""))
    half = convert_to_fp16(proto, block, io_fp16=io_fp16)
    worst, bad = compare_on(references, half.SerializeToString(), images, spec.value_range)
    if bad or worst < MIN_PSNR_DB:
        raise ExportError(f"fp16 graph of {meta.get('ganrt.model', Path(src).stem)} fails its check on the "
                          f"calibration images: PSNR {worst:.1f} dB (need ≥ {MIN_PSNR_DB}), {bad} non-finite values")
    set_metadata(half, {
        "ganrt.precision": "fp16",
        "ganrt.io_precision": "fp16" if io_fp16 else "fp32",
        "ganrt.fp16_bound": f"{bound:g}",
        "ganrt.fp32_nodes": ",".join(block),
        "ganrt.fp16_calibration_psnr_db": f"{worst:.2f}",
    })
    return save_onnx(half, dst)
