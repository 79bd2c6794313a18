"""Folders given as fsspec URLs: which arguments are URLs, the filesystem behind one, the local stand-in path
(``Mirror``) that plans and job states use for it, and uploads that readers see whole or not at all.
``file://`` URLs are plain local paths."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ganrt.errors import UsageError


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


# Object stores: an upload is visible whole or not at all, so it goes straight to its final name.
ATOMIC_UPLOADS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"}


def is_url(text: str) -> bool:
    return bool(_URL.match(str(text))) and not str(text).startswith("file://")


def location(text: str) -> Path | str:
    """A command's INPUT/OUTPUT argument: a local path, or a URL (``file://`` URLs become paths)."""
    text = str(text)
    if text.startswith("file://"):
        return Path(text[len("file://"):])
    return text.rstrip("/") if is_url(text) else Path(text)


@functools.lru_cache(maxsize=16)
def filesystem(url: str):
    """(fsspec filesystem, path inside it) of ``url``; one line for an unknown scheme or a missing driver."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:  # fsspec names the package: "Install s3fs to access S3"
        raise UsageError(f"{url}: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:
        raise UsageError(f"{url}: {exc} (fsspec does not know this scheme)") from None
    return fs, path.rstrip("/")


def _protocol(fs) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


@dataclass(frozen=True)
class Mirror:
    """A remote folder and the local stand-in path that represents it in plans and job states."""

    url: str  # no trailing slash
    local: Path  # absolute, resolved; never created for inputs (holds the job state for outputs)

    @classmethod
    def of(cls, url: str, kind: str) -> Mirror:
        """The stand-in of ``url`` as an INPUT (``kind`` "inputs": a name, never made) or an OUTPUT ("outputs":
        its job state's folder, in ganrt's marked cache folder)."""
        from ganrt.cache import cache_dir, cache_root

        digest = hashlib.sha256(url.encode()).hexdigest()[:20]
        base = cache_dir("remote-outputs") if kind == "outputs" else cache_root() / f"remote-{kind}"
        return cls(url, (base / digest).resolve())

    def covers(self, path: Path) -> bool:
        return Path(path).is_relative_to(self.local)

    def rel(self, path: Path) -> str:
        return Path(path).relative_to(self.local).as_posix()

    def url_of(self, path: Path) -> str:
        rel = self.rel(path)
        return f"{self.url}/{rel}" if rel != "." else self.url


def upload(local: Path, url: str) -> None:
    """Put a finished local file at ``url`` so that readers see the whole file or none."""
    from ganrt.fsutil import TMP_MARK

    fs, path = filesystem(url)
    parent = path.rsplit("/", 1)[0]
    if _protocol(fs) in ATOMIC_UPLOADS:
        fs.put_file(str(local), path)
        return
    with contextlib.suppress(Exception):
        fs.makedirs(parent, exist_ok=True)
    name = path.rsplit("/", 1)[-1]
    tmp = f"{parent}/.{name}.{os.urandom(4).hex()}{TMP_MARK}-{os.getpid()}{Path(name).suffix}"
    fs.put_file(str(local), tmp)
    try:
        fs.mv(tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(tmp)
        raise
