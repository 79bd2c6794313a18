"""TensorRT backend: a cached engine run with the TensorRT ≥ 10 named-tensor API.

- ``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3`` on CUDA
  streams of its own; device buffers are kept across calls and grown only
  when a larger shape arrives.
- Several execution contexts on several streams (``streams``): a batch is
  split across them and they run concurrently. With dynamic shapes a profile
  serves one context at a time, so the engine holds one copy of each profile
  per stream and context *i* uses copy *i*.
- The profile that covers the input is picked per call; the tiler keeps tiles
  within the largest profile (``max_input_hw``).
- Device memory and streams come from PyTorch (already a dependency), so no
  pycuda or cuda-python is needed.
- Either TensorRT flavour (``ganrt.export.trt_flavours``): TensorRT 10/11, or
  TensorRT for RTX, whose kernels are compiled on the device at first run and
  kept in a runtime cache beside the engine (sealed, written when the engine
  closes), so the second run starts warm.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ganrt.errors import EngineBuildError
from ganrt.export.trt_profiles import (DEFAULT_MAX_HW, DEFAULT_MIN_HW, DEFAULT_OPT_HW, Profile, largest_input,
                                       pick_profile)
from ganrt.kinds import ModelSpec
from ganrt.runtime.backends import check_precision
from ganrt.runtime.base import Engine

log = logging.getLogger(__name__)


def default_profile(spec: ModelSpec, batch: int = 1) -> Profile:
    """The profile an engine is built with when none is asked: the usual range of image sizes, or the
    network's one size (a face network takes faces of its own size only)."""
    if spec.kind.one_size:
        return Profile.static((spec.min_size, spec.min_size), batch=batch, channels=spec.in_channels)
    return Profile.from_hw(DEFAULT_MIN_HW, DEFAULT_OPT_HW, DEFAULT_MAX_HW, batch=batch, channels=spec.in_channels)


def with_stream_copies(groups: list[Profile], streams: int) -> tuple[Profile, ...]:
    """Profile list for the builder: each distinct profile repeated once per stream."""
    return tuple(p for p in groups for _ in range(streams))


