"""Describe the machine a measurement ran on: CPU, cores, GPU, library versions."""

from __future__ import annotations

import platform
from importlib import metadata

from ganrt.machine import cpu_cores, cpu_flags, cpu_model, gpu_summary


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe_machine() -> dict:
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cores": cpu_cores(),
        "cpu_bf16": sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {d: _version(d) for d in ("ganrt", "torch", "onnxruntime", "onnxruntime-gpu", "openvino",
                                              "tensorrt", "tensorrt-rtx-cu13", "ncnn", "numpy", "opencv-python")},
        "gpu": gpu_summary(),
    }
