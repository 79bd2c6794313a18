"""Job state of an archive run: an SQLite database in OUTPUT_DIR.

One row per input, keyed by its relative path, with its size, modification
time and the fingerprint of the settings that change the output. An image is
*done* only when its row says so and all three still match; a row is marked
*started* before its output is written, so an output left by a killed run is
known to be ours and may be replaced, while outputs the job never made are
not overwritten without ``--overwrite``. Every update is its own committed
transaction (WAL, synchronous=FULL), so ``kill -9`` loses at most the image
in flight. A lock file keeps two runs from sharing one OUTPUT_DIR.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.pipelines.archive_walk import Task

DB_NAME = ".ganrt-state.sqlite"
LOCK_NAME = ".ganrt-state.lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    rel TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('started', 'done', 'failed')),
    output TEXT,
    reason TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS images_output ON images(output);
"""


def settings_fingerprint(settings: dict) -> str:
    """A short stable hash of the settings that change the output."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Row:
    rel: str
    size: int
    mtime_ns: int
    fingerprint: str
    status: str
    output: str | None
    reason: str | None


class JobState:
    def __init__(self, output_dir: Path):
        output_dir.mkdir(parents=True, exist_ok=True)
        self.root = output_dir.resolve()  # outputs are located by absolute path (see archive_walk)
        self._lock = open(output_dir / LOCK_NAME, "a")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise UsageError(f"another ganrt run is writing to {output_dir}; wait for it to finish") from None
        self._db = sqlite3.connect(output_dir / DB_NAME, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def __enter__(self) -> JobState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _out(self, dst: Path) -> str:
        return dst.relative_to(self.root).as_posix()

    def lookup(self, rel: str) -> Row | None:
        cur = self._db.execute("SELECT rel, size, mtime_ns, fingerprint, status, output, reason FROM images WHERE rel=?",
                               (rel,))
        found = cur.fetchone()
        return Row(*found) if found else None

    def is_done(self, task: Task, fingerprint: str) -> bool:
        """Finished earlier with the same input and settings, and the output is still there."""
        row = self.lookup(task.rel)
        return (row is not None and row.status == "done" and row.size == task.size
                and row.mtime_ns == task.mtime_ns and row.fingerprint == fingerprint
                and row.output is not None and (self.root / row.output).is_file())

    def owns(self, dst: Path) -> bool:
        """Whether this job wrote (or started writing) ``dst`` at some point."""
        cur = self._db.execute("SELECT 1 FROM images WHERE output=? LIMIT 1", (self._out(dst),))
        return cur.fetchone() is not None

    def _put(self, task: Task, fingerprint: str, status: str, output: Path | None, reason: str | None) -> None:
        self._db.execute(
            "INSERT INTO images(rel, size, mtime_ns, fingerprint, status, output, reason, updated) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(rel) DO UPDATE SET size=excluded.size, "
            "mtime_ns=excluded.mtime_ns, fingerprint=excluded.fingerprint, status=excluded.status, "
            "output=excluded.output, reason=excluded.reason, updated=excluded.updated",
            (task.rel, task.size, task.mtime_ns, fingerprint, status,
             self._out(output) if output is not None else None, reason, time.time()),
        )

    def mark_started(self, task: Task, fingerprint: str) -> None:
        self._put(task, fingerprint, "started", task.dst, None)

    def mark_done(self, task: Task, fingerprint: str, output: Path) -> None:
        self._put(task, fingerprint, "done", output, None)

    def mark_failed(self, task: Task, fingerprint: str, reason: str) -> None:
        row = self.lookup(task.rel)
        keep_output = Path(self.root / row.output) if row is not None and row.output else None
        self._put(task, fingerprint, "failed", keep_output, reason)

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall())


def remove_stale_temp_files(output_dir: Path) -> int:
    """Delete temporary files a killed run left behind (they are never finished outputs)."""
    from ganrt.fsutil import is_temp_name

    removed = 0
    if not output_dir.is_dir():
        return 0
    for dirpath, _dirs, files in os.walk(output_dir):
        for name in files:
            if is_temp_name(name):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError:
                    pass
    return removed
