"""Find the images of an archive folder and where each output goes.

- Walks INPUT_DIR recursively; image suffixes in any letter case; everything
  else is counted as ignored, with the reason.
- OUTPUT_DIR inside INPUT_DIR is excluded from the walk; OUTPUT_DIR equal to
  INPUT_DIR, or INPUT_DIR inside OUTPUT_DIR (outputs could land on inputs), is
  refused.
- Symbolic links are not followed out of INPUT_DIR: a file link whose target
  is outside is ignored; folder links are never descended (their targets
  inside INPUT_DIR are walked at their real place).
- What systems leave beside the photos (NAS thumbnail caches, recycle bins, macOS ``._``
  companions: ``ganrt.pipelines.archive.system_files``) is ignored with its reason.
- A photo's XMP sidecar (``ganrt.pipelines.imageio.sidecar``) is ignored as a file, read with the photo, and
  part of the photo's version: editing the captions redoes the photo.
- Each task gets the output path its format asks for (the relative path
  with the suffix of ``--format``); the final names (format fallbacks,
  collisions) are decided by ``ganrt.pipelines.archive.plan``.
- A file or folder that cannot be examined (a link loop, a path longer than
  the system allows, no permission) is a failure with its reason; the rest
  of the archive is walked as usual.
"""

from __future__ import annotations

import os
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.fsutil import Confined, is_temp_name
from ganrt.pipelines.imageio import sidecar
from ganrt.pipelines.imageio.formats import READ_SUFFIXES, output_suffix
from ganrt.pipelines.archive.tasks import STATE_NAMES, Discovery, Task
from ganrt.pipelines.archive.system_files import file_reason, folder_reason


def check_roots(input_dir: Path, output_dir: Path) -> tuple[Path, Path]:
    if not input_dir.is_dir():
        raise UsageError(f"input folder not found: {input_dir}")
    src_root = input_dir.resolve()
    dst_root = output_dir.resolve()
    if dst_root == src_root:
        raise UsageError("OUTPUT_DIR is INPUT_DIR: originals are never overwritten; choose another folder")
    if src_root.is_relative_to(dst_root):
        raise UsageError("INPUT_DIR is inside OUTPUT_DIR, so outputs could land on inputs; choose another folder")
    if dst_root.exists() and not dst_root.is_dir():
        raise UsageError(f"OUTPUT_DIR {output_dir} exists and is not a folder")
    return src_root, dst_root


def _why(exc: BaseException) -> str:
    import errno

    code = getattr(exc, "errno", None)
    if code == errno.ELOOP or isinstance(exc, RuntimeError):
        return "symbolic link loop"
    if code == errno.ENAMETOOLONG:
        return "path longer than the system allows"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"cannot read: {getattr(exc, 'strerror', None) or exc}"


def discover(input_dir: Path, output_dir: Path, fmt: str = "same", name_suffix: str = "") -> Discovery:
    """The archive's images (tasks), ignored files and unreadable entries. ``name_suffix`` is added
    to every output's stem (``--suffix``)."""
    src_root, dst_root = check_roots(input_dir, output_dir)
    found = Discovery(src_root, dst_root)
    confined = Confined(dst_root)

    def rel_of(path: str) -> str:
        return Path(path).relative_to(src_root).as_posix()

    def walk_error(exc: OSError) -> None:
        found.failed.append((rel_of(exc.filename) if exc.filename else ".", _why(exc)))

    for dirpath, dirnames, filenames in os.walk(src_root, onerror=walk_error, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            full = here / d
            if full == dst_root:
                continue  # OUTPUT_DIR inside INPUT_DIR: not part of the archive
            why = folder_reason(d)
            if why:
                found.ignored.append((full.relative_to(src_root).as_posix(), why))
                continue
            try:
                link = full.is_symlink()
            except OSError as exc:
                found.failed.append((full.relative_to(src_root).as_posix(), _why(exc)))
                continue
            if link:
                found.ignored.append((full.relative_to(src_root).as_posix(), "link to a folder (not followed)"))
                continue
            keep.append(d)
        dirnames[:] = keep
        siblings = set(filenames)
        for name in sorted(filenames):
            if is_temp_name(name) or name in STATE_NAMES:
                continue
            full = here / name
            rel = full.relative_to(src_root).as_posix()
            try:
                task = _task(full, rel, src_root, dst_root, fmt, name_suffix, siblings)
            except (OSError, RuntimeError) as exc:
                found.failed.append((rel, _why(exc)))
                continue
            if isinstance(task, str):
                found.ignored.append((rel, task))
            elif not confined.holds(task.dst):
                found.failed.append((rel, "its output would land outside OUTPUT_DIR (a link to another folder "
                                          "in the way); not restored"))
            else:
                found.tasks.append(task)
    return found


def _task(full: Path, rel: str, src_root: Path, dst_root: Path, fmt: str, name_suffix: str,
          siblings: set[str]) -> Task | str:
    """The task for one file, or the reason it is ignored. OSError: it cannot be examined."""
    if full.suffix.lower() not in READ_SUFFIXES:
        photo = sidecar.owner(full.name, siblings)
        return f"XMP sidecar of {photo} (its captions go into that output)" if photo else "not an image file type"
    why = file_reason(full, full.name)
    if why:
        return why
    if full.is_symlink():
        target = full.resolve(strict=True)
        if not target.is_relative_to(src_root) or not target.is_file():
            return "link pointing outside INPUT_DIR (not followed)"
    st = full.stat()
    rel_path = Path(rel)
    dst = dst_root / rel_path.with_name(rel_path.stem + name_suffix + output_suffix(full, fmt))
    return Task(full, rel, dst, st.st_size, sidecar.version_ns(full, st.st_mtime_ns, siblings))
