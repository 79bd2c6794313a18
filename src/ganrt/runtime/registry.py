"""The backends, as one table, and ``create_engine`` which resolves ``auto`` choices.

Each backend module is imported only when it is used, so the CLI starts fast
and runs where tensorrt, openvino or CUDA are missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass

from ganrt.errors import BackendUnavailableError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str
    factory: str  # classmethod or function taking (model, precision=, device=, threads=, fp32_fallback=)
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    requires: str  # the import this backend needs
    note: str


BACKENDS: tuple[BackendInfo, ...] = (
    BackendInfo("torch", "ganrt.runtime.torch_backend", "TorchEngine", ("cpu", "cuda"),
                ("fp32", "fp16", "bf16"), "torch", "PyTorch eager; bf16 autocast channels-last on CPU"),
    BackendInfo("onnxruntime", "ganrt.runtime.ort_backend", "OrtEngine.from_model", ("cpu", "cuda"),
                ("fp32", "fp16"), "onnxruntime", "ONNX Runtime; CUDA/TensorRT providers with onnxruntime-gpu"),
    BackendInfo("openvino", "ganrt.runtime.openvino_backend", "OpenVinoEngine.from_model", ("cpu",),
                ("fp32", "bf16"), "openvino", "OpenVINO CPU plugin with an explicit precision hint"),
    BackendInfo("tensorrt", "ganrt.runtime.trt_backend", "TrtEngine.from_model", ("cuda",),
                ("fp16", "fp32", "bf16"), "tensorrt", "TensorRT ≥ 10 engine, built once and cached"),
)
BACKEND_NAMES = tuple(b.name for b in BACKENDS)
_BY_NAME = {b.name: b for b in BACKENDS}


def backend_info(name: str) -> BackendInfo:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; choose one of auto, {', '.join(BACKEND_NAMES)}") from None


def is_installed(info: BackendInfo) -> bool:
    return importlib.util.find_spec(info.requires) is not None


def nvidia_driver_present() -> bool:
    """A cheap check that needs no import: is there an NVIDIA driver and device node at all?"""
    import os

    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")


def cuda_available() -> bool:
    if not nvidia_driver_present():
        return False  # answers without importing torch (0.5 GB and seconds on a CPU-only machine)
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UsageError(f"unknown device {device!r}; choose auto, cpu or cuda")
    if device.startswith("cuda") and not cuda_available():
        raise BackendUnavailableError("no CUDA GPU is available here; use --device cpu")
    return device


def _factory(info: BackendInfo):
    if not is_installed(info):
        extra = {"tensorrt": " (pip install 'ganrt[tensorrt]')", "onnxruntime": "", "openvino": ""}.get(info.name, "")
        raise BackendUnavailableError(f"backend {info.name!r} needs the {info.requires!r} package, which is not installed{extra}")
    obj = importlib.import_module(info.module)
    for part in info.factory.split("."):
        obj = getattr(obj, part)
    return obj


def resolve(model, *, backend: str = "auto", device: str = "auto", precision: str = "auto",
            threads: int | None = None) -> tuple[str, str, str]:
    """(backend, device, precision) with every ``auto`` resolved and the combination checked."""
    from ganrt.runtime.choice import choose_backend, choose_precision

    device = resolve_device(device)
    dev_kind = "cuda" if device.startswith("cuda") else "cpu"
    if backend == "auto":
        backend = choose_backend(model, dev_kind, precision)
    info = backend_info(backend)
    if dev_kind not in info.devices:
        raise BackendUnavailableError(f"backend {backend!r} runs on {', '.join(info.devices)}, not {dev_kind}")
    if precision == "auto":
        precision = choose_precision(model, backend, dev_kind, threads=threads)
    if precision not in info.precisions:
        raise BackendUnavailableError(
            f"backend {backend!r} does not run {precision}; it runs {', '.join(info.precisions)}")
    if precision not in model.precisions:
        raise BackendUnavailableError(f"{model.name} does not support {precision}")
    return backend, device, precision


def create_engine(model, *, backend: str = "auto", device: str = "auto", precision: str = "auto",
                  threads: int | None = None, guard: bool = True):
    """An engine for ``model`` with every ``auto`` resolved; fp16/bf16 engines get an fp32 fallback."""
    backend, device, precision = resolve(model, backend=backend, device=device, precision=precision,
                                         threads=threads)
    info = backend_info(backend)
    fallback = None
    if guard and precision != "fp32":
        # TensorRT falls back to torch fp32 on the same GPU: an fp32 engine build would take minutes.
        fallback_backend = "torch" if backend == "tensorrt" else backend

        def fallback():
            return create_engine(model, backend=fallback_backend, device=device, precision="fp32",
                                 threads=threads, guard=False)
    factory = _factory(info)
    return factory(model, precision=precision, device=device, threads=threads, fp32_fallback=fallback)
