"""ONNX files exported on the fly for the runtime backends, kept in ``<cache>/onnx``.

The file name carries everything that changes the graph: model name, the
checksum of its weights, precision, opset and the version of ganrt's graph
recipe, so a stale file is never picked up. Each file is sealed with its
checksum (``ganrt.cache``): a damaged or truncated graph is exported again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ganrt.cache import cache_dir, check_seal, entry_stem, seal
from ganrt.export.onnx_export import DEFAULT_OPSET, onnx_from_model
from ganrt.notify import notify

log = logging.getLogger(__name__)

GRAPH_RECIPE = "1"  # bump when the exported graph or the fp16 recipe changes


def cached_onnx_path(model, precision: str, opset: int = DEFAULT_OPSET) -> Path:
    return cache_dir("onnx") / f"{entry_stem(model.name)}-{model.checksum[:16]}-{precision}-op{opset}-r{GRAPH_RECIPE}.onnx"


def cached_onnx(model, precision: str = "fp32", opset: int = DEFAULT_OPSET) -> Path:
    """The ONNX graph of ``model`` at ``precision`` (fp32 or fp16), exporting it on first use."""
    path = cached_onnx_path(model, precision, opset)
    if check_seal(path, "cached ONNX graph"):
        return path
    if precision == "fp32":
        notify(f"exporting {model.name} to ONNX (first use)")
        onnx_from_model(model, path, opset=opset)
    elif precision == "fp16":
        from ganrt.export.fp16 import fp16_from_onnx

        source = cached_onnx(model, "fp32", opset)
        notify(f"making the fp16 graph of {model.name} (first use)")
        fp16_from_onnx(source, path)
    else:
        raise ValueError(f"no ONNX graph recipe for precision {precision!r}")
    seal(path)
    return path
