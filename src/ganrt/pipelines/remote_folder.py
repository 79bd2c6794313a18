"""Folders given as fsspec URLs (``s3://bucket/scans``, ``gs://…``, ``ftp://host/path``,
``memory://…``): listed, read and written through fsspec, planned and recorded as local folders are.

A remote folder has a local *stand-in* path (``Mirror``). Tasks, the output plan and the job state
work on stand-in paths exactly as on a local folder; the few places that touch files ask this module:

- the walk lists the remote INPUT once (``discover``) and the remote OUTPUT once (``Listing``): the
  plan's existence checks and the job state's "is the output still there" come from that listing;
- the read stage fetches each image into a temporary local file (``fetched``); the write stage writes
  into a temporary local folder and uploads what it wrote (``uploading``): straight to the final name
  on object stores, whose uploads appear whole or not at all, elsewhere to a temporary name then moved;
- the job state of a remote OUTPUT lives on the driver, in ganrt's cache, keyed by the OUTPUT's URL,
  and a copy of it in the OUTPUT itself (``StateCopy``: pushed every few minutes and at the end, merged
  in when a run opens the state), so that a rerun from another machine resumes instead of refusing
  the outputs as someone else's;
- a run that holds the job state removes the temporary names dead uploads left in the OUTPUT
  (``Listing.remove_dead_temps``).

Both stages run wherever the runner runs (this process, or Ray's workers, which reach the storage
with their own credentials). ``file://`` URLs are plain local paths.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.pipelines.notes import note

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Object stores: an upload is visible whole or not at all, so it goes straight to its final name.
ATOMIC_UPLOADS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"}
STATE_COPY_NAME = ".ganrt-state.sqlite"  # the job state's copy in a remote OUTPUT (a name walks skip)
STATE_PUSH_EVERY_S = 300.0  # a driver killed outright loses at most this much of the copy's news
DEAD_TEMP_AGE_S = 300.0  # a temporary name this old (by the store's clock) is a dead upload's

log = logging.getLogger(__name__)


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


# --- listings -------------------------------------------------------------------------------------

def _seconds(info: dict) -> float | None:
    """An entry's modification time (seconds since the epoch) from whatever its filesystem reports."""
    for key in ("mtime", "LastModified", "last_modified", "modify", "updated", "modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value)
        for parse in (lambda t: datetime.strptime(t[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc),
                      lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))):
            try:
                stamp = parse(text)
            except ValueError:
                continue
            return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()
    return None


def version_ns(info: dict) -> int:
    """What the job state compares to see an input changed: its time, else a number from its ETag."""
    seconds = _seconds(info)
    if seconds is not None:
        return int(seconds * 1e9)
    tag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or ""
    return int(hashlib.sha256(str(tag).encode()).hexdigest()[:15], 16)


