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

import numpy as np

from ganrt.errors import NonFiniteOutputError
from ganrt.kinds import Kind, ModelSpec

log = logging.getLogger(__name__)



def pad_rule(spec: ModelSpec, h: int, w: int) -> tuple[int, int, str]:
    """The one pad rule of every engine, on the host or on a GPU: (rows, columns, mode) to add at the bottom and
    right of an h × w input so it meets the model's minimum size and size multiple. Mirrored ("reflect")
    where the input is larger than what is added, else its edge repeated ("edge"): CPU and CUDA engines give
    an input under a model's minimum (Real-CUGAN's 32 px, a user file's multiple) the same borders."""
    m, lo = spec.size_multiple, spec.min_size
    th, tw = -(-max(h, lo) // m) * m, -(-max(w, lo) // m) * m
    ph, pw = th - h, tw - w
    return ph, pw, "reflect" if ph < h and pw < w else "edge"


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
        if not all(isinstance(x, np.ndarray) for x in inputs):
            raise ValueError("engine inputs must be numpy arrays")
        self.check_shapes([x.shape for x in inputs])
        return tuple(np.ascontiguousarray(x, dtype=np.float32) for x in inputs)

    def check_shapes(self, shapes: list[tuple[int, ...]]) -> None:
        """Refuse inputs of these shapes (batch first, channels second) that the model's kind does not take:
        every path into an engine, the CUDA pixel path included, goes through this one check."""
        kind = self.kind
        if len(shapes) != len(kind.inputs):
            raise ValueError(f"a {kind.name} model takes {len(kind.inputs)} input(s) ({', '.join(kind.inputs)}), "
                             f"got {len(shapes)}")
        first = shapes[0]
        if kind.spatial:
            h, w = (first[2], first[3]) if len(first) == 4 else (1, 1)
            want = kind.shapes(self.spec, first[0], h, w)
        else:
            want = kind.shapes(self.spec, first[0] if len(first) else 0, 0, 0)
        for name, shape, expected in zip(kind.inputs, shapes, want):
            if len(shape) != len(expected):
                raise ValueError(f"engine input {name!r} must have {len(expected)} dimensions, got {len(shape)}")
            if kind.spatial and shape[1] != expected[1]:
                raise ValueError(f"model expects {expected[1]} channels in {name!r}, got {shape[1]}")
            if not kind.spatial and tuple(shape) != tuple(expected):
                raise ValueError(f"engine input {name!r} must be {expected}, got {tuple(shape)}")
        if kind.spatial and (first[2] < 1 or first[3] < 1):
            raise ValueError("engine input must be at least 1x1")

    def _pad_to_multiple(self, inputs: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], tuple[int, int]]:
        h, w = inputs[0].shape[2:]
        ph, pw, mode = pad_rule(self.spec, h, w)
        if not (ph or pw):
            return inputs, (0, 0)
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
