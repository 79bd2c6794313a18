"""How ``auto`` picks a backend and a precision, and the bf16 fidelity guard.

The rule (backed by ``benchmarks/cpu_fast_path.py``; figures in benchmarks/README.md):

- CUDA: TensorRT (fp16) when installed, otherwise torch (fp16, channels-last).
- CPU: OpenVINO when installed (fastest measured CPU path, and the lightest
  in memory), then ONNX Runtime, then torch. Precision bf16 when the CPU has
  bf16 matrix instructions (AVX512-BF16 or AMX), the backend runs bf16 and
  the model supports it, otherwise fp32.

The guard: before the first bf16 run of a model on a machine, its bf16 output
is compared with fp32 on the real calibration photos; if the worst is below
40 dB PSNR, fp32 is used instead, with a warning. The verdict is cached per
machine, backend and model.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from ganrt.kinds import SUPER_RESOLUTION
from ganrt.machine import cpu_has_bf16, cpu_model, cuda_available
from ganrt.runtime.backends import backend_info, is_installed

log = logging.getLogger(__name__)

CPU_ORDER = ("openvino", "onnxruntime", "torch")  # super-resolution's; each kind names its own (ganrt.kinds)

BF16_MIN_PSNR = 40.0


def tensorrt_runs_here() -> bool:
    """Whether an installed TensorRT flavour runs on this machine's GPU (RTX's does not on Hopper)."""
    from ganrt.export.trt_flavours import installed_flavours
    from ganrt.machine import gpu_identity

    found = gpu_identity()
    return found is not None and any(f.runs_on(found[1]) for f in installed_flavours())


def choose_backend(model, device: str, precision: str) -> str:
    if device == "cuda":
        return "tensorrt" if tensorrt_runs_here() else "torch"
    from ganrt.kinds import get_kind

    for name in get_kind(getattr(model, "kind", SUPER_RESOLUTION)).cpu_order:
        info = backend_info(name)
        if is_installed(info) and (precision == "auto" or precision in info.precisions):
            if precision == "fp16":
                from ganrt.notify import notify

                notify(f"fp16 has no fast path on a CPU: running {name} in fp16, several times slower than "
                       "the default (-p auto)")
            return name
    return "torch"


def choose_precision(model, backend: str, device: str, *, threads: int | None = None) -> str:
    info = backend_info(backend)
    if device == "cuda":
        return "fp16" if "fp16" in model.precisions and "fp16" in info.precisions else "fp32"
    guarded = getattr(model, "kind", SUPER_RESOLUTION) == SUPER_RESOLUTION  # the guard compares photos
    if guarded and cpu_has_bf16() and "bf16" in info.precisions and "bf16" in model.precisions:
        return "bf16" if bf16_passes_guard(model, backend, threads=threads) else "fp32"
    return "fp32"


def _guard_path():
    from ganrt.cache import cache_dir

    return cache_dir("choices") / "bf16-guard.json"


def _guard_key(model, backend: str) -> str:
    from importlib import metadata

    try:
        version = metadata.version(backend)  # the CPU backends' distributions carry their names
    except metadata.PackageNotFoundError:
        version = "?"
    return f"v2|{cpu_model()}|{backend}-{version}|{model.name}|{model.checksum[:16]}"


def bf16_fidelity(model, backend: str, *, threads: int | None = None) -> float:
    """Worst PSNR (dB) of bf16 against fp32 over the real calibration photos, same backend, CPU."""
    from ganrt.data import calibration_inputs
    from ganrt.kinds import to_unit_range
    from ganrt.quality import psnr
    from ganrt.runtime.backends import engine_factory
    from ganrt.kinds import ModelSpec

    cases = calibration_inputs(ModelSpec.of(model), harsh=False)  # the real photos (or noise) only
    worst = float("inf")
    make = engine_factory(backend_info(backend))
    with make(model, precision="fp32", device="cpu", threads=threads) as ref, \
            make(model, precision="bf16", device="cpu", threads=threads) as half:
        for case in cases:
            want = ref.infer(*case)
            got = half.infer(*case)
            if not np.isfinite(got).all():
                return 0.0
            worst = min(worst, psnr(to_unit_range(got, model.value_range), to_unit_range(want, model.value_range)))
    return worst


def bf16_passes_guard(model, backend: str, *, threads: int | None = None) -> bool:
    """Measured once per machine, backend and model; cached."""
    from ganrt.fsutil import atomic_write_bytes

    path = _guard_path()
    verdicts = _read_verdicts(path)
    key = _guard_key(model, backend)
    if key not in verdicts:
        from ganrt.notify import notify

        notify(f"checking {model.name} in bf16 against fp32 on {backend} (once per machine and model)")
        psnr = bf16_fidelity(model, backend, threads=threads)
        verdicts[key] = {"psnr_db": round(float(psnr), 2) if np.isfinite(psnr) else 999.0,
                         "ok": bool(psnr >= BF16_MIN_PSNR)}
        try:
            atomic_write_bytes(path, json.dumps(verdicts, indent=1).encode())
        except OSError:
            pass
    verdict = verdicts[key]
    if not verdict["ok"]:
        log.warning("%s in bf16 on %s reaches only %.1f dB against fp32 (need %.0f): using fp32",
                    model.name, backend, verdict["psnr_db"], BF16_MIN_PSNR)
    return bool(verdict["ok"])


def _read_verdicts(path) -> dict:
    """The cached verdicts; anything that is not a mapping of {psnr_db: number, ok: bool} is dropped."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items()
            if isinstance(v, dict) and isinstance(v.get("ok"), bool) and isinstance(v.get("psnr_db"), (int, float))}


def explain_choice(model_name: str = "realesr-animevideov3") -> dict:
    """What ``auto`` resolves to on this machine, and why (for `ganrt doctor`)."""
    from ganrt.models import load_model

    device = "cuda" if cuda_available() else "cpu"
    model = load_model(model_name)
    backend = choose_backend(model, device, "auto")
    precision = choose_precision(model, backend, device)
    if device == "cuda":
        why = "CUDA GPU present; " + ("a TensorRT flavour runs on it" if backend == "tensorrt"
                                      else "no installed TensorRT flavour runs on it")
    else:
        why = (f"no CUDA GPU; {backend} is the first installed of {', '.join(CPU_ORDER)}; "
               + ("CPU has bf16 matrix instructions" if cpu_has_bf16() else "no bf16 matrix instructions on this CPU"))
        if cpu_has_bf16() and precision == "fp32":
            why += f"; bf16 failed the {BF16_MIN_PSNR:.0f} dB fidelity guard or is unsupported"
    return {"device": device, "backend": backend, "precision": precision, "model": model_name, "why": why}
