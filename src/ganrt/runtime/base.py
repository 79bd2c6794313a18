"""The one engine interface every backend implements, for every model kind.

``infer(*inputs)`` takes the inputs the model's kind names (``ganrt.kinds``)
as float32 arrays, batch first: a super-resolution model an NCHW image batch
in 0..1 (it returns (N, C, H*scale, W*scale)), a generator a batch of noise
vectors (it returns images in its value range), an inpainter an image batch
and a mask batch. Backends override only ``_infer``; the base owns input
validation, padding of image inputs to the model's size multiple, and the
non-finite guard: every output is checked for NaN/Inf, and on fp16/bf16 a
non-finite item is re-run by an fp32 engine (with a warning) so it never
reaches an output file.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ganrt.errors import NonFiniteOutputError
from ganrt.kinds import DEFAULT_KIND, Kind, get_kind

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class ModelSpec:
    """What an engine needs to know about the model it runs, independent of the backend."""

    name: str
    scale: int
    in_channels: int
    out_channels: int
    size_multiple: int = 1
    min_size: int = 0
    kind_name: str = DEFAULT_KIND
    noise_dim: int = 0  # generators: the length of their noise vector
    image_size: int = 0  # generators: the side of the images they make
    value_range: tuple[float, float] = (0.0, 1.0)  # what the output's pixel values span

    @property
    def kind(self) -> Kind:
        return get_kind(self.kind_name)

    @classmethod
    def of(cls, model) -> ModelSpec:
        """The spec of a loaded model (``ganrt.models.LoadedModel``)."""
        return cls(model.name, model.scale, model.in_channels, model.out_channels, model.size_multiple,
                   model.min_size, model.kind, model.noise_dim, model.image_size, tuple(model.value_range))


class Engine(ABC):
    backend: str = "?"

    def __init__(self, spec: ModelSpec, *, precision: str, device: str,
                 fp32_fallback: Callable[[], Engine] | None = None):
        self.spec = spec
        self.precision = precision
        self.device = device
        self._fp32_fallback_factory = fp32_fallback
        self._fp32_engine: Engine | None = None
        self.fallbacks = 0  # items re-run in fp32 because of NaN/Inf

    # --- what callers ask ---------------------------------------------------------
    @property
    def scale(self) -> int:
        return self.spec.scale

    @property
    def channels(self) -> int:
        return self.spec.in_channels

    @property
    def max_input_hw(self) -> tuple[int, int] | None:
        """The largest input (H, W) one call accepts, or None for no limit (TensorRT profiles set one)."""
        return None

    def describe(self) -> str:
        return f"{self.backend} {self.precision} on {self.device}"

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    # --- the contract ---------------------------------------------------------------
    def infer(self, *inputs: np.ndarray) -> np.ndarray:
        """Run the model on its inputs (float32, batch first; see the module docstring)."""
        inputs = self._validate(inputs)
        padded, (ph, pw) = self._pad_to_multiple(inputs) if self.kind.spatial else (inputs, (0, 0))
        out = np.asarray(self._infer(padded), dtype=np.float32)
        expected = self.kind.output(self.spec, [x.shape for x in padded])
        if out.shape != expected:
            raise RuntimeError(f"{self.backend} returned shape {out.shape}, expected {expected}")
        if ph or pw:
            s = self.scale
            out = out[:, :, : inputs[0].shape[2] * s, : inputs[0].shape[3] * s]
        return self._guard_finite(inputs, out)

    def infer_pixels(self, tiles: np.ndarray, maxval: float, out_dtype=None) -> np.ndarray:
        """Restore NHWC pixels (integers up to ``maxval``, or floats in 0..1).

        Returns NHWC float32 clamped to 0..1 or, where the engine quantises on its
        device, ``out_dtype`` pixels when that is an unsigned integer type (the
        caller quantises what comes back as float). This is the hook through which
        the tiler feeds an engine; CUDA backends override it to convert, clamp and
        quantise on the device, so a ×4 frame crosses the bus as bytes.
        """
        x = tiles.transpose(0, 3, 1, 2).astype(np.float32)
        if maxval != 1.0:
            x *= np.float32(1.0 / maxval)
        y = self.infer(x)
        return np.clip(y.transpose(0, 2, 3, 1), 0.0, 1.0)

    @abstractmethod
    def _infer(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        """Backend work: the validated (and padded) float32 inputs in call order, the raw output out."""

    def close(self) -> None:
        if self._fp32_engine is not None:
            self._fp32_engine.close()
            self._fp32_engine = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- shared machinery --------------------------------------------------------------
    def _validate(self, inputs: tuple) -> tuple[np.ndarray, ...]:
        kind = self.kind
        if len(inputs) != len(kind.inputs):
            raise ValueError(f"a {kind.name} model takes {len(kind.inputs)} input(s) ({', '.join(kind.inputs)}), "
                             f"got {len(inputs)}")
        if not all(isinstance(x, np.ndarray) for x in inputs):
            raise ValueError("engine inputs must be numpy arrays")
        first = inputs[0]
        if kind.spatial:
            h, w = (first.shape[2], first.shape[3]) if first.ndim == 4 else (1, 1)
            want = kind.shapes(self.spec, first.shape[0], h, w)
        else:
            want = kind.shapes(self.spec, first.shape[0] if first.ndim else 0, 0, 0)
        for name, x, shape in zip(kind.inputs, inputs, want):
            if x.ndim != len(shape):
                raise ValueError(f"engine input {name!r} must have {len(shape)} dimensions, got {x.ndim}")
            if kind.spatial and x.shape[1] != shape[1]:
                raise ValueError(f"model expects {shape[1]} channels in {name!r}, got {x.shape[1]}")
            if not kind.spatial and x.shape != shape:
                raise ValueError(f"engine input {name!r} must be {shape}, got {x.shape}")
        if kind.spatial and (first.shape[2] < 1 or first.shape[3] < 1):
            raise ValueError("engine input must be at least 1x1")
        return tuple(np.ascontiguousarray(x, dtype=np.float32) for x in inputs)

    def _pad_to_multiple(self, inputs: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], tuple[int, int]]:
        m, lo = self.spec.size_multiple, self.spec.min_size
        h, w = inputs[0].shape[2:]
        th, tw = max(h, lo), max(w, lo)
        th, tw = -(-th // m) * m, -(-tw // m) * m
        ph, pw = th - h, tw - w
        if not (ph or pw):
            return inputs, (0, 0)
        mode = "reflect" if ph < h and pw < w else "edge"
        return tuple(np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode) for x in inputs), (ph, pw)

    def fp32_fallback(self) -> Engine | None:
        """The fp32 engine that re-runs what this one cannot (None when this one is fp32 already)."""
        if self.precision == "fp32" or self._fp32_fallback_factory is None:
            return None
        if self._fp32_engine is None:
            self._fp32_engine = self._fp32_fallback_factory()
        return self._fp32_engine

    def _guard_finite(self, inputs: tuple[np.ndarray, ...], out: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(out).reshape(out.shape[0], -1).all(axis=1)
        if not bad.any():
            return out
        fallback = self.fp32_fallback()
        if fallback is None:
            raise NonFiniteOutputError(
                f"{self.describe()} produced NaN/Inf for {int(bad.sum())} of {len(bad)} input(s)"
                + ("" if self.precision == "fp32" else " and no fp32 fallback is available")
            )
        count = int(bad.sum())
        self.fallbacks += count
        log.warning("%s produced NaN/Inf on %d tile(s); re-ran them in fp32", self.describe(), count)
        out = out.copy()
        out[bad] = fallback.infer(*(x[bad] for x in inputs))
        return out
