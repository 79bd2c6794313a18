"""The backends as one table: name, module, devices, precisions, what each needs installed.

The lowest runtime module: ``choice`` (the ``auto`` policy) and ``registry``
(``create_engine``) both read it, and it imports neither.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ganrt.errors import BackendUnavailableError, UsageError
from ganrt.kinds import PRECISIONS

if TYPE_CHECKING:
    from ganrt.runtime.base import Engine


class EngineFactory(Protocol):
    """What a backend's ``factory`` is (a class or a classmethod): an engine for a loaded model, given every choice
    resolved, and how to make its fp32 twin should a reduced precision produce NaN/Inf."""

    def __call__(self, model, *, precision: str, device: str, threads: int | None,
                 fp32_fallback: Callable[[], Engine] | None) -> Engine: ...
from ganrt.machine import cuda_available


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str
    factory: str  # the EngineFactory's name in ``module`` ("Class" or "Class.classmethod")
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    requires: tuple[str, ...]  # the imports that serve it (any one)
    note: str
    extra: str = ""  # pip install 'ganrt[<extra>]' brings it


BACKENDS: tuple[BackendInfo, ...] = (
    BackendInfo("torch", "ganrt.runtime.torch_backend", "TorchEngine", ("cpu", "cuda"),
                ("fp32", "fp16", "bf16"), ("torch",), "PyTorch eager; bf16 autocast channels-last on CPU"),
    BackendInfo("onnxruntime", "ganrt.runtime.ort_backend", "OrtEngine.from_model", ("cpu", "cuda"),
                ("fp32", "fp16"), ("onnxruntime",), "ONNX Runtime; CUDA/TensorRT providers with onnxruntime-gpu"),
    BackendInfo("openvino", "ganrt.runtime.openvino_backend", "OpenVinoEngine.from_model", ("cpu",),
                ("fp32", "bf16"), ("openvino",), "OpenVINO CPU plugin with an explicit precision hint"),
    BackendInfo("tensorrt", "ganrt.runtime.trt_backend", "TrtEngine.from_model", ("cuda",),
                ("fp16", "fp32", "bf16"), ("tensorrt", "tensorrt_rtx"),
                "TensorRT 10/11 or TensorRT for RTX engine, built once and cached", "tensorrt"),
)
BACKEND_NAMES = tuple(b.name for b in BACKENDS)
BACKEND_CHOICES = ("auto", *BACKEND_NAMES)  # what --backend takes
PRECISION_CHOICES = ("auto", *PRECISIONS)  # what --precision takes
_BY_NAME = {b.name: b for b in BACKENDS}


def backend_info(name: str) -> BackendInfo:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; choose one of auto, {', '.join(BACKEND_NAMES)}") from None


def check_precision(backend: str, precision: str, model=None) -> None:
    """The one check that ``backend`` runs ``precision`` (the table's word) and that ``model`` (a LoadedModel, or
    None when only a graph is known) supports it: ``auto``'s resolution, every engine's constructor and the
    exports ahead of an engine all ask this."""
    info = backend_info(backend)
    if precision not in info.precisions:
        others = [b.name for b in BACKENDS if precision in b.precisions and b.name != backend]
        raise BackendUnavailableError(f"backend {backend!r} does not run {precision}; it runs "
                                      f"{', '.join(info.precisions)}" + (f" (use --backend {' or '.join(others)})"
                                                                         if others else ""))
    if model is not None and precision not in model.precisions:
        raise BackendUnavailableError(f"{model.name} does not support {precision}; it supports "
                                      f"{', '.join(model.precisions)}")


def is_installed(info: BackendInfo) -> bool:
    return any(importlib.util.find_spec(module) is not None for module in info.requires)


def resolve_device(device: str) -> str:
    from ganrt.machine import DEVICE_SPELLING, is_device_name

    if not is_device_name(device):
        raise UsageError(f"unknown device {device!r}; choose {DEVICE_SPELLING}")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device.startswith("cuda") and not cuda_available():
        raise BackendUnavailableError("no CUDA GPU is available here; use --device cpu")
    return device


def engine_factory(info: BackendInfo) -> EngineFactory:
    """The callable that makes ``info``'s engines: ``(model, precision=, device=, threads=, fp32_fallback=)``."""
    if not is_installed(info):
        extra = f" (pip install 'ganrt[{info.extra}]')" if info.extra else ""
        raise BackendUnavailableError(
            f"backend {info.name!r} needs {' or '.join(info.requires)}, which is not installed{extra}")
    obj = importlib.import_module(info.module)
    for part in info.factory.split("."):
        obj = getattr(obj, part)
    return obj
