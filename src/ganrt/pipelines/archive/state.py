"""Job state of an archive run: an SQLite database in OUTPUT_DIR.

One row per input, keyed by its relative path, with its size, modification
time and the fingerprint of the settings that change the output. An image is
*done* only when its row says so and all three still match; a row is marked
*started* before its output is written, so an output left by a killed run is
known to be ours and may be replaced, while outputs the job never made are
not overwritten without ``--overwrite``. Every update is its own committed
transaction (WAL, synchronous=FULL), so ``kill -9`` loses at most the image
in flight. A lock file keeps two runs from sharing one OUTPUT_DIR, and the state records the INPUT its
outputs are made from: another input folder's photos of the same names are refused, not written over
them (see :meth:`JobState.claim_input`).

Paths are stored as text; a file name that is not valid UTF-8 (possible on
Linux) is stored as ``\0b:`` + its bytes in hex, a form no real name can take.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from ganrt.errors import ResourceError, UsageError
from ganrt.pipelines.archive.keys import from_state_key, state_key
from ganrt.pipelines.archive.tasks import Task


DB_NAME = ".ganrt-state.sqlite"
LOCK_NAME = ".ganrt-state.lock"
REMOTE_CLOCK_SLACK_S = 2.0  # remote stores stamp outputs in whole seconds, with their own clock

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
CREATE TABLE IF NOT EXISTS job (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    rel: str
    size: int
    mtime_ns: int
    fingerprint: str
    status: str
    output: str | None
    reason: str | None  # why it failed; for a done row, the notes on what its output lost, one per line
    updated: float = 0.0

    @property
    def notes(self) -> list[str]:
        return self.reason.split("\n") if self.status == "done" and self.reason else []


def _upsert(output: str = "excluded.output") -> str:
    """One row per input: insert it, or replace the one there (setting its output to ``output``)."""
    return ("INSERT INTO images(rel, size, mtime_ns, fingerprint, status, output, reason, updated) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(rel) DO UPDATE SET size=excluded.size, "
            "mtime_ns=excluded.mtime_ns, fingerprint=excluded.fingerprint, status=excluded.status, "
            f"output={output}, reason=excluded.reason, updated=excluded.updated")


UPSERT = _upsert()

# A merge keeps the newer row, except between a failure and a row that records this job's output (done,
# or started with its output named) for one input with the same settings: the row with the output wins,
# whatever its age. A machine that had not yet seen another's state records that machine's outputs as
# failures ("exists, not written by this job"); such a failure must not take the outputs from the job.
# A replacing row that names no output keeps the one recorded.
_SAME_INPUT = ("excluded.size = images.size AND excluded.mtime_ns = images.mtime_ns "
               "AND excluded.fingerprint = images.fingerprint")
_FAILURE_AGAINST_OUTPUT = (f"{_SAME_INPUT} AND ((excluded.status = 'failed' AND images.status IN ('done', 'started') "
                           "AND images.output IS NOT NULL) OR (images.status = 'failed' "
                           "AND excluded.status IN ('done', 'started') AND excluded.output IS NOT NULL))")
MERGE = (_upsert("COALESCE(excluded.output, images.output)")
         + f" WHERE CASE WHEN {_FAILURE_AGAINST_OUTPUT} THEN excluded.status != 'failed' "
         "ELSE excluded.updated > images.updated END")


def _same_folder(recorded: str | None, source: str) -> bool:
    """One local folder under two spellings: letter case on a drive that ignores it (macOS, Windows shares),
    a bind mount."""
    if recorded is None or "://" in recorded or "://" in source:
        return False
    try:
        return os.path.samefile(recorded, source)
    except OSError:
        return False


def _still_there(source: str) -> bool:
    """Whether a recorded INPUT is still where it was (a URL is taken to be)."""
    return "://" in source or Path(source).is_dir()


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def _newest(db) -> tuple[int, float]:
    count, latest = db.execute("SELECT COUNT(*), MAX(updated) FROM images").fetchone()
    return count, latest or 0.0


def newest_in(path: Path) -> tuple[int, float]:
    """(row count, the latest update) of the job state file at ``path``."""
    db = _read_only(path)
    try:
        return _newest(db)
    finally:
        db.close()


def _storage_failed(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite failed for want of storage (a full disk, a failing or read-only one), not for the data."""
    return any(word in str(exc) for word in ("full", "disk I/O", "readonly", "read-only", "unable to open"))


