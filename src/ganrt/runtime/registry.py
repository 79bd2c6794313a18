"""``create_engine``: an engine for a model with every ``auto`` choice resolved.

The backend table lives in ``ganrt.runtime.backends`` and the ``auto`` policy
in ``ganrt.runtime.choice``; both are re-exported here for callers. Each
backend module is imported only when it is used, so the CLI starts fast and
runs where tensorrt, openvino or CUDA are missing.
"""

from __future__ import annotations

import logging

from ganrt.errors import BackendUnavailableError
from ganrt.runtime.backends import (BACKEND_NAMES, BACKENDS, BackendInfo, backend_info,  # noqa: F401
                                    check_precision, engine_factory, is_installed, resolve_device)
from ganrt.runtime.choice import choose_backend, choose_precision

log = logging.getLogger(__name__)


def resolve(model, *, backend: str = "auto", device: str = "auto", precision: str = "auto",
            threads: int | None = None) -> tuple[str, str, str]:
    """(backend, device, precision) with every ``auto`` resolved and the combination checked."""
    device = resolve_device(device)
    dev_kind = "cuda" if device.startswith("cuda") else "cpu"
    if backend == "auto":
        backend = choose_backend(model, dev_kind, precision)
    info = backend_info(backend)
    if dev_kind not in info.devices:
        if info.devices == ("cuda",):
            raise BackendUnavailableError(f"backend {backend!r} runs on an NVIDIA GPU, and there is no CUDA GPU here; "
                                          "use --backend openvino, onnxruntime or torch on the CPU")
        raise BackendUnavailableError(f"backend {backend!r} runs on {', '.join(info.devices)}, not {dev_kind}")
    if precision == "auto":
        precision = choose_precision(model, backend, dev_kind, threads=threads)
    check_precision(backend, precision, model)
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
    factory = engine_factory(info)
    return factory(model, precision=precision, device=device, threads=threads, fp32_fallback=fallback)
