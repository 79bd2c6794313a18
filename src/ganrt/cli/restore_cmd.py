"""`ganrt restore INPUT OUTPUT`: one image file, or a whole folder (mirrored, resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import (BackendOpt, DeviceOpt, ModelOpt, OutscaleOpt, PrecisionOpt, QuietOpt, ThreadsOpt,
                              TileOpt, console, handle_errors, setup_logging)

DEFAULT_MODEL = "RealESRGAN_x4plus"


@handle_errors
def restore(
    input: Annotated[Path, typer.Argument(help="An image file, or a folder of images (walked recursively).")],
    output: Annotated[Path, typer.Argument(help="Output image file, or output folder for a folder input.")],
    model: ModelOpt = DEFAULT_MODEL,
    backend: BackendOpt = "auto",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: TileOpt = "auto",
    outscale: OutscaleOpt = None,
    threads: ThreadsOpt = None,
    quality: Annotated[int, typer.Option("--quality", help="JPEG/WebP quality (1-100).")] = 95,
    quiet: QuietOpt = False,
) -> None:
    """Restore and upscale an image (or a folder of images) with a GAN generator."""
    setup_logging(quiet)
    from ganrt.cli.common import existing_path
    from ganrt.errors import UsageError

    existing_path(input, "input")
    if outscale is not None and not 0 < outscale <= 16:
        raise UsageError("--outscale must be between 0 and 16")
    if not 1 <= quality <= 100:
        raise UsageError("--quality must be between 1 and 100")
    if input.is_dir():
        raise UsageError("folder inputs are handled by the archive pipeline (not available yet)")
    _restore_one(input, output, model=model, backend=backend, device=device, precision=precision,
                 tile=tile, outscale=outscale, threads=threads, quality=quality, quiet=quiet)


def _restore_one(src: Path, dst: Path, *, model, backend, device, precision, tile, outscale, threads,
                 quality, quiet) -> None:
    import time

    from ganrt.cli.engine_setup import open_engine
    from ganrt.errors import ImageReadError, UsageError
    from ganrt.pipelines.image_io import IMAGE_SUFFIXES
    from ganrt.pipelines.restore import RestoreSettings, read_stage, restore_prepared

    if dst.is_dir():
        dst = dst / src.name
    if dst.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"output {dst} must end in one of {', '.join(IMAGE_SUFFIXES)}")
    if dst.resolve() == src.resolve():
        raise UsageError("output would overwrite the input; originals are never touched")
    try:  # read first: a bad input fails before any model is loaded
        prepared = read_stage(src, RestoreSettings())
    except ImageReadError as exc:
        raise ImageReadError(f"{src}: {exc}") from None
    choice = open_engine(model, backend, device, precision, tile, threads)
    settings = RestoreSettings(tile=choice.tile, outscale=outscale, quality=quality)
    start = time.perf_counter()
    with choice.engine:
        written, _notes = restore_prepared(choice.engine, prepared, dst, settings)
    if not quiet:
        console().print(f"restored {src} → {written} with {choice.model.name} "
                        f"({choice.engine.describe()}) in {time.perf_counter() - start:.1f} s")
