"""What an output loses of its source (pages past the first, 16-bit samples, metadata that does not fit),
logged as it is found and gathered per image, so that a folder job's report names every such image.

The stages that find a loss call :func:`note` wherever they are; a runner wraps an image's read or write
in :func:`gathered` (per thread: each stage runs in one pool thread) and keeps what it gathered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

_gathering: ContextVar[list[str] | None] = ContextVar("ganrt_notes", default=None)


def note(subject: str | None, text: str) -> None:
    """Log ``subject: text`` (the file it is about, where the caller knows it) and, inside :func:`gathered`,
    keep ``text`` for the image's report row."""
    if subject:
        log.warning("%s: %s", subject, text)
    else:
        log.warning("%s", text)
    found = _gathering.get()
    if found is not None:
        found.append(text)


@contextmanager
def gathered() -> Iterator[list[str]]:
    """The notes made in this block (in this thread)."""
    found: list[str] = []
    token = _gathering.set(found)
    try:
        yield found
    finally:
        _gathering.reset(token)
