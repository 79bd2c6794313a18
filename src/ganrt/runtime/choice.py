"""How ``auto`` picks a backend and a precision."""

from __future__ import annotations

from ganrt.runtime.registry import backend_info, is_installed


def choose_backend(model, device: str, precision: str) -> str:
    if device == "cuda":
        return "tensorrt" if is_installed(backend_info("tensorrt")) else "torch"
    return "onnxruntime"


def choose_precision(model, backend: str, device: str, *, threads: int | None = None) -> str:
    if device == "cuda" and "fp16" in model.precisions:
        return "fp16"
    return "fp32"
