"""PyTorch generator → self-contained ONNX file (fp32), with ganrt's metadata inside.

Inputs are named as the model's kind says (``input``; ``noise`` for
generators; ``input`` and ``mask`` for inpainters), the output ``output``;
batch, height and width are dynamic by default (or fixed with ``shape`` /
``batch``); a generator's output size is its own. The TorchScript-based
exporter is tried first (about 10× faster on RRDBNet than the dynamo exporter
and exact for these convolutional networks; LaMa's FFTs become DFT nodes through
``onnx_fft``, 5 s against the dynamo exporter's 70 s); the dynamo exporter is the
fallback for architectures it cannot trace.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

from ganrt import __version__
from ganrt.kinds import SUPER_RESOLUTION
from ganrt.errors import ExportError
from ganrt.fsutil import atomic_path
from ganrt.kinds import ModelSpec

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"


def _axes(kind, dynamic_batch: bool, dynamic_hw: bool) -> tuple[list[dict[int, str]], dict[int, str]]:
    def keep(axes: dict[int, str]) -> dict[int, str]:
        return {i: name for i, name in axes.items() if (dynamic_batch if i == 0 else dynamic_hw)}

    return [keep(a) for a in kind.axes], keep(kind.output_axes)


def _export_bytes(module, examples, kind, *, opset: int, dynamic_batch: bool, dynamic_hw: bool) -> tuple[bytes, str]:
    axes_in, axes_out = _axes(kind, dynamic_batch, dynamic_hw)
    names = list(kind.inputs)
    dynamic_axes = {name: a for name, a in zip(names, axes_in) if a}
    if axes_out:
        dynamic_axes[OUTPUT_NAME] = axes_out
    errors = []
    for exporter in kind.exporters:
        try:
            if exporter == "torchscript":
                return _torchscript(module, examples, names, opset, dynamic_axes), exporter
            return _dynamo(module, examples, names, opset, axes_in), exporter
        except Exception as exc:  # noqa: BLE001 - try the other exporter before giving up
            errors.append(f"{exporter} exporter: {exc}")
    raise ExportError("ONNX export failed: " + " | ".join(e.splitlines()[0][:300] for e in errors))


def onnx_from_model(model, path: str | Path, *, opset: int = DEFAULT_OPSET, shape: tuple[int, int] | None = None,
                    batch: int | None = None) -> Path:
    """Export ``model`` (a LoadedModel) to ``path`` as fp32 ONNX; returns the path.

    ``shape=(h, w)`` freezes height and width, ``batch=N`` freezes the batch
    size; both are dynamic when None.
    """
    import onnx
    import torch

    if opset < 17:
        raise ExportError(f"opset {opset} is too old; ganrt exports opset 17 or newer")
    spec = ModelSpec.of(model)
    kind = spec.kind
    h, w = shape or (max(64, spec.min_size),) * 2  # face networks take their own size only
    n = batch or (2 if any(0 in axes for axes in kind.axes) else 1)  # a kind without a dynamic batch takes one
    examples = [torch.from_numpy(x) for x in kind.example(spec, n, h, w)]
    data, exporter = _export_bytes(model.module, examples, kind, opset=opset,
                                   dynamic_batch=batch is None, dynamic_hw=shape is None and kind.spatial)
    proto = onnx.load_from_string(data)
    set_metadata(proto, {
        "ganrt.model": model.name,
        "ganrt.arch": model.arch,
        "ganrt.kind": model.kind,
        "ganrt.scale": str(model.scale),
        "ganrt.in_channels": str(model.in_channels),
        "ganrt.out_channels": str(model.out_channels),
        "ganrt.size_multiple": str(model.size_multiple),
        "ganrt.min_size": str(model.min_size),
        "ganrt.noise_dim": str(model.noise_dim),
        "ganrt.image_size": str(model.image_size),
        "ganrt.value_range": ",".join(f"{v:g}" for v in model.value_range),
        "ganrt.precision": "fp32",
        "ganrt.version": __version__,
        "ganrt.source_sha256": model.checksum,
        "ganrt.exporter": exporter,
    })
    return save_onnx(proto, path)


def spec_from_onnx(path: Path, name: str | None = None) -> ModelSpec:
    """What the engines need to know about a model, from the ganrt metadata of its ONNX file."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return spec_from_metadata(read_metadata(proto), name or Path(path).stem, source=Path(path).name)


def spec_from_metadata(meta: dict[str, str], name: str, *, source: str = "the graph") -> ModelSpec:
    if "ganrt.scale" not in meta:
        raise ExportError(f"{source} has no ganrt metadata (scale, channels); export it with `ganrt export`")
    lo, hi = (float(v) for v in meta.get("ganrt.value_range", "0,1").split(","))
    return ModelSpec(
        name=meta.get("ganrt.model", name),
        scale=int(meta["ganrt.scale"]),
        in_channels=int(meta.get("ganrt.in_channels", 3)),
        out_channels=int(meta.get("ganrt.out_channels", 3)),
        size_multiple=int(meta.get("ganrt.size_multiple", 1)),
        min_size=int(meta.get("ganrt.min_size", 0)),
        kind_name=meta.get("ganrt.kind", SUPER_RESOLUTION),
        noise_dim=int(meta.get("ganrt.noise_dim", 0)),
        image_size=int(meta.get("ganrt.image_size", 0)),
        value_range=(lo, hi),
    )


def set_metadata(proto, props: dict[str, str]) -> None:
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in props.items():
        if key in existing:
            existing[key].value = value
        else:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value


def read_metadata(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def save_onnx(proto, path: str | Path) -> Path:
    """Check and write an ONNX model as one self-contained file, atomically."""
    import onnx

    path = Path(path)
    if proto.ByteSize() >= 2**31:
        raise ExportError("model is over 2 GB; external-data ONNX files are not supported")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"exported graph fails onnx.checker: {str(exc).splitlines()[0]}") from exc
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return path


def _torchscript(module, examples, names, opset: int, dynamic_axes: dict) -> bytes:
    import torch

    from ganrt.export.onnx_fft import fft_as_dft

    buf = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), fft_as_dft(opset):  # a failed trace prints its whole graph
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(examples), buf, input_names=names, output_names=[OUTPUT_NAME],
                          opset_version=opset, dynamo=False, dynamic_axes=dynamic_axes or None)
    return buf.getvalue()


def _dynamo(module, examples, names, opset: int, axes_in) -> bytes:
    import torch

    dims: dict[str, object] = {}  # one Dim per axis name: an inpainter's image and mask share theirs
    shapes = tuple({i: dims.setdefault(axis, torch.export.Dim.AUTO) for i, axis in a.items()} or None
                   for a in axes_in)
    noisy = logging.getLogger("torch.export")  # its tracer logs what it cannot classify, at ERROR level
    level = noisy.level
    noisy.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, tuple(examples), input_names=names, output_names=[OUTPUT_NAME],
                                        opset_version=max(opset, 18), dynamo=True,
                                        dynamic_shapes=shapes if any(shapes) else None, verbose=False)
    finally:
        noisy.setLevel(level)
    buf = io.BytesIO()
    program.save(buf, external_data=False)
    return buf.getvalue()
