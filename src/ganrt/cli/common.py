"""What every command shares: option aliases, the console, logging, and error mapping.

Known exceptions (``ganrt.errors.GanrtError``) become one line on stderr and
their exit code (the table in ``ganrt.errors``); OS errors a user can cause
(disk full, read-only folder, over-long path) get their own line; anything
else is a bug and also prints one line, with the full traceback when
``GANRT_DEBUG=1``. Nothing heavy is imported here.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ganrt.errors import EXIT_FAILED, EXIT_UNAVAILABLE, GanrtError, UsageError

BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")
MAX_THREADS_PER_CORE = 4


def flag(*names: str, help: str) -> typer.models.OptionInfo:  # noqa: A002 - typer's own keyword
    """An on/off option (no value; ``metavar=""`` keeps Typer from showing ``<bool>`` in --help)."""
    return typer.Option(*names, help=help, metavar="")


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Built-in model name (see `ganrt models`) or a .pth/.pt/.ckpt/.safetensors file.")]
BackendOpt = Annotated[str, typer.Option("--backend", "-b", help=f"One of {', '.join(BACKEND_CHOICES)}.")]
DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.")]
PrecisionOpt = Annotated[str, typer.Option("--precision", "-p", help="auto, fp32, fp16 or bf16.")]
TileOpt = Annotated[str, typer.Option("--tile", "-t", help="Tile size in input pixels; 0 = whole image; auto = from a memory budget.")]
OutscaleOpt = Annotated[float | None, typer.Option("--outscale", "-s", help="Final scale factor (Lanczos resize of the model output), e.g. 2 with a ×4 model.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads for inference (default: all cores).")]
QuietOpt = Annotated[bool, flag("--quiet", "-q", help="No progress, notices or tables; errors only.")]
OverwriteOpt = Annotated[bool, flag("--overwrite", help="Replace existing outputs this job did not make.")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write the summary and every failure as JSON (.json), or every failed and ignored file as a spreadsheet (.csv).")]
RayOpt = Annotated[str | None, typer.Option("--ray", metavar="[ADDRESS]", help="Run on Ray: alone, a local Ray on this machine; with ADDRESS (host:port, ray://…, auto), that cluster. Needs ganrt[ray].")]
RayActorsOpt = Annotated[int | None, typer.Option("--ray-actors", help="Engine actors under --ray (default: one per GPU, or one per two CPU cores).")]
JsonOpt = Annotated[bool, flag("--json", help="Print JSON instead of a table.")]


def console(stderr: bool = False):
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 200  # piped or logged: keep whole tables rather than cut them to 80 columns
    return out


class _RichOnFirstRecord(logging.Handler):
    """Rich's log handler, imported and built on the first record: most runs log nothing, and
    importing ``rich.logging`` costs a single-photo run about 0.02 s."""

    def __init__(self) -> None:
        super().__init__()
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.logging import RichHandler

            self._rich = RichHandler(console=console(stderr=True), show_time=False, show_path=False,
                                     markup=False, rich_tracebacks=False)
        self._rich.emit(record)


def setup_logging(quiet: bool = False) -> None:
    from ganrt import notify

    root = logging.getLogger("ganrt")
    root.handlers[:] = [_RichOnFirstRecord()]
    root.setLevel(logging.ERROR if quiet else logging.WARNING)
    root.propagate = False
    notify.listen(None if quiet else _print_notice)


def _print_notice(message: str) -> None:
    console(stderr=True).print(f"… {message}", markup=False, highlight=False)


def shown(text: str) -> str:
    """``text`` printable on any terminal: undecodable file-name bytes become ``\\xNN``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    line = " ".join(shown(message).split())  # one line, whatever the message held
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def handle_errors(func):
    """Map user-caused errors to one line and an exit code; never show a traceback unless debugging."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ganrt import signals
        from ganrt.errors import from_os_error

        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except GanrtError as exc:
            if os.environ.get("GANRT_DEBUG"):
                raise
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt as exc:
            raise fail(signals.describe(exc), signals.exit_code_for(exc)) from None
        except MemoryError:
            raise fail("out of memory; use a smaller --tile, a smaller --outscale or --max-pixels",
                       EXIT_UNAVAILABLE) from None
        except OSError as exc:
            if os.environ.get("GANRT_DEBUG"):
                raise
            target = exc.filename if exc.filename is not None else "a file"
            err = from_os_error(exc, f"accessing {target}")
            raise fail(str(err), err.exit_code) from None
        except Exception as exc:  # noqa: BLE001 - a bug, but still one line for the user
            if os.environ.get("GANRT_DEBUG"):
                raise
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise fail(f"internal error: {type(exc).__name__}: {first} "
                       "(run with GANRT_DEBUG=1 for the traceback, and please report it)", EXIT_FAILED) from None

    return wrapper


def check_choice(value: str, choices: tuple[str, ...], flag_name: str) -> str:
    if value not in choices:
        import difflib

        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"{flag_name} must be one of {', '.join(choices)}, not {value!r}{hint}")
    return value


def check_device(value: str) -> str:
    from ganrt.machine import DEVICE_SPELLING, is_device_name

    if is_device_name(value):
        return value
    raise UsageError(f"--device must be {DEVICE_SPELLING}, not {value!r}")


def check_threads(value: int | None) -> int | None:
    """None (all cores) or 1 … MAX_THREADS_PER_CORE × cores."""
    if value is None:
        return None
    from ganrt.machine import cpu_cores

    most = MAX_THREADS_PER_CORE * cpu_cores()
    if not 1 <= value <= most:
        raise UsageError(f"--threads must be between 1 and {most} ({MAX_THREADS_PER_CORE} per core here), not {value}")
    return value


def check_own_size(name: str, size: int, asked: list[tuple[int, int]], flags: str) -> None:
    """A network of one input size (a face network) was asked for ``asked`` sizes: only its own will do."""
    if asked and set(asked) != {(size, size)}:
        raise UsageError(f"{name} takes {size}x{size} images only; leave out {flags}")


def check_positive(value: float | None, flag_name: str, *, most: float | None = None) -> None:
    """A finite number greater than 0 (and at most ``most``), or None."""
    if value is None:
        return
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{flag_name} must be a number greater than 0, not {value:g}")
    if most is not None and value > most:
        raise UsageError(f"{flag_name} must be at most {most:g}, not {value:g}")


def parse_tile(value: str) -> int | None:
    """``auto`` → None, otherwise a non-negative integer."""
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
    if not os.path.lexists(path):
        raise UsageError(f"{what} not found: {path}")
    return path
