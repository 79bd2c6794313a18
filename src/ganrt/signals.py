"""SIGTERM handled like Ctrl-C: the same clean stop (finished work kept), but exit code 143.

``install()`` makes SIGTERM raise ``Terminated``, a ``KeyboardInterrupt``, so
every ``except KeyboardInterrupt`` clean-up path serves both signals;
``exit_code_for`` tells them apart at the end.
"""

from __future__ import annotations

import signal
import threading

from ganrt.errors import EXIT_INTERRUPTED, EXIT_TERMINATED


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _on_sigterm(_signum, _frame):
    raise Terminated()


def install() -> None:
    """Route SIGTERM to ``Terminated`` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def exit_code_for(exc: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def describe(exc: BaseException) -> str:
    return "terminated" if isinstance(exc, Terminated) else "interrupted"
