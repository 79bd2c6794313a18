"""What a model takes and gives, as data: super-resolution, generation, inpainting, face restoration.

Every engine, the ONNX exporter, the parity check, the fp16 calibration, the
TensorRT profiles and the benchmark read a model's ``Kind`` instead of
assuming "image in, image × scale out":

- ``inputs``: the ONNX input names, in call order;
- ``shapes(spec, n, h, w)``: the input shapes for a batch of ``n`` at h × w
  (generators ignore h × w: their size is their own);
- ``output(spec, shapes)``: the output shape those inputs give;
- ``spatial``: inputs are images (padded to the model's size multiple, tiled);
- ``feeds_pixels``: the tiler and the benchmark feed it integer pixels;
- ``axes``: which input dimensions are dynamic in an exported graph (face
  networks take one face of their own size, ``min_size``: nothing is dynamic,
  and GFPGAN's modulated convolutions only export so);
- ``cpu_order``: the backends ``auto`` tries on a CPU, fastest first;
- ``openvino_from``: what OpenVINO converts. Inpainters go from PyTorch: its
  ONNX frontend cannot convert the DFT nodes of LaMa's exported FFT
  convolutions, its PyTorch frontend converts the FFTs (measured: 9e-8 off torch);
- ``exporters``: the ONNX exporters to try, in order: TorchScript first for
  every kind (LaMa's FFTs go through ``export.onnx_fft``: 5 s against torch.export's
  70 s on a 2-core CPU), then dynamo for what it cannot trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Kind:
    name: str
    inputs: tuple[str, ...]
    shapes: Callable[[object, int, int, int], list[Shape]]
    output: Callable[[object, list[Shape]], Shape]
    axes: tuple[dict[int, str], ...]
    output_axes: dict[int, str]
    spatial: bool
    feeds_pixels: bool
    description: str
    cpu_order: tuple[str, ...] = ("openvino", "onnxruntime", "torch")  # what ``-b auto`` tries on a CPU
    exporters: tuple[str, ...] = ("torchscript", "dynamo")  # the ONNX exporters to try, in order
    openvino_from: str = "onnx"  # what OpenVINO converts: the ONNX graph, or the PyTorch module ("torch")

    @property
    def one_size(self) -> bool:
        """Images in, but no dynamic axis: the network takes one input size, its own ``min_size``."""
        return self.spatial and not any(self.axes)

    def example(self, spec, n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
        """Inputs of the right shapes for tracing and probing: random images, masks or noise."""
        import numpy as np

        rng = np.random.default_rng(seed)
        out = []
        for name, shape in zip(self.inputs, self.shapes(spec, n, h, w)):
            if name == "noise":
                out.append(rng.standard_normal(shape).astype(np.float32))
            elif name == "mask":
                out.append((rng.random(shape) > 0.7).astype(np.float32))
            else:
                out.append(rng.random(shape).astype(np.float32))
        return out


def _sr_shapes(spec, n, h, w):
    return [(n, spec.in_channels, h, w)]


def _sr_output(spec, shapes):
    n, _c, h, w = shapes[0]
    return (n, spec.out_channels, h * spec.scale, w * spec.scale)


def _gen_shapes(spec, n, h, w):
    return [(n, spec.noise_dim)]


def _gen_output(spec, shapes):
    return (shapes[0][0], spec.out_channels, spec.image_size, spec.image_size)


def _inpaint_shapes(spec, n, h, w):
    return [(n, spec.in_channels, h, w), (n, 1, h, w)]


def _inpaint_output(spec, shapes):
    n, _c, h, w = shapes[0]
    return (n, spec.out_channels, h, w)


IMAGE_AXES = {0: "batch", 2: "height", 3: "width"}

SUPER_RESOLUTION, GENERATION, INPAINTING, FACE_RESTORATION = ("super-resolution", "generation", "inpainting",
                                                             "face-restoration")

KINDS: dict[str, Kind] = {
    "super-resolution": Kind("super-resolution", ("input",), _sr_shapes, _sr_output, (IMAGE_AXES,),
                             {0: "batch", 2: "out_height", 3: "out_width"}, spatial=True, feeds_pixels=True,
                             description="image → image × scale"),
    "generation": Kind("generation", ("noise",), _gen_shapes, _gen_output, ({0: "batch"},), {0: "batch"},
                       spatial=False, feeds_pixels=False, description="noise vector → image"),
    "inpainting": Kind("inpainting", ("input", "mask"), _inpaint_shapes, _inpaint_output, (IMAGE_AXES, IMAGE_AXES),
                       {0: "batch", 2: "height", 3: "width"}, spatial=True, feeds_pixels=False,
                       description="image + mask (1 = fill) → image", cpu_order=("onnxruntime", "torch", "openvino"),
                       openvino_from="torch"),
    "face-restoration": Kind("face-restoration", ("input",), _sr_shapes, _sr_output, ({},), {},
                             spatial=True, feeds_pixels=True,
                             description="face crop of the network's own size (GFPGAN: 512²) → restored face"),
}
DEFAULT_KIND = SUPER_RESOLUTION
PRECISIONS = ("fp32", "fp16", "bf16")  # what a model's weights may run in (``ModelSpec``, the backends' table)


def get_kind(name: str) -> Kind:
    from ganrt.errors import ModelLoadError

    try:
        return KINDS[name]
    except KeyError:
        raise ModelLoadError(f"unknown model kind {name!r}; ganrt runs {', '.join(KINDS)}") from None


def to_unit_range(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Model output in ``value_range`` (e.g. tanh's -1..1) → 0..1, clipped."""
    import numpy as np

    lo, hi = value_range
    if (lo, hi) == (0.0, 1.0):
        return np.clip(x, 0.0, 1.0)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


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