class JobState:
    def __init__(self, output_dir: Path, *, readonly: bool = False):
        """Open (creating) the job state of ``output_dir`` and lock it for this run.

        ``readonly``: look at an existing state without locking or creating anything (for --dry-run)."""
        self.root = output_dir.resolve()  # outputs are located by absolute path (see archive_walk)
        self.readonly = readonly
        self.remote = None  # a remote OUTPUT's Listing (set by the command): where its outputs are seen
        self.copy = None  # a remote OUTPUT's StateCopy (set by the command): kept up to date from here
        self._lock = None
        path = output_dir / DB_NAME
        try:
            if readonly:  # a private copy in memory: what a merge adds to it is not written anywhere
                self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                self._db.executescript(SCHEMA)
                if path.is_file():
                    self.merge_from(path)
                return
            output_dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(output_dir / LOCK_NAME, "a")  # noqa: SIM115 - held for the run
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.close()
                raise UsageError(f"another ganrt run is writing to {output_dir}; wait for it to finish") from None
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            self._db.execute("SELECT COUNT(*) FROM images").fetchone()
        except sqlite3.DatabaseError as exc:
            if self._lock is not None:
                self._lock.close()
            if isinstance(exc, sqlite3.OperationalError) and _storage_failed(exc):
                raise ResourceError(f"the job state {path} cannot be written ({exc}): free some space, or give an "
                                    "OUTPUT on a writable drive") from None
            raise UsageError(f"the job state {path} is damaged ({exc}); move it away to start afresh "
                             "(outputs of earlier runs will then need --overwrite to be redone)") from None

    def _job(self, key: str) -> str | None:
        found = self._db.execute("SELECT value FROM job WHERE key=?", (key,)).fetchone()
        return found[0] if found else None

    @contextlib.contextmanager
    def _writing(self, what: str):
        """A write to the state; a full or failing disk is ``ResourceError`` (exit 3), not a crash."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if not _storage_failed(exc):
                raise
            raise ResourceError(f"the job state in {self.root} could not be written while {what} ({exc}); free "
                                "some space and rerun: finished work is kept") from None

    def _set_job(self, key: str, value: str) -> None:
        with self._writing("recording the job"):
            self._db.execute("INSERT INTO job(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                             "value=excluded.value", (key, value))

    # --- the files a job writes beside its outputs (reports, previews) ----------------------------------------
    @staticmethod
    def _side_key(path: Path) -> str:
        return "side:" + state_key(os.path.realpath(path))

    @staticmethod
    def _side_value(path: Path) -> str:
        from ganrt.fsutil import sha256_file

        return f"{path.stat().st_size}:{sha256_file(path)}"

    def record_side_file(self, path: Path) -> None:
        """Record that this job wrote ``path`` (its report or preview) as it is now."""
        if not self.readonly:
            self._set_job(self._side_key(path), self._side_value(path))

    def wrote_side_file(self, path: Path) -> bool:
        """Whether ``path`` is a report or preview this job wrote and nobody changed since: only then is it replaced
        without --overwrite (a user's CSV that merely has the same header is not ganrt's)."""
        recorded = self._job(self._side_key(path))
        try:
            return recorded is not None and recorded == self._side_value(Path(path))
        except OSError:
            return False

    def input_folder(self) -> str | None:
        """The INPUT (a resolved local path or a URL) the recorded outputs were made from."""
        return self._job("input")

    def _holds_outputs(self) -> bool:
        return self._db.execute("SELECT 1 FROM images WHERE output IS NOT NULL AND status != 'failed' LIMIT 1"
                                ).fetchone() is not None

    def claim_input(self, source: str, *, command: str = "restore", overwrite: bool) -> None:
        """Record ``source`` as the INPUT of this OUTPUT's outputs, and ``command`` as the command that makes them;
        refuse (without ``overwrite``) another input while the recorded one still exists and outputs made from it
        are recorded: its IMG_0001.jpg and this one's would share one output, and rows keyed by name alone would
        take it for a changed photo; refuse another command's OUTPUT (``repair`` into what ``restore`` made)
        likewise. A recorded local folder that is gone is an archive moved or mounted elsewhere: adopted."""
        made_by = self._job("command")
        if made_by is not None and made_by != command and not overwrite and self._holds_outputs():
            raise UsageError(f"{self.root} holds the outputs of `ganrt {made_by}`; give `ganrt {command}` an output "
                             f"folder of its own (or --overwrite to replace those outputs)")
        recorded = self.input_folder()
        same = recorded == source or _same_folder(recorded, source)
        if not same and recorded is not None and not overwrite and _still_there(recorded) and self._holds_outputs():
            raise UsageError(f"{self.root} holds the outputs of another input folder, {recorded}; give {source} "
                             "an output folder of its own (or --overwrite to replace outputs of the same names)")
        if self.readonly or (same and made_by == command):
            return
        if not same:
            self._set_job("input", source)
        self._set_job("command", command)
        if self.copy is not None:
            self.copy.changed(self)

    def newest(self) -> tuple[int, float]:
        """(row count, the latest update) of this state."""
        return _newest(self._db)

    def merge_from(self, path: Path) -> int:
        """Add the rows of another copy of this job's state (another machine's run), keeping the newer
        row where both have one, except that a row recording this job's output beats a failure of the
        same input and settings (see ``MERGE``). Returns how many rows it added or replaced."""
        other = _read_only(path)
        try:
            rows = other.execute("SELECT rel, size, mtime_ns, fingerprint, status, output, reason, updated "
                                 "FROM images")
            job = other.execute("SELECT key, value FROM job").fetchall() if other.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='job'").fetchone() else []
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR IGNORE INTO job(key, value) VALUES (?, ?)", job)
                self._db.executemany(MERGE, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before
        finally:
            other.close()

    def snapshot(self, path: Path) -> None:
        """A consistent copy of the state, as one SQLite file at ``path``."""
        target = sqlite3.connect(path)
        try:
            self._db.backup(target)
        finally:
            target.close()

    def close(self) -> None:
        if self.copy is not None and not self.readonly:
            self.copy.push(self)
        self._db.close()
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> JobState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _out(self, dst: Path) -> str:
        return state_key(dst.relative_to(self.root).as_posix())

    def lookup(self, rel: str) -> Row | None:
        cur = self._db.execute("SELECT rel, size, mtime_ns, fingerprint, status, output, reason, updated FROM images "
                               "WHERE rel=?",
                               (state_key(rel),))
        found = cur.fetchone()
        return Row(*found) if found else None

    def output_of(self, row: Row | None) -> Path | None:
        """The output path a row records (absolute), or None."""
        return self.root / from_state_key(row.output) if row is not None and row.output else None

    def is_done(self, task: Task, fingerprint: str) -> bool:
        """Finished earlier with the same input and settings, and the output is still there.

        An image marked *started* counts as finished when its output appeared after the mark: outputs
        are renamed into place whole, so such a file is this job's complete work, written by a worker
        whose run was killed before it could record it (a driver killed under ``--ray``, or ``kill
        -9`` between the write and the record). It is not redone, so each image is written once."""
        row = self.lookup(task.rel)
        out = self.output_of(row)
        if (row is None or out is None or row.size != task.size or row.mtime_ns != task.mtime_ns
                or row.fingerprint != fingerprint):
            return False
        written = self.output_time(out)
        if written is None:
            return False
        if row.status == "done":
            return True
        slack = REMOTE_CLOCK_SLACK_S if self.remote is not None and self.remote.covers(out) else 0.0
        return row.status == "started" and written > row.updated - slack

    def output_time(self, out: Path) -> float | None:
        """When the regular file ``out`` was last written (None when there is none): a remote file's time, a
        local file's latest of its modification and status-change times."""
        if self.remote is not None and self.remote.covers(out):
            return self.remote.file_time(out)
        try:
            written = out.stat()
        except OSError:
            return None
        # an output is dated as its original (st_mtime); st_ctime is when it was renamed into place
        return max(written.st_mtime, written.st_ctime) if stat.S_ISREG(written.st_mode) else None

    def adopt(self, task: Task, fingerprint: str) -> None:
        """Record as done an output :meth:`is_done` found finished but unrecorded."""
        row = self.lookup(task.rel)
        if not self.readonly and row is not None and row.status == "started":
            self.mark_done(task, fingerprint, self.output_of(row))

    def owns(self, dst: Path) -> bool:
        """Whether this job wrote (or started writing) ``dst`` at some point."""
        try:
            key = self._out(Path(dst))
        except ValueError:  # not under OUTPUT_DIR
            return False
        cur = self._db.execute("SELECT 1 FROM images WHERE output=? LIMIT 1", (key,))
        return cur.fetchone() is not None

    def _put(self, task: Task, fingerprint: str, status: str, output: Path | None, reason: str | None) -> None:
        with self._writing(f"recording {task.rel}"):
            self._db.execute(
                UPSERT,
                (state_key(task.rel), task.size, task.mtime_ns, fingerprint, status,
                 self._out(output) if output is not None else None, reason, time.time()),
            )
        if self.copy is not None and not self._db.in_transaction:
            self.copy.changed(self)

    def mark_started(self, task: Task, fingerprint: str) -> None:
        self._put(task, fingerprint, "started", task.dst, None)

    def mark_started_many(self, tasks: list[Task], fingerprint: str) -> None:
        """Mark many tasks started in one transaction (the work handed to a cluster at once)."""
        with self._writing("marking the images handed out"):
            self._db.execute("BEGIN")
            try:
                for task in tasks:
                    self.mark_started(task, fingerprint)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        if self.copy is not None:
            self.copy.changed(self)

    def mark_done(self, task: Task, fingerprint: str, output: Path, notes: list[str] | tuple[str, ...] = ()) -> None:
        """Record ``output`` finished; ``notes`` (what it lost of its input) stay with it for later reports."""
        self._put(task, fingerprint, "done", output, "\n".join(notes) or None)

    def mark_failed(self, task: Task, fingerprint: str, reason: str) -> None:
        self._put(task, fingerprint, "failed", self.output_of(self.lookup(task.rel)), reason)

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall())
