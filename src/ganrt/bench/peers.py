"""The peers a user would otherwise pick, as runnable references.

- ``NcnnPeer``: the ``ncnn`` package (what realesrgan-ncnn-vulkan and the Python
  wrappers run) on the original Real-ESRGAN .param/.bin files, CPU, fp32
  options. It is also the parity reference in the test suite.
- upstream-style PyTorch eager inference is simply the torch backend at fp32
  without channels-last or autocast (``create_engine(..., backend="torch")``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrt.runtime.base import Engine, ModelSpec


class NcnnPeer:
    name = "ncnn"

    def __init__(self, param_path: str | Path, bin_path: str | Path, threads: int = 2):
        import ncnn

        self._ncnn = ncnn
        net = ncnn.Net()
        opt = net.opt
        opt.use_vulkan_compute = False
        opt.use_fp16_storage = opt.use_fp16_arithmetic = opt.use_fp16_packed = False
        opt.use_bf16_storage = False
        opt.num_threads = threads
        if net.load_param(str(param_path)) != 0 or net.load_model(str(bin_path)) != 0:
            raise RuntimeError(f"ncnn could not load {param_path}")
        self.net = net

    @classmethod
    def for_builtin(cls, name: str, threads: int = 2) -> NcnnPeer:
        from ganrt.models.registry import get_builtin
        from ganrt.models.zoo import ncnn_files

        return cls(*ncnn_files(get_builtin(name)), threads=threads)

    def run(self, chw: np.ndarray) -> np.ndarray:
        """One CHW float32 image in 0..1 → the raw (unclamped) CHW output."""
        chw = np.ascontiguousarray(chw, dtype=np.float32)  # ncnn.Mat does not keep the array alive: we do
        ex = self.net.create_extractor()
        mat = self._ncnn.Mat(chw)
        ex.input("data", mat)
        ret, out = ex.extract("output")
        if ret != 0:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        return np.array(out, dtype=np.float32, copy=True)



class NcnnEngine(Engine):
    """The ncnn peer behind ganrt's engine interface, so the same benchmark and tiler can drive it."""

    backend = "ncnn"

    def __init__(self, model, threads: int = 2):
        super().__init__(ModelSpec.of(model), precision="fp32", device="cpu")
        self.peer = NcnnPeer.for_builtin(model.name, threads=threads)

    def _infer(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        return np.stack([self.peer.run(img) for img in inputs[0]])
