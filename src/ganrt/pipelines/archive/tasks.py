"""What a folder job is made of: one task per image (where it comes from, where its output goes, its version),
and the walk's findings (tasks, ignored files, entries that could not be examined)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganrt.pipelines.archive.urls import Mirror


STATE_NAMES = (".ganrt-state.sqlite", ".ganrt-state.sqlite-wal", ".ganrt-state.sqlite-shm", ".ganrt-state.lock")


@dataclass(frozen=True)
class Task:
    src: Path
    rel: str  # relative input path, posix separators: the job-state key
    dst: Path
    size: int
    mtime_ns: int
    notes: tuple[str, ...] = ()  # why the output differs from what was asked (format fallbacks)
    src_url: str | None = None  # an input read through fsspec (src is then its stand-in path)
    dst_mirror: Mirror | None = None  # an OUTPUT given as a URL (dst is then a stand-in path)
    sidecar_url: str | None = None  # a remote input's XMP sidecar, fetched beside it
    src_time_ns: int | None = None  # a remote input's modification time: its fetched copy (and output) dated so
    inputs: tuple[Path, ...] = ()  # other files the output is made from (repair's mask), part of its version


@dataclass
class Discovery:
    src_root: Path
    dst_root: Path
    tasks: list[Task] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # entries that could not be examined
