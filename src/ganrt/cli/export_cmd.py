"""`ganrt export MODEL -o FILE.onnx`: an ONNX file checked against PyTorch before it is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import OverwriteOpt, QuietOpt, console, flag, handle_errors, setup_logging


@handle_errors
def export(
    model: Annotated[str, typer.Argument(help="Built-in model name, a .pth/.safetensors file, or a `ganrt train` run folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .onnx file to write.")],
    precision: Annotated[str, typer.Option("--precision", "-p", help="fp32, or fp16 (strongly typed, overflow-safe).")] = "fp32",
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset (17 or newer).")] = 17,
    dynamic: Annotated[bool, flag("--dynamic", help="Dynamic height and width (the default; --shape freezes them).")] = True,
    shape: Annotated[str | None, typer.Option("--shape", help="Freeze height and width, e.g. 720x1280.")] = None,
    batch: Annotated[str, typer.Option("--batch", help="A fixed batch size, or 'dynamic'.")] = "dynamic",
    io: Annotated[str, typer.Option("--io", help="Input/output precision of an fp16 graph: fp32 or fp16.")] = "fp32",
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a model to ONNX, then check it against PyTorch fp32 on real photos (odd sizes)."""
    setup_logging(quiet)
    import tempfile
    import time

    from ganrt.validate import check_choice, check_own_size
    from ganrt.errors import ExportError, UsageError
    from ganrt.export.onnx_export import onnx_from_model
    from ganrt.export.parity import FP16_MIN_PSNR, FP32_MAX_ABS, check_parity, parity_inputs
    from ganrt.export.trt_profiles import parse_hw
    from ganrt.fsutil import atomic_path
    from ganrt.models import load_model

    check_choice(precision, ("fp32", "fp16"), "--precision")
    check_choice(io, ("fp32", "fp16"), "--io")
    if output.suffix.lower() != ".onnx":
        raise UsageError("--output must end in .onnx")
    if opset < 17:
        raise UsageError(f"--opset {opset} is too old; ganrt exports opset 17 or newer")
    from ganrt.pipelines.archive.plan import OutputPlan

    model_file = Path(model)
    OutputPlan(inputs=(model_file,) if model_file.exists() else (), overwrite=overwrite).claim(output, "--output")
    if io == "fp16" and precision != "fp16":
        raise UsageError("--io fp16 needs --precision fp16")
    hw = parse_hw(shape) if shape else None
    fixed_batch = _batch(batch)
    from ganrt.kinds import ModelSpec

    loaded = load_model(model)
    spec = ModelSpec.of(loaded)
    if hw and not spec.kind.spatial:
        raise UsageError(f"--shape applies to image models; {loaded.name} makes {loaded.image_size}² images")
    if spec.kind.one_size:
        check_own_size(loaded.name, spec.min_size, [hw] if hw else [], "--shape")
    start = time.perf_counter()
    inputs = parity_inputs(spec, hw, fixed_batch)
    with tempfile.TemporaryDirectory(prefix="ganrt-export-") as tmp:
        fp32_path = onnx_from_model(loaded, Path(tmp) / "model.onnx", opset=opset, shape=hw, batch=fixed_batch)
        with atomic_path(output) as staged:
            if precision == "fp16":
                from ganrt.export.fp16 import fp16_from_onnx

                calibration = None
                if hw or fixed_batch:  # a frozen graph is calibrated at its own shape
                    calibration = parity_inputs(spec, hw or (64, 64) if spec.kind.spatial else None, fixed_batch)
                fp16_from_onnx(fp32_path, staged, images=calibration, io_fp16=io == "fp16")
            else:
                staged.write_bytes(fp32_path.read_bytes())
            results = check_parity(loaded, staged, precision, inputs)
            out = console()
            for r in results if not quiet or not all(r.ok for r in results) else []:
                out.print(f"parity {'x'.join(map(str, r.shape))}: max abs diff {r.max_abs:.2e}, "
                          f"PSNR {r.psnr_db:.1f} dB, non-finite {r.nonfinite} → {'ok' if r.ok else 'FAIL'}")
            if not all(r.ok for r in results):
                limit = f"max abs ≤ {FP32_MAX_ABS:g}" if precision == "fp32" else f"PSNR ≥ {FP16_MIN_PSNR:g} dB, no NaN/Inf"
                raise ExportError(f"{loaded.name} {precision} export fails its parity check ({limit}); nothing written")
    if not quiet:
        if spec.kind.one_size:
            sizes = f"static {spec.min_size}x{spec.min_size}, batch {fixed_batch or 1}"
        else:
            sizes = (f"{'static ' + shape if hw else 'dynamic H×W' if spec.kind.spatial else f'{loaded.image_size}² images'}, "
                     f"batch {batch}")
        console().print(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MB, {precision}, opset {opset}, {sizes}) "
                        f"in {time.perf_counter() - start:.1f} s")


def _batch(text: str) -> int | None:
    """--batch: a positive number, or None for 'dynamic'."""
    from ganrt.errors import UsageError

    if text == "dynamic":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise UsageError(f"--batch must be a positive number or 'dynamic', not {text!r}")
