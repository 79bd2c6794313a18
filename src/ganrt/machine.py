"""Facts about this machine that runtime, export and bench all read: CPU, NVIDIA driver, CUDA, GPUs.

The lowest module of the package: it imports nothing of ganrt's, and torch
only when a question about CUDA cannot be answered without it (never on a
machine with no NVIDIA driver, where that import costs seconds and 0.5 GB).
"""

from __future__ import annotations

import functools
import os
import platform

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
DEVICE_SPELLING = "auto, cpu, cuda or cuda:N (e.g. cuda:1)"


def is_device_name(name: str) -> bool:
    """Whether ``name`` is a device as every command spells it: auto, cpu, cuda or cuda:N."""
    import re

    return name in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", name) is not None


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    model, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if not model and line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif not flags and line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                if model and flags:
                    break
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def cpu_model() -> str:
    return _cpuinfo()[0]


def cpu_flags() -> frozenset[str]:
    return _cpuinfo()[1]


def cpu_has_bf16() -> bool:
    """Whether the CPU has bf16 matrix instructions (AVX512-BF16 or AMX)."""
    return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


def cpu_cores() -> int:
    """Cores this process may run on (its affinity mask, not the whole machine)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def nvidia_driver_present() -> bool:
    """A cheap check that needs no import: is there an NVIDIA driver and device node at all, and
    are GPUs not hidden (``CUDA_VISIBLE_DEVICES`` empty or -1: the usual way to run on the CPU)?"""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    if not nvidia_driver_present():
        return False
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def gpu_identity(device: str = "cuda") -> tuple[str, str] | None:
    """(GPU name, compute capability 'major.minor') of ``device``, or None without a CUDA GPU."""
    if not cuda_available():
        return None
    import torch

    props = torch.cuda.get_device_properties(torch.device(device).index or 0)
    return props.name, f"{props.major}.{props.minor}"


def gpu_summary() -> dict | None:
    """Name, memory, capability and CUDA version of GPU 0 (for reports), or None."""
    if not cuda_available():
        return None
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda}
