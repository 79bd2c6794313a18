"""Find the images of an archive folder and where each output goes.

- Walks INPUT_DIR recursively; image suffixes in any letter case; everything
  else is counted as ignored, with the reason.
- OUTPUT_DIR inside INPUT_DIR is excluded from the walk; OUTPUT_DIR equal to
  INPUT_DIR, or INPUT_DIR inside OUTPUT_DIR (outputs could land on inputs), is
  refused.
- Symbolic links are not followed out of INPUT_DIR: a file link whose target
  is outside is ignored; folder links are never descended (their targets
  inside INPUT_DIR are walked at their real place).
- Outputs mirror the relative path, with the suffix of the output format;
  when two inputs would share an output name (``a.jpg`` and ``a.png`` to
  PNG), the ones whose suffix changes keep it in the name (``a.jpg.png``).
  No output path can leave OUTPUT_DIR.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.fsutil import is_temp_name
from ganrt.pipelines.image_io import IMAGE_SUFFIXES, output_suffix

STATE_NAMES = (".ganrt-state.sqlite", ".ganrt-state.sqlite-wal", ".ganrt-state.sqlite-shm", ".ganrt-state.lock")


@dataclass(frozen=True)
class Task:
    src: Path
    rel: str  # relative input path, posix separators: the job-state key
    dst: Path
    size: int
    mtime_ns: int


@dataclass
class Discovery:
    tasks: list[Task] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def check_roots(input_dir: Path, output_dir: Path) -> tuple[Path, Path]:
    if not input_dir.is_dir():
        raise UsageError(f"input folder not found: {input_dir}")
    src_root = input_dir.resolve()
    dst_root = output_dir.resolve()
    if dst_root == src_root:
        raise UsageError("OUTPUT_DIR is INPUT_DIR: originals are never overwritten; choose another folder")
    if _inside(src_root, dst_root):
        raise UsageError("INPUT_DIR is inside OUTPUT_DIR, so outputs could land on inputs; choose another folder")
    if dst_root.exists() and not dst_root.is_dir():
        raise UsageError(f"OUTPUT_DIR {output_dir} exists and is not a folder")
    return src_root, dst_root


def discover(input_dir: Path, output_dir: Path, fmt: str = "same") -> Discovery:
    src_root, dst_root = check_roots(input_dir, output_dir)
    found = Discovery()
    for dirpath, dirnames, filenames in os.walk(src_root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            full = here / d
            if full == dst_root:
                continue  # OUTPUT_DIR inside INPUT_DIR: not part of the archive
            if full.is_symlink():
                found.ignored.append((full.relative_to(src_root).as_posix(), "link to a folder (not followed)"))
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(src_root).as_posix()
            if is_temp_name(name) or name in STATE_NAMES:
                continue
            if full.suffix.lower() not in IMAGE_SUFFIXES:
                found.ignored.append((rel, "not an image file type"))
                continue
            if full.is_symlink():
                target = full.resolve()
                if not _inside(target, src_root) or not target.is_file():
                    found.ignored.append((rel, "link pointing outside INPUT_DIR (not followed)"))
                    continue
            try:
                st = full.stat()
            except OSError as exc:
                found.ignored.append((rel, f"cannot stat: {exc.strerror}"))
                continue
            dst = dst_root / Path(rel).with_suffix(output_suffix(full, fmt))
            found.tasks.append(Task(full, rel, dst, st.st_size, st.st_mtime_ns))
    found.tasks = _untangle(found.tasks, dst_root)
    return found


def _untangle(tasks: list[Task], dst_root: Path) -> list[Task]:
    by_dst: dict[Path, list[Task]] = defaultdict(list)
    for t in tasks:
        by_dst[t.dst].append(t)
    out = []
    for t in tasks:
        dst = t.dst
        if len(by_dst[t.dst]) > 1 and t.src.suffix.lower() != t.dst.suffix.lower():
            dst = t.dst.with_name(t.src.name + t.dst.suffix)
        if not _inside(dst.resolve(), dst_root):
            raise UsageError(f"output for {t.rel} would leave OUTPUT_DIR")
        out.append(Task(t.src, t.rel, dst, t.size, t.mtime_ns))
    return out
