"""ONNX files exported on the fly for the runtime backends, kept in ``<cache>/onnx``.

The file name carries everything that changes the graph: model name, the
checksum of its weights, precision, opset and the version of ganrt's graph
recipe, so a stale file is never picked up.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ganrt.cache import cache_dir
from ganrt.export.onnx_export import DEFAULT_OPSET, onnx_from_model

log = logging.getLogger(__name__)

GRAPH_RECIPE = "1"  # bump when the exported graph or the fp16 recipe changes


def cached_onnx_path(model, precision: str, opset: int = DEFAULT_OPSET) -> Path:
    return cache_dir("onnx") / f"{model.name}-{model.checksum[:16]}-{precision}-op{opset}-r{GRAPH_RECIPE}.onnx"


def cached_onnx(model, precision: str = "fp32", opset: int = DEFAULT_OPSET) -> Path:
    """The ONNX graph of ``model`` at ``precision`` (fp32 or fp16), exporting it on first use."""
    path = cached_onnx_path(model, precision, opset)
    if path.is_file() and path.stat().st_size > 0:
        return path
    if precision == "fp32":
        log.info("exporting %s to ONNX (%s)", model.name, path.name)
        return onnx_from_model(model, path, opset=opset)
    if precision == "fp16":
        from ganrt.export.fp16 import fp16_from_onnx

        return fp16_from_onnx(cached_onnx(model, "fp32", opset), path)
    raise ValueError(f"no ONNX graph recipe for precision {precision!r}")
