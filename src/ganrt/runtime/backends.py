"""The backends as one table: name, module, devices, precisions, what each needs installed.

The lowest runtime module: ``choice`` (the ``auto`` policy) and ``registry``
(``create_engine``) both read it, and it imports neither.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from ganrt.errors import BackendUnavailableError, UsageError
from ganrt.machine import cuda_available


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str
    factory: str  # classmethod or function taking (model, precision=, device=, threads=, fp32_fallback=)
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
_BY_NAME = {b.name: b for b in BACKENDS}


def backend_info(name: str) -> BackendInfo:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; choose one of auto, {', '.join(BACKEND_NAMES)}") from None


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


def engine_factory(info: BackendInfo):
    """The callable that makes ``info``'s engines: ``(model, precision=, device=, threads=, fp32_fallback=)``."""
    if not is_installed(info):
        extra = f" (pip install 'ganrt[{info.extra}]')" if info.extra else ""
        raise BackendUnavailableError(
            f"backend {info.name!r} needs {' or '.join(info.requires)}, which is not installed{extra}")
    obj = importlib.import_module(info.module)
    for part in info.factory.split("."):
        obj = getattr(obj, part)
    return obj