def _list(url: str, *, missing_ok: bool) -> dict[str, dict]:
    """Every entry under ``url`` (folders included), by path relative to it."""
    fs, root = filesystem(url)
    try:
        found = fs.find(root, withdirs=True, detail=True)
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise UsageError(f"input folder not found: {url}") from None
    except Exception as exc:  # noqa: BLE001 - credentials, network, permissions: one line
        raise UsageError(f"cannot list {url}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    entries = {}
    for name, info in found.items():
        name = name.rstrip("/")
        if name == root:
            continue
        if not name.startswith(root + "/") and root:
            continue
        entries[name[len(root) + 1:] if root else name] = info
    if not entries and not missing_ok and not _is_folder(fs, root):
        raise UsageError(f"input folder not found: {url}")
    return entries


def _is_folder(fs, path: str) -> bool:
    try:
        return fs.isdir(path)
    except Exception:  # noqa: BLE001 - unreachable counts as absent; the caller says which folder
        return False


class Listing:
    """What a remote OUTPUT held when the job was planned: the plan's and the job state's view of it."""

    def __init__(self, mirror: Mirror, entries: dict[str, dict]):
        self.mirror = mirror
        self.entries = entries

    @classmethod
    def of(cls, mirror: Mirror) -> Listing:
        return cls(mirror, _list(mirror.url, missing_ok=True))

    def covers(self, path: Path) -> bool:
        return self.mirror.covers(path)

    def entry(self, path: Path) -> dict | None:
        rel = self.mirror.rel(path)
        if rel == ".":
            return {"type": "directory"}
        return self.entries.get(rel)

    def kind(self, path: Path) -> str | None:
        """'file', 'directory' or None (absent)."""
        found = self.entry(path)
        return None if found is None else ("directory" if found.get("type") == "directory" else "file")

    def file_time(self, path: Path) -> float | None:
        """The modification time of the file at ``path`` (0.0 when the store reports none), or None."""
        found = self.entry(path)
        if found is None or found.get("type") == "directory":
            return None
        return _seconds(found) or 0.0

    def remove_dead_temps(self, now: float | None = None) -> int:
        """Delete the temporary names that uploads killed between their put and their move left (on
        stores without whole-file uploads); call it holding the job state. One younger than
        ``DEAD_TEMP_AGE_S`` may be another machine's upload in flight and is left. Returns the count."""
        from ganrt.fsutil import is_temp_name, plain_key

        fs, root = filesystem(self.mirror.url)
        cutoff = (time.time() if now is None else now) - DEAD_TEMP_AGE_S
        removed = 0
        for rel, info in list(self.entries.items()):
            stamp = _seconds(info)
            if info.get("type") == "directory" or not plain_key(rel) or not is_temp_name(rel.rsplit("/", 1)[-1]) \
                    or (stamp is not None and stamp > cutoff):
                continue
            try:
                fs.rm_file(f"{root}/{rel}")
            except Exception:  # noqa: BLE001 - gone already, or not ours to delete: left as it was
                continue
            del self.entries[rel]
            removed += 1
        return removed


class StateCopy:
    """The job state's copy in a remote OUTPUT: merged into the driver's state when a run opens it,
    pushed back every ``STATE_PUSH_EVERY_S`` while it changes and when it closes."""

    def __init__(self, listing: Listing):
        self.listing = listing
        self.url = f"{listing.mirror.url}/{STATE_COPY_NAME}"
        self._pushed_at = time.monotonic()
        self._dirty = False

    def merge_into(self, state) -> int:
        """Merge the copy the OUTPUT holds (if any) into ``state``; returns the rows it brought."""
        if self.listing.entries.get(STATE_COPY_NAME) is None:
            return 0
        fs, path = filesystem(self.url)
        folder = Path(tempfile.mkdtemp(prefix="ganrt-state-"))
        try:
            local = folder / STATE_COPY_NAME
            try:
                fs.get_file(path, str(local))
            except OSError as exc:
                raise UsageError(f"cannot fetch the job state copy {self.url}: {exc}") from None
            import sqlite3

            from ganrt.pipelines.jobstate import newest_in

            try:
                copied = newest_in(local)
                brought = state.merge_from(local)
            except sqlite3.DatabaseError as exc:
                raise UsageError(f"the job state copy {self.url} is damaged ({exc}); delete it to start afresh "
                                 "(outputs of earlier runs will then need --overwrite to be redone)") from None
            if state.newest() != copied:  # this machine knows what the copy does not
                self._dirty = True  # (a run killed here before its last push): the next push sends it
            return brought
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def changed(self, state) -> None:
        self._dirty = True
        if time.monotonic() - self._pushed_at >= STATE_PUSH_EVERY_S:
            self.push(state)

    def push(self, state) -> None:
        """Upload a snapshot of ``state`` (whole or not at all); a failure is a warning, not the run's end:
        the driver's own state still has everything."""
        if not self._dirty:
            return
        folder = Path(tempfile.mkdtemp(prefix="ganrt-state-"))
        try:
            local = folder / STATE_COPY_NAME
            state.snapshot(local)
            upload(local, self.url)
            self._dirty = False
        except Exception as exc:  # noqa: BLE001 - network, permissions: the next push tries again
            log.warning("could not save the job state copy to %s (%s); this machine's copy has it all",
                        self.url, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        finally:
            self._pushed_at = time.monotonic()
            shutil.rmtree(folder, ignore_errors=True)


# --- the walk -------------------------------------------------------------------------------------

def check_urls(src: Path | str, dst: Path | str) -> None:
    if isinstance(src, str) and isinstance(dst, str):
        if src == dst:
            raise UsageError("OUTPUT is INPUT: originals are never overwritten; choose another folder")
        if src.startswith(dst + "/"):
            raise UsageError("INPUT is inside OUTPUT, so outputs could land on inputs; choose another folder")
    if isinstance(dst, Path) and dst.exists() and not dst.is_dir():
        raise UsageError(f"OUTPUT_DIR {dst} exists and is not a folder")


def discover(src: Path | str, dst: Path | str, fmt: str = "same", name_suffix: str = ""):
    """``archive_walk.discover`` for a job with a URL on either side: (Discovery, Listing of a
    remote OUTPUT or None). Tasks carry the input's URL and the output's mirror."""
    from ganrt.fsutil import Confined, is_temp_name, plain_key
    from ganrt.pipelines import archive_walk, sidecar
    from ganrt.pipelines.archive_walk import STATE_NAMES, Discovery, Task
    from ganrt.pipelines.image_io import READ_SUFFIXES, output_suffix
    from ganrt.pipelines.system_files import file_reason, ignored_part

    check_urls(src, dst)
    dst_mirror = Mirror.of(dst, "outputs") if isinstance(dst, str) else None
    dst_root = dst_mirror.local if dst_mirror else dst.resolve()
    if isinstance(src, Path):
        found = archive_walk.discover(src, dst_root, fmt, name_suffix)
    else:
        src_mirror = Mirror.of(src, "inputs")
        found = Discovery(src_mirror.local, dst_root)
        confined = Confined(dst_root)
        inside = dst[len(src) + 1:] if isinstance(dst, str) and dst.startswith(src + "/") else None
        system_folders: set[str] = set()
        listed = _list(src, missing_ok=False)
        siblings: dict[str, set[str]] = {}  # the file names of each folder, for sidecars
        for rel, info in listed.items():
            if info.get("type") != "directory":
                folder, _, name = rel.rpartition("/")
                siblings.setdefault(folder, set()).add(name)
        for rel, info in sorted(listed.items()):
            if info.get("type") == "directory" or (inside and (rel == inside or rel.startswith(inside + "/"))):
                continue
            if not plain_key(rel):  # scans/../escape.png: a name, on a store, that points out of OUTPUT here
                found.failed.append((rel, "its key has an empty, '.' or '..' part: its output would land "
                                          "outside OUTPUT; not restored (rename the key)"))
                continue
            rel_path = Path(rel)
            if is_temp_name(rel_path.name) or rel_path.name in STATE_NAMES:
                continue
            system = ignored_part(rel)
            if system:
                if system[0] not in system_folders:
                    system_folders.add(system[0])
                    found.ignored.append(system)
                continue
            here = siblings[rel.rpartition("/")[0]]
            if rel_path.suffix.lower() not in READ_SUFFIXES:
                photo = sidecar.owner(rel_path.name, here)
                found.ignored.append((rel, f"XMP sidecar of {photo} (its captions go into that output)" if photo
                                      else "not an image file type"))
                continue
            why = file_reason(None, rel_path.name)
            if why:
                found.ignored.append((rel, why))
                continue
            out = dst_root / rel_path.with_name(rel_path.stem + name_suffix + output_suffix(rel_path, fmt))
            if not confined.holds(out):  # a local OUTPUT holding a link out of it, on the key's way
                found.failed.append((rel, "its output would land outside OUTPUT (a link in the way); not restored"))
                continue
            version, side_url = version_ns(info), None
            side = next(iter(sidecar.names_among(rel_path.name, here)), None)
            if side is not None:  # an edited caption redoes the photo, as in a local folder
                side_rel = rel[: len(rel) - len(rel_path.name)] + side
                side_url = f"{src}/{side_rel}"
                both = f"{version}:{version_ns(listed[side_rel])}"
                version = int(hashlib.sha256(both.encode()).hexdigest()[:15], 16)
            seconds = _seconds(info)
            found.tasks.append(Task(src_mirror.local / rel_path, rel, out, int(info.get("size") or 0),
                                    version, src_url=f"{src}/{rel}", sidecar_url=side_url,
                                    src_time_ns=int(seconds * 1e9) if seconds is not None else None))
    if dst_mirror is not None:
        found.tasks = [replace(t, dst_mirror=dst_mirror) for t in found.tasks]
        return found, Listing.of(dst_mirror)
    return found, None


def header_has_alpha(url: str) -> bool:
    """Whether the remote image decodes with an alpha channel, from the first bytes of its header."""
    from ganrt.pipelines.image_io import _has_alpha

    fs, path = filesystem(url)
    try:
        from PIL import Image

        with fs.open(path, "rb", block_size=1 << 16) as fh, Image.open(fh) as img:
            return _has_alpha(img)
    except Exception:  # noqa: BLE001 - unreadable: the read stage reports it
        return False


# --- the stages -----------------------------------------------------------------------------------

@contextlib.contextmanager
def fetched(task) -> Iterator:
    """The task with its input fetched into a temporary local file of the same name, dated as the remote
    file (and its XMP sidecar beside it, where it has one)."""
    from ganrt.errors import ImageReadError

    fs, path = filesystem(task.src_url)
    folder = Path(tempfile.mkdtemp(prefix="ganrt-fetch-"))
    try:
        local = folder / Path(task.rel).name
        try:
            fs.get_file(path, str(local))
        except FileNotFoundError:
            raise ImageReadError("file not found (gone since the folder was listed)") from None
        except OSError as exc:
            raise ImageReadError(f"cannot fetch {task.src_url}: {exc}") from None
        if task.src_time_ns is not None:  # the output is dated as its original, as from a local folder
            os.utime(local, ns=(task.src_time_ns, task.src_time_ns))
        if task.sidecar_url is not None:
            side_fs, side_path = filesystem(task.sidecar_url)
            try:
                side_fs.get_file(side_path, str(folder / task.sidecar_url.rsplit("/", 1)[1]))
            except OSError as exc:  # gone or unreadable: the photo's own XMP, as for a local sidecar
                note(task.rel, f"its sidecar cannot be fetched ({exc}); the photo's own XMP is kept")
        yield replace(task, src=local)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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


@contextlib.contextmanager
def uploading(task) -> Iterator:
    """The task with its output in a temporary local folder; on success every file written there (the
    image, repair's mask) is uploaded beside the planned output."""
    from ganrt.errors import ImageWriteError
    from ganrt.fsutil import is_temp_name

    folder = Path(tempfile.mkdtemp(prefix="ganrt-upload-"))
    try:
        yield replace(task, dst=folder / task.dst.name)
        for file in sorted(folder.iterdir()):
            if is_temp_name(file.name):
                continue
            url = task.dst_mirror.url_of(task.dst.parent / file.name)
            try:
                upload(file, url)
            except OSError as exc:
                raise ImageWriteError(f"cannot upload to {url}: {exc}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
