"""Where ganrt keeps converted weights, ONNX files, compiled models and engines, and how it trusts them.

``GANRT_CACHE`` overrides the location; otherwise ``$XDG_CACHE_HOME/ganrt``
(``~/.cache/ganrt`` when unset). One sub-folder per kind (``KINDS``).

Every file ganrt derives and caches is *sealed*: written atomically, then a
``NAME.sha256`` sidecar records its checksum and size. ``check_seal`` verifies
a file before use; a file whose bytes no longer match (bit rot, a half-copied
cache, a tampered blob) is deleted with a warning and the caller rebuilds it.
A cache folder that cannot be written is replaced, for this run, by a
temporary one (with a warning): a read-only home costs time, not the run.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from ganrt.fsutil import atomic_write_bytes, sha256_file

log = logging.getLogger(__name__)

KINDS = {
    "models": "converted weights (safetensors) and detected model facts",
    "onnx": "exported ONNX graphs (fp32, fp16)",
    "openvino": "compiled OpenVINO models",
    "engines": "TensorRT engines, timing and runtime caches",
    "choices": "measured backend choices (bf16 fidelity guard)",
}
SEAL_SUFFIX = ".sha256"
_fallback_root: Path | None = None  # this run's temporary cache, when the configured one cannot be written
_fallback_for: Path | None = None  # the configured root it stands in for


def configured_root() -> Path:
    env = os.environ.get("GANRT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ganrt"


def cache_root() -> Path:
    """The cache folder in use: the configured one, or this run's temporary fallback."""
    configured = configured_root()
    return _fallback_root if _fallback_root is not None and _fallback_for == configured else configured


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ganrt-probe"):
            return True
    except OSError:
        return False


def cache_dir(kind: str) -> Path:
    """The cache sub-folder for ``kind`` (created on demand; a temporary one when it cannot be written)."""
    global _fallback_root, _fallback_for
    path = cache_root() / kind
    if _writable(path):
        return path
    if _fallback_root is None or _fallback_for != configured_root():
        _fallback_root = Path(tempfile.mkdtemp(prefix="ganrt-cache-"))
        _fallback_for = configured_root()
        log.warning("the cache folder %s cannot be written; using %s for this run (set GANRT_CACHE to a "
                    "writable folder to keep converted models between runs)", configured_root(), _fallback_root)
    path = _fallback_root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- seals ---------------------------------------------------------------------------------------

def seal_path(path: Path) -> Path:
    return path.with_name(path.name + SEAL_SUFFIX)


def seal(path: Path) -> None:
    """Record the checksum of the complete file ``path`` (call after its atomic write)."""
    digest = sha256_file(path)
    try:
        atomic_write_bytes(seal_path(path), f"{digest} {path.stat().st_size}\n".encode())
    except OSError as exc:
        log.warning("could not seal cached file %s (%s); it will be rebuilt next time", path, exc)


def write_sealed(path: Path, data: bytes) -> Path:
    atomic_write_bytes(path, data)
    seal(path)
    return path


def check_seal(path: Path, what: str = "cached file") -> bool:
    """True when ``path`` exists and matches its seal. A file that does not is removed, with a warning."""
    if not path.is_file():
        return False
    problem = None
    try:
        digest, size = seal_path(path).read_text().split()
        if int(size) != path.stat().st_size:
            problem = "truncated or grown"
        elif sha256_file(path) != digest:
            problem = "corrupt (checksum mismatch)"
    except FileNotFoundError:
        problem = "not sealed (written by an older ganrt or interrupted)"
    except (OSError, ValueError) as exc:
        problem = f"unreadable seal ({exc})"
    if problem is None:
        return True
    log.warning("%s %s is %s; rebuilding it", what, path.name, problem)
    discard(path)
    return False


def discard(path: Path) -> None:
    for p in (path, seal_path(path)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove %s (%s)", p, exc)


def touch(path: Path) -> None:
    """Mark a cached file as just used (the size cap evicts the least recently used first)."""
    try:
        os.utime(path)
    except OSError:
        pass


def trim(kind: str, limit_bytes: int, *, keep: Path | None = None) -> int:
    """Delete the least recently used sealed files of ``kind`` until it holds at most ``limit_bytes``.

    Returns the bytes freed. ``keep`` is never deleted (the file just written or in use)."""
    folder = cache_root() / kind
    if not folder.is_dir():
        return 0
    entries = []
    for p in folder.iterdir():
        if p.is_file() and not p.name.endswith(SEAL_SUFFIX):
            st = p.stat()
            entries.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _mtime, size, p in sorted(entries):
        if total - freed <= limit_bytes:
            break
        if keep is not None and p == keep:
            continue
        discard(p)
        freed += size
    if freed:
        log.info("cache %s: removed %.0f MB of least recently used files (cap %.0f MB)",
                 kind, freed / 2**20, limit_bytes / 2**20)
    return freed


# --- what is there -------------------------------------------------------------------------------

def usage() -> list[dict]:
    """Files and bytes per kind (known kinds first), for `ganrt cache` and `ganrt doctor`."""
    root = cache_root()
    rows = []
    names = list(KINDS)
    if root.is_dir():
        names += sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in KINDS)
    for kind in names:
        folder = root / kind
        files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        rows.append({"kind": kind, "files": len(files), "bytes": sum(p.stat().st_size for p in files),
                     "what": KINDS.get(kind, "other"), "path": str(folder)})
    return rows


def clean(kinds: list[str] | None = None, *, older_than_days: float | None = None) -> tuple[int, int]:
    """Delete cached files (of ``kinds``, or all; only those unused for ``older_than_days``).

    Returns (files, bytes) removed. Everything here can be rebuilt."""
    root = cache_root()
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    files = freed = 0
    if kinds is None:
        kinds = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    for kind in kinds:
        folder = root / kind
        if not folder.is_dir():
            continue
        if cutoff is None:
            for p in folder.rglob("*"):
                if p.is_file():
                    files += 1
                    freed += p.stat().st_size
            shutil.rmtree(folder, ignore_errors=True)
            continue
        for p in list(folder.rglob("*")):
            if p.is_file() and not p.name.endswith(SEAL_SUFFIX) and p.stat().st_mtime < cutoff:
                files += 1
                freed += p.stat().st_size
                discard(p)
    return files, freed
