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
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ganrt.errors import EXIT_FAILED, EXIT_UNAVAILABLE, GanrtError
from ganrt.pipelines.imageio.formats import FORMAT_CHOICES
from ganrt.runtime.backends import BACKEND_CHOICES, PRECISION_CHOICES



def flag(*names: str, help: str) -> typer.models.OptionInfo:  # noqa: A002 - typer's own keyword
    """An on/off option (no value; ``metavar=""`` keeps Typer from showing ``<bool>`` in --help)."""
    return typer.Option(*names, help=help, metavar="")


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Built-in model name (see `ganrt models`) or a .pth/.pt/.ckpt/.safetensors file.")]
BackendOpt = Annotated[str, typer.Option("--backend", "-b", help=f"One of {', '.join(BACKEND_CHOICES)}.")]
DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.")]
PrecisionOpt = Annotated[str, typer.Option("--precision", "-p", help=f"One of {', '.join(PRECISION_CHOICES)}.")]
TileOpt = Annotated[str, typer.Option("--tile", "-t", help="Tile size in input pixels; 0 = whole image; auto = from a memory budget.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help=f"Output format: {', '.join(FORMAT_CHOICES)} (jp2: JPEG 2000, lossless; same: each input's own).")]
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


