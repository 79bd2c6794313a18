"""Notices for slow steps a user would otherwise wait through in silence.

Library code says what it is about to do (``notify("converting … (first use)")``);
the CLI decides whether and how it is shown (``listen``): one line on stderr,
nothing with ``-q``, nothing at all when ganrt is used as a library.
"""

from __future__ import annotations

from collections.abc import Callable

_listener: Callable[[str], None] | None = None


def listen(callback: Callable[[str], None] | None) -> None:
    global _listener
    _listener = callback


def notify(message: str) -> None:
    if _listener is not None:
        _listener(message)
