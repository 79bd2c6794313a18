"""Checks of what a user typed, shared by every command and by the layers below the CLI: one clear
``UsageError`` line for a value out of its table or range."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ganrt.errors import UsageError

MAX_THREADS_PER_CORE = 4


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
