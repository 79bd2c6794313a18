"""A training run's folder: ganrt's proof that it made it, one command at a time in it, and what
``--overwrite`` may delete.

- ``.ganrt-run`` (the marker) is written when ganrt makes a run: a small JSON that says so. A folder that
  merely holds a ``config.toml`` (a website, a project) is not a run, and nothing in it is deleted.
- ``.ganrt-run.lock`` is held (``flock``) by the one command training in the folder; a second one is
  refused instead of mixing its checkpoints and metrics into the first one's.
- ``--overwrite`` deletes only what a run's layout names (config, checkpoints, samples, metrics, curves,
  exported generators, the marker), in a marked folder; anything else the user put there stays.
- ``--data`` (and the other folders and files a run reads) inside ``--run``, or ``--run`` inside a data
  folder, is refused before anything is touched: deleting the run would delete the photos, and the run's
  samples would become training photos.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.fsutil import atomic_write_bytes, is_temp_name, stays_inside

log = logging.getLogger(__name__)

MARKER = ".ganrt-run"
LOCK = ".ganrt-run.lock"
MARK = "ganrt-training-run"
PATH_SETTINGS = ("data", "lr_data", "val_data", "perceptual_weights", "init")
FOLDER_SETTINGS = ("data", "lr_data", "val_data")  # read recursively: a run inside one would be read too

# the layout a run's folder may hold, as ganrt writes it (see ganrt.train.trainer)
_TOP = re.compile(r"config\.toml|metrics\.jsonl|losses\.png|generator(-best)?\.safetensors")
_PARTS = {"checkpoints": re.compile(r"step-\d+\.pt"), "samples": re.compile(r"step-\d+\.png|latest\.png")}


def is_marked(run: Path) -> bool:
    """Whether ganrt made the folder ``run`` as a training run (its marker says so)."""
    try:
        with open(run / MARKER, "rb") as fh:
            return json.loads(fh.read(4096)).get("ganrt") == MARK
    except (OSError, ValueError, AttributeError):
        return False


def mark(run: Path, recipe: str) -> None:
    atomic_write_bytes(run / MARKER, json.dumps({"ganrt": MARK, "recipe": recipe, "made": round(time.time())}).encode())


def holds_user_files(run: Path) -> bool:
    """Whether ``run`` exists and holds anything but ganrt's lock file."""
    try:
        return any(entry.name != LOCK for entry in os.scandir(run))
    except (FileNotFoundError, NotADirectoryError):
        return False


def check_paths(run: Path, settings: dict) -> None:
    """Refuse a file or folder the run reads that lies inside ``run``, or a data folder holding ``run``."""
    for key in PATH_SETTINGS:
        value = settings.get(key)
        if not value or key == "data" and value == "digits":
            continue
        path = Path(str(value)).expanduser()
        if not path.exists():
            continue
        flag = f"--{key.replace('_', '-')}"
        if stays_inside(run, path):
            raise UsageError(f"{flag} {value} is inside --run {run}: a new or overwritten run would delete it; "
                             "keep training data outside the run folder")
        if key in FOLDER_SETTINGS and path.is_dir() and stays_inside(path, run):
            raise UsageError(f"--run {run} is inside {flag} {value}: the run's samples would be read as training "
                             "photos; choose a run folder outside it")


@contextlib.contextmanager
def locked(run: Path) -> Iterator[None]:
    """Hold the run folder for this command (made if needed); refuse while another command holds it."""
    run.mkdir(parents=True, exist_ok=True)
    fh = open(run / LOCK, "a")  # noqa: SIM115 - held for the command
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise UsageError(f"another ganrt train is using {run}; wait for it to finish, or choose another --run") \
            from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def made_by_ganrt(run: Path) -> list[Path]:
    """The files of ``run``'s layout that are there (a run's own files, never anything else)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(run):
            if entry.is_file(follow_symlinks=False) and (_TOP.fullmatch(entry.name) or is_temp_name(entry.name)):
                found.append(Path(entry.path))
    for part, names in _PARTS.items():
        with contextlib.suppress(OSError):
            folder = run / part
            if folder.is_symlink():
                continue
            for entry in os.scandir(folder):
                if entry.is_file(follow_symlinks=False) and (names.fullmatch(entry.name) or is_temp_name(entry.name)):
                    found.append(Path(entry.path))
    return found


def clear(run: Path, *, keep_marker: bool = True) -> int:
    """Delete a marked run's own files (and its empty sub-folders); returns how many user files stay."""
    for path in made_by_ganrt(run):
        path.unlink(missing_ok=True)
    for part in _PARTS:
        with contextlib.suppress(OSError):
            (run / part).rmdir()  # only when empty: a user's file in it keeps it
    if not keep_marker:
        (run / MARKER).unlink(missing_ok=True)
    kept = [e.name for e in os.scandir(run) if e.name not in (MARKER, LOCK)]
    if kept:
        log.warning("%s: kept %d entr%s ganrt did not make (%s)", run, len(kept), "y" if len(kept) == 1 else "ies",
                    ", ".join(sorted(kept)[:5]))
    return len(kept)


def tidy_if_empty(run: Path, *, made: bool) -> None:
    """Where nothing but ganrt's lock is left in ``run`` (a new run that failed before training), remove the lock,
    and the folder too when this command ``made`` it: the user's own empty folder stays, empty."""
    with contextlib.suppress(OSError):
        if not holds_user_files(run):
            (run / LOCK).unlink(missing_ok=True)
            if made:
                run.rmdir()
