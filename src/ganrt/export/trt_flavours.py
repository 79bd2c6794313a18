"""The two TensorRT flavours ganrt builds and runs, and every difference between them, in one place.

- ``tensorrt``: NVIDIA TensorRT 10/11 (``import tensorrt``). Builds on the GPU
  it targets (kernels are timed there; a timing cache makes rebuilds fast);
  runs on any CUDA GPU it supports, A100/H100/H200 included.
- ``rtx``: TensorRT for RTX (``import tensorrt_rtx``, ``pip install
  'ganrt[tensorrt-rtx]'``). Builds ahead of time, with no GPU at all, for the
  compute capabilities it is told (``--target``); kernels are compiled on the
  device at first run and kept in a runtime cache beside the engine. Runs on
  GeForce/RTX cards (SM 7.5, 8.6, 8.9, 12.x; SM 8.0 since 1.7), not on
  Hopper (SM 9.0: H100, H200).

Builder, engine cache and backend ask a ``Flavour`` instead of branching.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass

from ganrt.errors import BackendUnavailableError, UsageError


@dataclass(frozen=True)
class Flavour:
    name: str
    module: str
    extra: str  # pip install 'ganrt[<extra>]'
    builds_without_gpu: bool  # ahead-of-time builds for named targets
    timing_cache: bool  # build-time autotuning results kept between builds
    runtime_cache: bool  # kernels compiled on the device at first run, kept between runs
    description: str

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def load(self):
        """The flavour's Python module; one clear line when it is missing."""
        if not self.installed():
            raise BackendUnavailableError(
                f"{self.description} is not installed: pip install 'ganrt[{self.extra}]'")
        return importlib.import_module(self.module)

    def version(self) -> str:
        return self.load().__version__

    def logger(self):
        return _logger(self.module)

    def targets(self) -> tuple[str, ...]:
        """Compute capabilities it builds for, as 'smXY' (ahead of time; empty for full TensorRT)."""
        if not self.builds_without_gpu:
            return ()
        trt = self.load()
        return tuple(sorted((n.lower() for n in dir(trt.ComputeCapability) if n.startswith("SM")),
                            key=lambda t: int(t[2:])))

    def runs_on(self, capability: str) -> bool:
        """Whether engines of this flavour run on a GPU of compute capability 'major.minor'."""
        if not self.builds_without_gpu:
            return True
        return sm_name(capability) in self.targets()

    def bf16_flag(self) -> bool:
        """Whether the builder still has the weakly typed BF16 flag (TensorRT 10.x)."""
        return hasattr(self.load().BuilderFlag, "BF16")


FLAVOURS: dict[str, Flavour] = {
    "tensorrt": Flavour("tensorrt", "tensorrt", "tensorrt", builds_without_gpu=False, timing_cache=True,
                        runtime_cache=False, description="TensorRT (10/11)"),
    "rtx": Flavour("rtx", "tensorrt_rtx", "tensorrt-rtx", builds_without_gpu=True, timing_cache=False,
                   runtime_cache=True, description="TensorRT for RTX"),
}


@functools.lru_cache(maxsize=None)
def _logger(module: str):
    """One logger per flavour and process (TensorRT keeps the first one it is given). It relays
    TensorRT's messages to the ``ganrt.tensorrt`` log instead of printing them: warnings as warnings,
    errors at debug level and kept (``errors``) for the one line the failure ends in."""
    import collections
    import logging

    trt = importlib.import_module(module)
    relay = logging.getLogger("ganrt.tensorrt")
    severity = trt.ILogger.Severity

    class Relay(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: collections.deque[str] = collections.deque(maxlen=3)

        def log(self, level, message):
            if level in (severity.ERROR, severity.INTERNAL_ERROR):
                self.errors.append(" ".join(str(message).split()))
                relay.debug("%s", message)
            elif level == severity.WARNING:
                relay.warning("%s", message)
            else:
                relay.debug("%s", message)

    return Relay()


def sm_name(capability: str) -> str:
    """'8.9' → 'sm89'."""
    major, _, minor = capability.partition(".")
    return f"sm{major}{minor or '0'}"


def get_flavour(name: str) -> Flavour:
    try:
        return FLAVOURS[name]
    except KeyError:
        raise UsageError(f"--flavour must be auto, {', '.join(FLAVOURS)}, not {name!r}") from None


def installed_flavours() -> list[Flavour]:
    return [f for f in FLAVOURS.values() if f.installed()]


def choose_flavour(name: str, capability: str | None) -> Flavour:
    """The flavour for ``--flavour name`` on a machine whose GPU has ``capability`` (None: no GPU).

    ``auto``: full TensorRT on a GPU when it is installed; otherwise TensorRT for RTX (which also
    builds ahead of time when there is no GPU)."""
    if name != "auto":
        flavour = get_flavour(name)
        flavour.load()
        return flavour
    full, rtx = FLAVOURS["tensorrt"], FLAVOURS["rtx"]
    if capability is not None and full.installed():
        return full
    if rtx.installed():
        return rtx
    if capability is None:
        raise BackendUnavailableError("no TensorRT flavour can build here: without a GPU only TensorRT for RTX "
                                      "builds (pip install 'ganrt[tensorrt-rtx]')")
    raise BackendUnavailableError("TensorRT is not installed: pip install 'ganrt[tensorrt]' (or "
                                  "'ganrt[tensorrt-rtx]' on GeForce/RTX cards)")


def parse_targets(text: str | None, flavour: Flavour, capability: str | None) -> tuple[str, ...]:
    """Build targets ('sm86,sm89' → ('sm86', 'sm89')). Default: the local GPU, or every target
    of the flavour when there is no GPU. Full TensorRT builds for the local GPU only."""
    if not flavour.builds_without_gpu:
        if text:
            raise UsageError("--target is for TensorRT for RTX (--flavour rtx); TensorRT builds for the local GPU")
        if capability is None:
            raise BackendUnavailableError("TensorRT builds engines on the GPU they are for, and there is none here; "
                                          "TensorRT for RTX builds ahead of time (--flavour rtx)")
        return (sm_name(capability),)
    known = flavour.targets()
    if text:
        wanted = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
        unknown = [t for t in wanted if t not in known]
        if unknown or not wanted:
            raise UsageError(f"--target {text!r}: {flavour.description} builds for {', '.join(known)}")
        return wanted
    if capability is not None:
        local = sm_name(capability)
        if local not in known:
            raise BackendUnavailableError(
                f"{flavour.description} does not run on this GPU ({local}; it runs {', '.join(known)}); "
                "install full TensorRT (pip install 'ganrt[tensorrt]'), or build for other GPUs with --target")
        return (local,)
    return known


def what_it_can_do(flavour: Flavour, capability: str | None) -> tuple[str, str]:
    """(ability, why) of an installed flavour here: 'build and run', 'build only' or 'nothing'."""
    if not flavour.installed():
        return "not installed", f"pip install 'ganrt[{flavour.extra}]'"
    if capability is None:
        if flavour.builds_without_gpu:
            return "build only", f"no GPU here: builds ahead of time for {', '.join(flavour.targets())}"
        return "nothing", "it builds and runs on the GPU it targets; there is none here"
    if flavour.runs_on(capability):
        return "build and run", f"GPU {sm_name(capability)} is supported"
    return "build only", (f"GPU {sm_name(capability)} is not one it runs on ({', '.join(flavour.targets())}); "
                          "it can still build for those")
