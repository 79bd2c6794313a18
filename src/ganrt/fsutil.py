"""Atomic file writes: a temporary file in the target folder, renamed into place when complete.

A reader (or a rerun after ``kill -9``) therefore sees either the old file,
no file, or the whole new file, never a partial one. Temporary names start
with ``.`` and contain ``.ganrt-tmp`` so that a later run can recognise and
remove leftovers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".ganrt-tmp"


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()  # what open() would have given; mkstemp alone gives 0600


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and TMP_MARK in name


def new_temp_path(target: str | os.PathLike) -> Path:
    """An empty temporary file beside ``target`` (same folder, same suffix), with the usual permissions."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem[:80]}.", suffix=f"{TMP_MARK}{target.suffix}", dir=target.parent
    )
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(tmp)


def commit_temp(tmp: Path, target: str | os.PathLike, *, fsync: bool = True) -> None:
    """Make a finished temporary file durable and rename it onto ``target``."""
    if fsync:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    The temporary path keeps the target's suffix so that encoders that pick
    the format from the extension (OpenCV, ffmpeg) still work.
    On any exception the temporary file is removed and ``target`` is untouched.
    """
    tmp_path = new_temp_path(target)
    try:
        yield tmp_path
        commit_temp(tmp_path, target, fsync=fsync)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