class TrtEngine(Engine):
    backend = "tensorrt"

    def __init__(self, engine_data: bytes, spec: ModelSpec, *, precision: str, groups: list[Profile],
                 streams: int = 1, device: str = "cuda", fp32_fallback=None, flavour: str = "tensorrt",
                 runtime_cache: Path | None = None):
        from ganrt.export.trt_flavours import get_flavour

        self.flavour = get_flavour(flavour)
        trt = self.flavour.load()
        import torch

        min_side = min(min(p.min_hw) for p in groups)
        spec = replace(spec, min_size=max(spec.min_size, min_side))
        super().__init__(spec, precision=precision, device=device, fp32_fallback=fp32_fallback)
        self._trt, self._torch = trt, torch
        self._device = torch.device(device)
        self.groups, self.streams = list(groups), streams
        with torch.cuda.device(self._device):
            self._runtime = trt.Runtime(self.flavour.logger())
            self._engine = self._runtime.deserialize_cuda_engine(engine_data)
            if self._engine is None:
                raise EngineBuildError("TensorRT could not deserialize the cached engine; delete it to rebuild")
            names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
            inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
            order = {name: i for i, name in enumerate(spec.kind.inputs)}
            self._inputs = sorted(inputs, key=lambda n: order.get(n, len(order)))  # the kind's call order
            self._output = next(n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
            self._in_dtypes = {n: self._torch_dtype(self._engine.get_tensor_dtype(n)) for n in self._inputs}
            self._in_dtype = self._in_dtypes[self._inputs[0]]
            self._out_dtype = self._torch_dtype(self._engine.get_tensor_dtype(self._output))
            expected = len(groups) * streams
            if self._engine.num_optimization_profiles != expected:
                raise EngineBuildError(f"engine has {self._engine.num_optimization_profiles} profiles, expected {expected}")
            self._runtime_cache_path = runtime_cache
            self._runtime_config = self._open_runtime_cache() if self.flavour.runtime_cache else None
            self._contexts = [self._new_context() for _ in range(streams)]
            self._streams = [torch.cuda.Stream(self._device) for _ in range(streams)]
        self._active = [-1] * streams  # profile index each context uses now
        self._buffers: list[dict[str, object]] = [{} for _ in range(streams)]

    def _open_runtime_cache(self):
        """A runtime config whose cache holds the kernels compiled for this GPU by earlier runs."""
        from ganrt import cache as store

        config = self._engine.create_runtime_config()
        runtime_cache = config.create_runtime_cache()
        path = self._runtime_cache_path
        if path is not None and store.check_seal(path, "TensorRT-RTX runtime cache"):
            runtime_cache.deserialize(path.read_bytes())
        config.set_runtime_cache(runtime_cache)
        return config

    def _new_context(self):
        if self._runtime_config is None:
            return self._engine.create_execution_context()
        return self._engine.create_execution_context(self._runtime_config)

    def _save_runtime_cache(self) -> None:
        if self._runtime_config is None or self._runtime_cache_path is None:
            return
        from ganrt import cache as store

        try:
            store.write_sealed(self._runtime_cache_path, bytes(self._runtime_config.get_runtime_cache().serialize()))
        except OSError as exc:
            log.warning("could not keep the TensorRT-RTX runtime cache (%s); kernels compile again next run", exc)

    def _torch_dtype(self, trt_dtype):
        torch, trt = self._torch, self._trt
        table = {trt.float32: torch.float32, trt.float16: torch.float16}
        if hasattr(trt, "bfloat16"):
            table[trt.bfloat16] = torch.bfloat16
        return table[trt_dtype]

    @property
    def max_input_hw(self) -> tuple[int, int]:
        return largest_input(self.groups)

    @property
    def max_batch(self) -> int:
        return min(p.max[0] for p in self.groups)

    @classmethod
    def from_model(cls, model, *, precision: str = "fp16", device: str = "cuda", threads=None, fp32_fallback=None,
                   profiles: list[Profile] | None = None, streams: int = 1, opt_level: int = 3,
                   workspace_mib: int | None = None, cache_dir=None, flavour: str = "auto") -> TrtEngine:
        from ganrt.export.engine_cache import EngineCache
        from ganrt.export.onnx_cache import cached_onnx
        from ganrt.export.trt_build import GRAPH_PRECISION, BuildOptions, cached_engine, gpu_identity
        from ganrt.export.trt_flavours import choose_flavour, parse_targets

        check_precision(cls.backend, precision, model)
        _gpu, capability = gpu_identity(device)
        chosen = choose_flavour(flavour, capability)
        targets = parse_targets(None, chosen, capability)  # raises, naming what to use, where it cannot run
        groups = profiles or [default_profile(ModelSpec.of(model))]
        onnx_path = cached_onnx(model, GRAPH_PRECISION[precision])
        options = BuildOptions(precision=precision, opt_level=opt_level, workspace_mib=workspace_mib,
                               device=device, flavour=chosen.name,
                               targets=targets if chosen.builds_without_gpu else ())
        cached, reused = cached_engine(onnx_path, with_stream_copies(groups, streams), options, name=model.name,
                                       cache_dir=cache_dir, report=log.warning)
        if reused:
            log.info("reusing TensorRT engine %s", cached.path.name)
        runtime_cache = EngineCache(cache_dir).runtime_cache_path(cached.path, capability) if chosen.runtime_cache else None
        return cls(cached.data, ModelSpec.of(model), precision=precision, groups=groups, streams=streams, device=device,
                   fp32_fallback=fp32_fallback, flavour=chosen.name, runtime_cache=runtime_cache)

    # --- execution -----------------------------------------------------------------------------
    def _buffer(self, ctx: int, name: str, shape: tuple[int, ...], dtype):
        """A device tensor of ``shape`` backed by a buffer kept across calls (grown when needed)."""
        torch = self._torch
        count = int(np.prod(shape))
        buf = self._buffers[ctx].get(name)
        if buf is None or buf.numel() < count or buf.dtype != dtype:
            buf = torch.empty(count, dtype=dtype, device=self._device)
            self._buffers[ctx][name] = buf
        return buf[:count].view(shape)

    def _nominal(self, xs) -> tuple[int, ...]:
        """The NCHW shape profiles are written in: the image input's, or a generator's output size."""
        if self.kind.spatial:
            return tuple(xs[0].shape)
        return (xs[0].shape[0], self.spec.out_channels, self.spec.image_size, self.spec.image_size)

    def _enqueue(self, ctx: int, xs):
        """Queue one chunk (one tensor per input) on context ``ctx``'s stream; returns the output view."""
        group = pick_profile(self.groups, self._nominal(xs))
        if group is None:
            raise ValueError(f"input {self._nominal(xs)} is outside every engine profile "
                             f"({'; '.join(p.describe() for p in self.groups)})")
        context, stream = self._contexts[ctx], self._streams[ctx]
        profile_index = group * self.streams + ctx
        if self._active[ctx] != profile_index:
            context.set_optimization_profile_async(profile_index, stream.cuda_stream)
            self._active[ctx] = profile_index
        stream.wait_stream(self._torch.cuda.current_stream(self._device))
        for name, x in zip(self._inputs, xs):
            staged = self._buffer(ctx, name, tuple(x.shape), self._in_dtypes[name])
            with self._torch.cuda.stream(stream):
                staged.copy_(x, non_blocking=True)
            context.set_input_shape(name, tuple(x.shape))
            context.set_tensor_address(name, staged.data_ptr())
        out = self._buffer(ctx, self._output, tuple(context.get_tensor_shape(self._output)), self._out_dtype)
        context.set_tensor_address(self._output, out.data_ptr())
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        return out

    def _run_device(self, *xs):
        """Input tensors on the device → NCHW output on the device, split across the streams.

        Chunks run in waves of one chunk per context. Each output is ordered after its context's
        stream on the current stream; when a context is used again in a later wave, its output is
        cloned first (and ``_enqueue`` makes the context's stream wait for that clone).
        """
        torch = self._torch
        current = torch.cuda.current_stream(self._device)
        step = max(1, min(self.max_batch, -(-xs[0].shape[0] // self.streams)))
        chunks = list(zip(*(torch.split(x, step) for x in xs)))
        waves = [chunks[i:i + self.streams] for i in range(0, len(chunks), self.streams)]
        outs = []
        for wave in waves:
            views = [self._enqueue(ctx, [c.contiguous() for c in chunk]) for ctx, chunk in enumerate(wave)]
            for ctx, view in enumerate(views):
                current.wait_stream(self._streams[ctx])
                outs.append(view.clone() if len(waves) > 1 else view)
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    @property
    def device_dtype(self):
        return self._in_dtype

    def device_forward(self, x):
        """The engine on a tensor already on the device (for timing the GPU work alone)."""
        with self._torch.inference_mode(), self._torch.cuda.device(self._device):
            return self._run_device(x)

    def _infer(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode(), torch.cuda.device(self._device):
            xs = [torch.from_numpy(x).to(self._device, non_blocking=True).to(self._in_dtypes[name])
                  for name, x in zip(self._inputs, inputs)]
            return self._run_device(*xs).float().cpu().numpy()

    def infer_pixels(self, tiles: np.ndarray, maxval: float, out_dtype=None) -> np.ndarray:
        from ganrt.runtime.cuda_pixels import infer_pixels_on_device

        return infer_pixels_on_device(self, self._run_device, self._device, self._in_dtype, tiles, maxval, out_dtype)

    def close(self) -> None:
        self._save_runtime_cache()
        self._buffers = [{} for _ in range(self.streams)]
        self._contexts = []
        super().close()
