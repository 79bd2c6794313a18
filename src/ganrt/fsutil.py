"""Atomic file writes: a temporary file in the target folder, renamed into place when complete.

A reader (or a rerun after ``kill -9``) therefore sees either the old file,
no file, or the whole new file, never a partial one. Temporary names start
with ``.`` and contain ``.ganrt-tmp`` so that a later run can recognise and
remove leftovers.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".ganrt-tmp"


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()  # what open() would have given; mkstemp alone gives 0600


_PID = re.compile(re.escape(TMP_MARK) + r"-(\d+)")


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and TMP_MARK in name


def _ascii(text: str, limit: int) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:limit]


def new_temp_path(target: str | os.PathLike) -> Path:
    """An empty temporary file beside ``target`` (same folder, same suffix), with the usual permissions."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{_ascii(target.stem, 40)}.", suffix=f"{TMP_MARK}-{os.getpid()}{_ascii(target.suffix, 16)}",
        dir=target.parent,
    )
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(tmp)


def commit_temp(tmp: Path, target: str | os.PathLike, *, fsync: bool = True, mtime_ns: int | None = None) -> None:
    """Make a finished temporary file durable and rename it onto ``target``, with the usual permissions
    (a writer that replaces the file, as safetensors' ``save_file`` does, leaves mkstemp's 0600).
    ``mtime_ns``: the modification time to give it (a restored photo dated as its original); its
    status-change time (``st_ctime``) stays the time it was written."""
    os.chmod(tmp, FILE_MODE)
    if fsync:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    if mtime_ns is not None:
        os.utime(tmp, ns=(time.time_ns(), mtime_ns))
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, fsync: bool = True, mtime_ns: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    The temporary path keeps the target's suffix so that encoders that pick
    the format from the extension (OpenCV, ffmpeg) still work.
    On any exception the temporary file is removed and ``target`` is untouched.
    """
    tmp_path = new_temp_path(target)
    try:
        yield tmp_path
        commit_temp(tmp_path, target, fsync=fsync, mtime_ns=mtime_ns)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_temp(name: str) -> bool:
    """A temporary file whose writer is gone (killed, or an older ganrt that did not name itself)."""
    if not is_temp_name(name):
        return False
    found = _PID.search(name)
    return found is None or (int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))))


def remove_stale_temps(folder: str | os.PathLike, *, recursive: bool = False) -> int:
    """Delete the temporary files dead runs left in ``folder``. Returns how many were removed."""
    removed = 0
    walk = os.walk(folder) if recursive else [(folder, [], _names(folder))]
    for dirpath, _dirs, files in walk:
        for name in files:
            if is_stale_temp(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
    return removed


def _names(folder) -> list[str]:
    try:
        return [e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
    except OSError:
        return []


def real(path: str | os.PathLike) -> Path:
    """``path`` absolute and normalised, every link in it resolved (what it would really touch)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def stays_inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path`` lies in the folder ``root`` (or is it), once both are normalised and their links
    resolved: the one test for every path ganrt writes or deletes on a user's behalf."""
    return real(path).is_relative_to(real(root))


class Confined:
    """:func:`stays_inside` for the many files of one folder job: each folder of theirs is resolved once
    (the last part of a path, the file itself, is replaced on writing rather than followed)."""

    def __init__(self, root: str | os.PathLike):
        self.root = real(root)
        self._folders: dict[str, bool] = {}

    def holds(self, path: str | os.PathLike) -> bool:
        folder, name = os.path.split(os.path.abspath(path))
        if name in ("", ".", ".."):
            return False
        inside = self._folders.get(folder)
        if inside is None:
            inside = self._folders[folder] = real(folder).is_relative_to(self.root)
        return inside


def overlap(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether one of the folders ``a`` and ``b`` lies in the other (or they are one)."""
    return stays_inside(a, b) or stays_inside(b, a)


def plain_key(rel: str) -> bool:
    """Whether a relative name from a listing (an object-store key, posix separators) names a place
    under its folder: no empty, ``.`` or ``..`` part, not absolute, no NUL."""
    return bool(rel) and "\0" not in rel and not rel.startswith("/") and all(
        part not in ("", ".", "..") for part in rel.split("/"))


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
