"""The one engine interface every backend implements.

An engine takes a float32 batch, NCHW, RGB in 0..1 and returns the restored
batch (N, C, H*scale, W*scale). Backends override only ``_infer``; the base
owns input validation, padding to the model's size multiple, and the
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

    @classmethod
    def of(cls, model) -> ModelSpec:
        """The spec of a loaded model (``ganrt.models.LoadedModel``)."""
        return cls(model.name, model.scale, model.in_channels, model.out_channels, model.size_multiple,
                   model.min_size)


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

    # --- the contract ---------------------------------------------------------------
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Restore a float32 NCHW batch in 0..1; returns float32 NCHW, ``scale`` times larger."""
        batch = self._validate(batch)
        n, _, h, w = batch.shape
        padded, (ph, pw) = self._pad_to_multiple(batch)
        out = np.asarray(self._infer(padded), dtype=np.float32)
        s = self.scale
        expected = (n, self.spec.out_channels, padded.shape[2] * s, padded.shape[3] * s)
        if out.shape != expected:
            raise RuntimeError(f"{self.backend} returned shape {out.shape}, expected {expected}")
        if ph or pw:
            out = out[:, :, : h * s, : w * s]
        return self._guard_finite(batch, out)

    def infer_pixels(self, tiles: np.ndarray, maxval: float) -> np.ndarray:
        """Restore NHWC pixels (integers up to ``maxval``, or floats in 0..1).

        Returns NHWC float32 clamped to 0..1. This is the hook through which the
        tiler feeds an engine; CUDA backends override it to do the integer to
        float conversion and the clamp on the device.
        """
        x = tiles.transpose(0, 3, 1, 2).astype(np.float32)
        if maxval != 1.0:
            x *= np.float32(1.0 / maxval)
        y = self.infer(x)
        return np.clip(y.transpose(0, 2, 3, 1), 0.0, 1.0)

    @abstractmethod
    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Backend work: a validated, padded float32 NCHW batch in, the raw model output out."""

    def close(self) -> None:
        if self._fp32_engine is not None:
            self._fp32_engine.close()
            self._fp32_engine = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- shared machinery --------------------------------------------------------------
    def _validate(self, batch: np.ndarray) -> np.ndarray:
        if not isinstance(batch, np.ndarray) or batch.ndim != 4:
            raise ValueError("engine input must be a 4-D NCHW numpy array")
        if batch.shape[1] != self.channels:
            raise ValueError(f"model expects {self.channels} channels, got {batch.shape[1]}")
        if batch.shape[2] < 1 or batch.shape[3] < 1:
            raise ValueError("engine input must be at least 1x1")
        return np.ascontiguousarray(batch, dtype=np.float32)

    def _pad_to_multiple(self, batch: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        m, lo = self.spec.size_multiple, self.spec.min_size
        h, w = batch.shape[2:]
        th, tw = max(h, lo), max(w, lo)
        th, tw = -(-th // m) * m, -(-tw // m) * m
        ph, pw = th - h, tw - w
        if not (ph or pw):
            return batch, (0, 0)
        mode = "reflect" if ph < h and pw < w else "edge"
        return np.pad(batch, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode), (ph, pw)

    def fp32_fallback(self) -> Engine | None:
        """The fp32 engine that re-runs what this one cannot (None when this one is fp32 already)."""
        if self.precision == "fp32" or self._fp32_fallback_factory is None:
            return None
        if self._fp32_engine is None:
            self._fp32_engine = self._fp32_fallback_factory()
        return self._fp32_engine

    def _guard_finite(self, batch: np.ndarray, out: np.ndarray) -> np.ndarray:
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
        out[bad] = fallback.infer(batch[bad])
        return out
