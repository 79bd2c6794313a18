"""PyTorch backend: eager inference on CPU or CUDA in fp32, fp16 or bf16.

On CUDA the weights are cast to the precision and kept channels-last. On the
CPU, bf16 and fp16 run through autocast over channels-last fp32 weights, which
lets oneDNN use the CPU's bf16 matrix instructions (AVX512-BF16 / AMX) where
present.
"""

from __future__ import annotations

import copy

import numpy as np

from ganrt.errors import BackendUnavailableError
from ganrt.kinds import ModelSpec
from ganrt.runtime.backends import check_precision
from ganrt.runtime.base import Engine

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class TorchEngine(Engine):
    backend = "torch"

    def __init__(self, model, *, precision: str = "fp32", device: str = "cpu",
                 threads: int | None = None, fp32_fallback=None):
        import torch

        check_precision(self.backend, precision, model)
        super().__init__(ModelSpec.of(model), precision=precision, device=device, fp32_fallback=fp32_fallback)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError("CUDA is not available here; use --device cpu")
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._device = torch.device(device)
        self._dtype = getattr(torch, _DTYPES[precision])
        on_cuda = self._device.type == "cuda"
        self._autocast = not on_cuda and precision != "fp32"
        self._channels_last = on_cuda or self._autocast
        module = model.module
        if on_cuda or self._channels_last:
            module = copy.deepcopy(module)
        if on_cuda:
            module = module.to(self._device, dtype=self._dtype)
        if self._channels_last:
            module = module.to(memory_format=torch.channels_last)
        self._module = module.eval()

    def _tensor(self, array: np.ndarray):
        torch = self._torch
        x = torch.from_numpy(array).to(self._device, non_blocking=True)
        if self._device.type == "cuda":
            x = x.to(self._dtype)
        if self._channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _infer(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tensors = [self._tensor(x) for x in inputs]
            if self._autocast:
                with torch.autocast("cpu", dtype=self._dtype):
                    y = self._module(*tensors)
            else:
                y = self._module(*tensors)
            return y.float().cpu().numpy()

    @property
    def device_dtype(self):
        return self._dtype

    def device_forward(self, x):
        """The model on a tensor already on the device (inference, and timing the GPU work alone)."""
        with self._torch.inference_mode():
            return self._module(x.contiguous(memory_format=self._torch.channels_last))

    def infer_pixels(self, tiles: np.ndarray, maxval: float, out_dtype=None) -> np.ndarray:
        if self._device.type != "cuda":
            return super().infer_pixels(tiles, maxval)
        from ganrt.runtime.cuda_pixels import infer_pixels_on_device

        return infer_pixels_on_device(self, self.device_forward, self._device, self._dtype, tiles, maxval, out_dtype)
