"""What a remote folder holds, listed once per job: the entries of an INPUT, the files of an OUTPUT (the plan's
and the job state's view of it), the dead uploads to remove, and the job state's copy kept in the OUTPUT."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.pipelines.archive.urls import Mirror, filesystem, upload

log = logging.getLogger(__name__)


STATE_COPY_NAME = ".ganrt-state.sqlite"  # the job state's copy in a remote OUTPUT (a name walks skip)


STATE_PUSH_EVERY_S = 300.0  # a driver killed outright loses at most this much of the copy's news


DEAD_TEMP_AGE_S = 300.0  # a temporary name this old (by the store's clock) is a dead upload's


def seconds_of(info: dict) -> float | None:
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
    seconds = seconds_of(info)
    if seconds is not None:
        return int(seconds * 1e9)
    tag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or ""
    return int(hashlib.sha256(str(tag).encode()).hexdigest()[:15], 16)


def list_entries(url: str, *, missing_ok: bool) -> dict[str, dict]:
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
        return cls(mirror, list_entries(mirror.url, missing_ok=True))

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
        return seconds_of(found) or 0.0

    def remove_dead_temps(self, now: float | None = None) -> int:
        """Delete the temporary names that uploads killed between their put and their move left (on
        stores without whole-file uploads); call it holding the job state. One younger than
        ``DEAD_TEMP_AGE_S`` may be another machine's upload in flight and is left. Returns the count."""
        from ganrt.fsutil import is_temp_name, plain_key

        fs, root = filesystem(self.mirror.url)
        cutoff = (time.time() if now is None else now) - DEAD_TEMP_AGE_S
        removed = 0
        for rel, info in list(self.entries.items()):
            stamp = seconds_of(info)
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

            from ganrt.pipelines.archive.state import newest_in

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
