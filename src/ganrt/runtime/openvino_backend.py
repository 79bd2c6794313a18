"""OpenVINO backend: the model's ONNX graph compiled once for the CPU, for every input shape.

- The graph keeps its dynamic batch, height and width: one compiled model
  serves every image and tile size (measured as fast as a model compiled for
  one static shape, see benchmarks/README.md), so a folder of photos of a
  thousand different sizes compiles once, not a thousand times.
- The precision hint is always set (``fp32`` → ``f32``, ``bf16`` → ``bf16``):
  left at the device default, OpenVINO silently switches to bf16 on CPUs with
  AMX. The thread count follows ``threads`` (default: all cores).
- The compiled model is exported into ganrt's cache (``<cache>/openvino``),
  sealed with its checksum and keyed by graph, OpenVINO version, CPU,
  precision and threads; the folder is capped (least recently used first).
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

from ganrt.errors import BackendUnavailableError
from ganrt.kinds import ModelSpec
from ganrt.runtime.backends import check_precision
from ganrt.runtime.base import Engine

log = logging.getLogger(__name__)

HINTS = {"fp32": "f32", "bf16": "bf16"}
CACHE_CAP_BYTES = 1536 << 20  # compiled models kept; each is about the size of the model's fp32 weights
BLOB_FORMAT = "1"


def openvino_runtime():
    """``openvino``, imported without its model converter: ``import openvino`` also imports
    ``openvino.tools.ovc`` (about 0.1 s of every command's start-up, inside a ``try/except ImportError``),
    which only ``ir_from_torch`` uses, and that imports it itself."""
    import sys

    if "openvino" not in sys.modules:
        blocked = sys.modules.setdefault("openvino.tools.ovc", None) is None
        try:
            import openvino  # noqa: F401
        finally:
            if blocked and sys.modules.get("openvino.tools.ovc", False) is None:
                del sys.modules["openvino.tools.ovc"]
    return sys.modules["openvino"]


def _graph_digest(onnx_path: Path) -> str:
    from ganrt import cache
    from ganrt.fsutil import sha256_file

    if onnx_path.suffix == ".xml":  # an OpenVINO IR: the weights are in the .bin beside it
        return sha256_file(onnx_path) + sha256_file(onnx_path.with_suffix(".bin"))
    try:  # a sealed cache file names its checksum; a user's file is hashed
        return cache.seal_path(onnx_path).read_text().split()[0]
    except (OSError, IndexError):
        return sha256_file(onnx_path)


def ir_from_torch(model) -> Path:
    """An OpenVINO IR (.xml + .bin) converted from the PyTorch module, made on first use and cached
    under a name that holds the weights' checksum; every dimension the kind makes dynamic stays so."""
    import torch

    ov = openvino_runtime()
    from openvino.tools.ovc import convert_model

    from ganrt import cache
    from ganrt.cache import cache_dir, entry_stem
    from ganrt.notify import notify

    spec = ModelSpec.of(model)
    path = cache_dir("openvino") / "ir" / f"{entry_stem(model.name)}-{model.checksum[:16]}-f32.xml"
    if cache.check_seal(path, "OpenVINO model converted from PyTorch") and path.with_suffix(".bin").is_file():
        return path
    notify(f"converting {model.name} from PyTorch for OpenVINO (first use)")
    kind = spec.kind
    m = max(8, spec.size_multiple)
    examples = [torch.from_numpy(x) for x in kind.example(spec, 1, 8 * m, 8 * m)]
    shapes = [ov.PartialShape([-1 if i in axes else d for i, d in enumerate(x.shape)])
              for x, axes in zip(examples, kind.axes)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's deprecation notices: nothing a user can act on
        converted = convert_model(_positional(model.module), example_input=tuple(examples), input=shapes)
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(converted, str(path), compress_to_fp16=False)
    cache.seal(path)
    return path


def blob_path(onnx_path: Path, name: str, config: dict) -> Path:
    from ganrt.cache import cache_dir, entry_stem
    from ganrt.machine import cpu_model

    ov = openvino_runtime()

    key = "|".join([BLOB_FORMAT, _graph_digest(onnx_path), ov.__version__, cpu_model(),
                    *(f"{k}={v}" for k, v in sorted(config.items()))])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_dir("openvino") / f"{entry_stem(name)}-{config['INFERENCE_PRECISION_HINT']}-{digest}.blob"


def compiled_model(core, onnx_path: Path, name: str, config: dict):
    """The compiled model: imported from the sealed cache, or compiled now and cached."""
    from ganrt import cache
    from ganrt.notify import notify

    path = blob_path(onnx_path, name, config)
    if cache.check_seal(path, "compiled OpenVINO model"):
        try:
            compiled = core.import_model(io.BytesIO(path.read_bytes()), "CPU", config)
            cache.touch(path)
            return compiled
        except RuntimeError as exc:  # a blob of another OpenVINO build: compile again
            log.warning("cached OpenVINO model %s cannot be imported (%s); compiling again", path.name, exc)
            cache.discard(path)
    notify(f"compiling {name} for OpenVINO ({config['INFERENCE_PRECISION_HINT']}, once per machine)")
    compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
    try:
        cache.write_sealed(path, compiled.export_model().getvalue())
        cache.trim("openvino", CACHE_CAP_BYTES, keep=path)
    except OSError as exc:
        log.warning("could not cache the compiled model (%s); it will be compiled again next time", exc)
    return compiled


def _positional(module):
    """The module behind a plain ``forward(*inputs)`` (what OpenVINO's tracer calls)."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(*inputs)

    return Positional(module).eval()


class OpenVinoEngine(Engine):
    backend = "openvino"

    def __init__(self, onnx_path: str | Path, spec: ModelSpec, *, precision: str = "fp32", device: str = "cpu",
                 threads: int | None = None, fp32_fallback=None):
        ov = openvino_runtime()

        check_precision(self.backend, precision)
        if device != "cpu":
            raise BackendUnavailableError("the openvino backend runs on the CPU only; use --device cpu")
        super().__init__(spec, precision=precision, device=device, fp32_fallback=fp32_fallback)
        core = ov.Core()
        if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise BackendUnavailableError("this CPU has no bf16 support; use --precision fp32")
        config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.onnx_path = Path(onnx_path)
        self._compiled = compiled_model(core, self.onnx_path, spec.name, config)
        self._request = self._compiled.create_infer_request()

    @classmethod
    def from_model(cls, model, *, precision: str = "fp32", **kw) -> OpenVinoEngine:
        check_precision(cls.backend, precision, model)  # before any conversion work
        spec = ModelSpec.of(model)
        if spec.kind.openvino_from == "torch":
            return cls(ir_from_torch(model), spec, precision=precision, **kw)
        from ganrt.export.onnx_cache import cached_onnx

        return cls(cached_onnx(model, "fp32"), spec, precision=precision, **kw)

    def _infer(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        self._request.infer(dict(enumerate(inputs)))
        return np.array(self._request.get_output_tensor(0).data, copy=True)

    def close(self) -> None:
        self._request = self._compiled = None
        super().close()
