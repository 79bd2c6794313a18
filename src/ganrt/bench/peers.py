"""The peers a user would otherwise pick, as runnable references.

- ``NcnnPeer``: the ``ncnn`` package (what realesrgan-ncnn-vulkan and the Python
  wrappers run) on the original .param/.bin files, CPU, fp32 options. It is
  also the parity reference in the test suite. ``CuganNcnnPeer`` adds what
  realcugan-ncnn-vulkan does around its graphs (reflect padding, the ×4
  network's nearest skip, the pro models' input mapping).
- upstream-style PyTorch eager inference is simply the torch backend at fp32
  without channels-last or autocast (``create_engine(..., backend="torch")``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrt.kinds import ModelSpec
from ganrt.runtime.base import Engine


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
        self.input_blob, self.output_blob = _io_blobs(Path(param_path))

    @classmethod
    def for_builtin(cls, name: str, threads: int = 2) -> NcnnPeer:
        from ganrt.models.registry import get_builtin
        from ganrt.models.zoo import ncnn_files

        entry = get_builtin(name)
        if entry.arch == "RealCUGAN":
            return CuganNcnnPeer(*ncnn_files(entry), threads=threads, scale=entry.scale,
                                 pro=entry.converter == "RealCUGAN-pro")
        return cls(*ncnn_files(entry), threads=threads)

    def run(self, chw: np.ndarray) -> np.ndarray:
        """One CHW float32 image in 0..1 → the raw (unclamped) CHW output."""
        chw = np.ascontiguousarray(chw, dtype=np.float32)  # ncnn.Mat does not keep the array alive: we do
        ex = self.net.create_extractor()
        mat = self._ncnn.Mat(chw)
        ex.input(self.input_blob, mat)
        ret, out = ex.extract(self.output_blob)
        if ret != 0:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        return np.array(out, dtype=np.float32, copy=True)


def _io_blobs(param_path: Path) -> tuple[str, str]:
    """The graph's input blob (the Input layer's top) and output blob (the last layer's top)."""
    from ganrt.models.ncnn_format import parse_param

    layers = parse_param(param_path.read_text())
    inputs = [layer.tops[0] for layer in layers if layer.type == "Input"]
    return (inputs[0] if inputs else "data"), layers[-1].tops[0]


class CuganNcnnPeer(NcnnPeer):
    """A Real-CUGAN graph with what realcugan-ncnn-vulkan's shaders do around it: reflect-pad the image
    (18/14/19 pixels for ×2/×3/×4, sizes rounded up to 2/4/2), crop the output, add the nearest ×4
    input for the ×4 network; the pro models map the input by x·0.7 + 0.15 and the output back."""

    def __init__(self, param_path, bin_path, threads: int = 2, *, scale: int, pro: bool):
        super().__init__(param_path, bin_path, threads)
        self.scale, self.pro = scale, pro

    def run(self, chw: np.ndarray) -> np.ndarray:
        x = np.asarray(chw, dtype=np.float32)
        if self.pro:
            x = x * 0.7 + 0.15
        s = self.scale
        pad, multiple = {2: (18, 2), 3: (14, 4), 4: (19, 2)}[s]
        h, w = x.shape[1:]
        padded = np.pad(x, ((0, 0), (pad, pad + (-h) % multiple), (pad, pad + (-w) % multiple)), mode="reflect")
        out = super().run(padded)[:, : h * s, : w * s]
        if s == 4:
            out = out + x.repeat(4, axis=1).repeat(4, axis=2)
        return (out - 0.15) / 0.7 if self.pro else out



class NcnnEngine(Engine):
    """The ncnn peer behind ganrt's engine interface, so the same benchmark and tiler can drive it."""

    backend = "ncnn"

    def __init__(self, model, threads: int = 2):
        super().__init__(ModelSpec.of(model), precision="fp32", device="cpu")
        self.peer = NcnnPeer.for_builtin(model.name, threads=threads)

    def _infer(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        return np.stack([self.peer.run(img) for img in inputs[0]])
