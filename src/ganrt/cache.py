"""Where ganrt keeps converted weights, ONNX files, compiled models and engines, and how it trusts them.

``GANRT_CACHE`` overrides the location; otherwise ``$XDG_CACHE_HOME/ganrt``
(``~/.cache/ganrt`` when unset). One sub-folder per kind (``KINDS``), each carrying the marker
``.ganrt-cache`` that ganrt writes when it makes the folder: ``ganrt cache --clean`` deletes in marked
folders only, so a ``GANRT_CACHE`` pointed at a folder of the user's own (their home, a folder holding
a ``models`` folder of their own files) loses nothing. A kind folder an older ganrt made (no marker) is
marked when everything in it is provably ganrt's (sealed files, their seals, ganrt's own small files).

Every file ganrt derives and caches is *sealed*: written atomically, then a
``NAME.sha256`` sidecar records its checksum and size. ``check_seal`` verifies
a file before use; a file whose bytes no longer match (bit rot, a half-copied
cache, a tampered blob) is deleted with a warning and the caller rebuilds it.
A cache folder that cannot be written is replaced, for this run, by a
temporary one (with a warning): a read-only home costs time, not the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
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
    "remote-outputs": "job states of archive jobs whose OUTPUT is a URL (a copy is in the OUTPUT too)",
}
SEAL_SUFFIX = ".sha256"
MARKER = ".ganrt-cache"
_MARK = b'{"ganrt": "cache"}\n'
# ganrt's unsealed files: model facts, measured choices, TensorRT's timing and runtime caches, probes
_OWN_UNSEALED = re.compile(r"info-[0-9a-f]{20}\.json|bf16-guard\.json|timing-.+\.cache|.+\.runtime-cache|"
                           r"\.ganrt-probe.*|\.ganrt-state\.sqlite(-wal|-shm)?|\.ganrt-state\.lock")
_fallback_root: Path | None = None  # this run's temporary cache, when the configured one cannot be written
_fallback_for: Path | None = None  # the configured root it stands in for


def entry_stem(text: str) -> str:
    """``text`` (a model's name, which a file's metadata may set to anything) as a file-name stem that stays
    in its cache folder: letters, digits, ``._-``, no leading dot, at most 60 characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")[:60] or "model"


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
    """The cache sub-folder for ``kind`` (created and marked on demand; a temporary one when it cannot be
    written)."""
    global _fallback_root, _fallback_for
    path = cache_root() / kind
    if _writable(path):
        _claim(path)
        return path
    if _fallback_root is None or _fallback_for != configured_root():
        _fallback_root = Path(tempfile.mkdtemp(prefix="ganrt-cache-"))
        _fallback_for = configured_root()
        log.warning("the cache folder %s cannot be written; using %s for this run (set GANRT_CACHE to a "
                    "writable folder to keep converted models between runs)", configured_root(), _fallback_root)
    path = _fallback_root / kind
    path.mkdir(parents=True, exist_ok=True)
    _claim(path)
    return path


# --- whose folders -------------------------------------------------------------------------------

def is_marked(folder: Path) -> bool:
    """Whether ganrt made ``folder`` as one of its cache folders (its marker says so)."""
    try:
        with open(folder / MARKER, "rb") as fh:
            return fh.read(64) == _MARK
    except OSError:
        return False


_looked_at: set[Path] = set()  # folders found holding files not ganrt's, this run (not walked again)


def _claim(folder: Path) -> None:
    """Mark a kind folder as ganrt's, unless it holds a file ganrt cannot prove it made."""
    if folder in _looked_at or is_marked(folder):
        return
    if not all(_made_by_ganrt(p) for p in folder.rglob("*") if not p.is_dir()):
        _looked_at.add(folder)
        return
    try:
        atomic_write_bytes(folder / MARKER, _MARK)
    except OSError as exc:
        log.warning("could not mark the cache folder %s (%s)", folder, exc)


def _made_by_ganrt(path: Path) -> bool:
    """A file ganrt writes into its cache: sealed (or a seal beside its file), a companion of a sealed file
    (an OpenVINO model's weights, a TensorRT engine's notes), or one of its own small files."""
    from ganrt.fsutil import is_temp_name

    name = path.name
    if path.is_symlink():
        return False
    if is_temp_name(name) or _OWN_UNSEALED.fullmatch(name) or seal_path(path).is_file():
        return True
    if name.endswith(SEAL_SUFFIX):
        return path.with_name(name[: -len(SEAL_SUFFIX)]).is_file()
    companion = {".bin": ".xml", ".json": ".engine"}.get(path.suffix)
    return companion is not None and seal_path(path.with_suffix(companion)).is_file()


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
    """Files and bytes per kind (known kinds first), for `ganrt cache` and `ganrt doctor`; a folder that is
    not ganrt's is listed as such (and never cleaned)."""
    root = cache_root()
    rows = []
    names = list(KINDS)
    if root.is_dir():
        names += sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in KINDS)
    for kind in names:
        folder = root / kind
        files = [p for p in folder.rglob("*") if p.is_file() and p.name != MARKER] if folder.is_dir() else []
        what = KINDS.get(kind, "other")
        if files and not is_marked(folder):
            what = "not ganrt's (no marker): never cleaned"
        rows.append({"kind": kind, "files": len(files), "bytes": sum(p.stat().st_size for p in files),
                     "what": what, "path": str(folder), "ganrt": is_marked(folder)})
    return rows


def clean(kinds: list[str] | None = None, *, older_than_days: float | None = None) -> tuple[int, int, list[str]]:
    """Delete cached files (of ``kinds``, or all; only those unused for ``older_than_days``), in the folders
    ganrt marked as its own. Returns (files, bytes) removed and the folders left alone as not ganrt's.
    Everything removed can be rebuilt."""
    root = cache_root()
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    files = freed = 0
    kept: list[str] = []
    if kinds is None:
        kinds = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    for kind in kinds:
        folder = root / kind
        if not folder.is_dir() or folder.is_symlink():
            continue
        if not is_marked(folder):
            _claim(folder)  # a folder an older ganrt made, with nothing but ganrt's files in it
            if not is_marked(folder):
                kept.append(kind)
                continue
        for p in sorted(folder.rglob("*"), reverse=True):
            if p.is_symlink() or not p.is_file() or p.name == MARKER:
                continue
            if cutoff is not None and (p.name.endswith(SEAL_SUFFIX) or p.stat().st_mtime >= cutoff):
                continue
            files += 1
            freed += p.stat().st_size
            if cutoff is not None:
                discard(p)  # and its seal
            else:
                p.unlink(missing_ok=True)
        for d in sorted((d for d in folder.rglob("*") if d.is_dir() and not d.is_symlink()), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()  # emptied sub-folders (an OpenVINO ir/, a remote job's state folder)
    return files, freed, kept
