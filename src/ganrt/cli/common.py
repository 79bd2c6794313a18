"""What every command shares: option aliases, the console, logging, and error mapping.

Known exceptions (``ganrt.errors.GanrtError``) become one line on stderr and
their exit code; anything else is a bug and also prints one line, with the
full traceback when ``GANRT_DEBUG=1``. Nothing heavy is imported here.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ganrt.errors import GanrtError

BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Built-in model name (see `ganrt models`) or a .pth/.pt/.ckpt/.safetensors file.")]
BackendOpt = Annotated[str, typer.Option("--backend", "-b", help=f"One of {', '.join(BACKEND_CHOICES)}.")]
DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="auto, cpu or cuda.")]
PrecisionOpt = Annotated[str, typer.Option("--precision", "-p", help="auto, fp32, fp16 or bf16.")]
TileOpt = Annotated[str, typer.Option("--tile", "-t", help="Tile size in input pixels; 0 = whole image; auto = from a memory budget.")]
OutscaleOpt = Annotated[float | None, typer.Option("--outscale", "-s", help="Final scale factor (Lanczos resize of the model output), e.g. 2 with a ×4 model.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads for inference (default: all cores).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; errors only.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def console(stderr: bool = False):
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 200  # piped or logged: keep whole tables rather than cut them to 80 columns
    return out


def setup_logging(quiet: bool = False) -> None:
    from rich.logging import RichHandler

    root = logging.getLogger("ganrt")
    root.handlers[:] = [RichHandler(console=console(stderr=True), show_time=False, show_path=False,
                                    markup=False, rich_tracebacks=False)]
    root.setLevel(logging.ERROR if quiet else logging.WARNING)
    root.propagate = False


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def handle_errors(func):
    """Map user-caused errors to one line and an exit code; never show a traceback unless debugging."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except GanrtError as exc:
            if os.environ.get("GANRT_DEBUG"):
                raise
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except MemoryError:
            raise fail("out of memory; use a smaller --tile (or --tile auto)", 1) from None
        except Exception as exc:  # noqa: BLE001 - a bug, but still one line for the user
            if os.environ.get("GANRT_DEBUG"):
                raise
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise fail(f"internal error: {type(exc).__name__}: {first} "
                       "(run with GANRT_DEBUG=1 for the traceback, and please report it)", 1) from None

    return wrapper


def check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    from ganrt.errors import UsageError

    if value not in choices:
        raise UsageError(f"{flag} must be one of {', '.join(choices)}, not {value!r}")
    return value


def parse_tile(value: str) -> int | None:
    """``auto`` → None, otherwise a non-negative integer."""
    from ganrt.errors import UsageError

    if value == "auto":
        return None
    try:
        tile = int(value)
    except ValueError:
        raise UsageError(f"--tile must be a number of pixels or 'auto', not {value!r}") from None
    if tile < 0:
        raise UsageError("--tile must be 0 (whole image), a positive size, or 'auto'")
    return tile


def existing_path(path: Path, what: str) -> Path:
    from ganrt.errors import ImageReadError

    if not path.exists():
        raise ImageReadError(f"{what} not found: {path}")
    return path
