"""Every path a job will write, decided before any image is processed, and checked as a whole.

One rule for single images, folders, video frames, reports and previews:

- a path is final when it is claimed: every format fallback (an image with
  alpha cannot be a JPEG: it becomes a PNG) is applied *before* the claim;
- no two things of one job claim the same path;
- no claim lands on an input (a file of INPUT, or anywhere inside an input
  folder other than the output folder);
- an existing file is only replaced when this job wrote it (``owns``) or the
  user said ``--overwrite``; a folder is never replaced.

Folder jobs turn a conflicting claim into a failure row for that input (the
rest of the archive goes on); single files, frames, reports and previews
raise ``OutputConflictError`` before anything is loaded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ganrt.errors import OutputConflictError, UsageError
from ganrt.pipelines.imageio.formats import FORMAT_SUFFIX, IMAGE_SUFFIXES, holds_alpha, output_suffix
from ganrt.pipelines.imageio.header import header_has_alpha

PREVIEW_MARK = "ganrt-preview"


def _key(path: Path) -> Path:
    """The identity of a path to be written: its real folder plus its own name (links in the folder
    part resolved, the last part not, since writing replaces a link rather than its target)."""
    path = Path(os.path.abspath(path))
    return path.parent.resolve() / path.name


class OutputPlan:
    """Claims of one job. ``inputs``: input files; ``input_root``/``output_root``: for folder jobs."""

    def __init__(self, *, inputs: tuple[Path, ...] = (), input_root: Path | None = None,
                 output_root: Path | None = None, overwrite: bool = False,
                 owns: Callable[[Path], bool] = lambda path: False, remote=None, fold_case: bool | None = None):
        self._inputs = {_key(p) for p in inputs}
        self._input_root = _key(input_root) if input_root is not None else None
        self._output_root = _key(output_root) if output_root is not None else None
        self.overwrite = overwrite
        self.owns = owns
        self.remote = remote  # a remote OUTPUT's Listing: existence under its stand-in path comes from it
        # names that differ only in letter case are one file on exFAT, NTFS and APFS (a Linux archive
        # restored onto a USB drive): IMG.JPG and img.jpg must not both claim it
        if fold_case is None:
            fold_case = output_root is not None and remote is None and ignores_case(output_root)
        self.fold_case = fold_case
        self._claimed: dict[Path, str] = {}

    def _claim_key(self, key: Path) -> Path:
        return Path(str(key).casefold()) if self.fold_case else key

    def is_input(self, path: Path) -> bool:
        key = _key(path)
        if key in self._inputs or any(os.path.exists(p) and _samefile(key, p) for p in self._inputs):
            return True
        if self._input_root is None or not key.is_relative_to(self._input_root):
            return False
        return self._output_root is None or not key.is_relative_to(self._output_root)

    def claimed_by(self, path: Path) -> str | None:
        return self._claimed.get(self._claim_key(_key(path)))

    def conflict(self, path: Path, owner: str, *, ours: Callable[[Path], bool] | None = None) -> str | None:
        """Why ``owner`` cannot write ``path``, or None: then the path is claimed for it.

        ``ours``: a check that an existing file was made by ganrt for this purpose (a report or a
        preview from an earlier run), which may then be replaced like the job's own outputs."""
        key = _key(path)
        claimed = self._claim_key(key)
        if claimed in self._claimed:
            return f"{owner} and {self._claimed[claimed]} would both be written to {path.name}"
        remote = self.remote is not None and self.remote.covers(key)
        if remote:
            path = self.remote.mirror.url_of(key)  # say where it is, not its stand-in
        if self.is_input(key):
            return f"{path} is an input (or inside the input folder); originals are never overwritten"
        if remote:
            kind = self.remote.kind(key)
            exists, folder = kind is not None, kind == "directory"
        else:
            exists = os.path.lexists(key)
            folder = exists and key.is_dir() and not key.is_symlink()
        if exists:
            if folder:
                return f"{path} is a folder, not a file"
            mine = self.owns(key) or (ours is not None and ours(key))
            if not mine and not self.overwrite:
                return f"{path} already exists and was not written by this job; use --overwrite to replace it"
        self._claimed[claimed] = owner
        return None

    def claim(self, path: Path, owner: str, *, ours: Callable[[Path], bool] | None = None) -> Path:
        """``conflict``, raising ``OutputConflictError`` instead of returning the reason."""
        problem = self.conflict(path, owner, ours=ours)
        if problem:
            raise OutputConflictError(problem)
        return path


def ignores_case(folder: Path) -> bool:
    """Whether the file system holding the existing ``folder`` takes names that differ only in letter
    case for one file (a probe file is made and removed); False where it cannot tell."""
    from ganrt.fsutil import new_temp_path

    if not Path(folder).is_dir():
        return False  # nothing made yet (a dry run): nothing will be written either
    try:
        probe = new_temp_path(Path(folder) / "case-probe")
    except OSError:
        return False
    try:
        return os.path.exists(probe.with_name(probe.name.swapcase()))
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _samefile(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --- single images ------------------------------------------------------------------------------

def single_output(src: Path, output: Path, *, fmt: str = "same", suffix: str = "") -> tuple[Path, list[str]]:
    """Where restoring the one image ``src`` writes, given the OUTPUT argument, after every fallback.

    OUTPUT may be an image file, an existing folder, or a new folder (a name with no suffix, as
    upstream's ``-o results``): then the output is ``FOLDER/<name><suffix>.<format>``."""
    notes: list[str] = []
    if output.is_dir() or (not output.exists() and not output.suffix):
        target = output / f"{src.stem}{suffix}{output_suffix(src, fmt)}"
    elif output.suffix.lower() in IMAGE_SUFFIXES:
        if suffix:
            raise UsageError("--suffix applies when OUTPUT is a folder")
        if fmt != "same" and _canonical(output.suffix) != FORMAT_SUFFIX[fmt]:
            raise UsageError(f"OUTPUT ends in {output.suffix} but --format is {fmt}; make them agree "
                             "(or give a folder as OUTPUT)")
        target = output
    else:
        raise UsageError(f"OUTPUT must be an image file ({', '.join(IMAGE_SUFFIXES)}) or a folder, not {output}")
    if not holds_alpha(target.suffix.lower()) and header_has_alpha(src):
        notes.append(f"{target.suffix} cannot hold the alpha channel; writing PNG instead")
        target = target.with_suffix(".png")
    return target, notes


def _canonical(suffix: str) -> str:
    suffix = suffix.lower()
    return {".jpeg": ".jpg", ".tiff": ".tif"}.get(suffix, suffix)


# --- reports and previews ------------------------------------------------------------------------

def carries_mark(path: Path, mark: str) -> bool:
    """Whether a PNG ganrt wrote carries ``mark`` in its first text chunks (previews, repair masks)."""
    try:
        with open(path, "rb") as fh:
            return mark.encode() in fh.read(4096)
    except OSError:
        return False


def claim_side_files(plan: OutputPlan, *, report: Path | None, preview: Path | None,
                     ours: Callable[[Path], bool]) -> None:
    """Check a job's report (.json or .csv) and preview (.png) paths against the plan, before any work. ``ours``:
    whether an existing one is this job's own, as its job state recorded it (then it is replaced as the job's
    outputs are)."""
    from ganrt.pipelines.archive import report as report_file

    for path, what, suffixes in ((report, "--report", report_file.SUFFIXES), (preview, "--preview", (".png",))):
        if path is None:
            continue
        if path.suffix.lower() not in suffixes:
            raise UsageError(f"{what} must be a {' or '.join(suffixes)} file, not {path}")
        plan.claim(path, what, ours=ours)


# --- folders ------------------------------------------------------------------------------------

def folder_outputs(discovery, state, fingerprint: str, plan: OutputPlan, *, resume: bool):
    """Final output paths for a folder job, in three passes over the plan (see the module docstring):

    1. outputs an earlier run finished with these settings keep their recorded path (skipped);
    2. inputs whose file name the output keeps as it is (``--format same``, no fallback) claim it
       (where the output's file system folds letter case, a second IMG.JPG/img.jpg takes img~2.jpg);
    3. the others (suffix changed by ``--format`` or by the alpha fallback) claim the same name if
       free, else the name with the input's suffix kept (``a.jpg.png``), else ``a.jpg~2.png`` …

    The order is fixed, so a rerun finds the same names. An output blocked by a file the job did
    not write (or by a folder, or an input) is a failure row, never silently renamed around.
    Returns (tasks to run, skipped, failures, stale, kept): stale counts outputs of earlier runs with
    other settings that sit under another name than the new one (left in place); kept holds the
    (input, note) rows recorded for the skipped ones, on what their outputs lost of them.
    """
    from dataclasses import replace

    todo, failures, pending, kept = [], [], [], []
    skipped = stale = 0
    for task in discovery.tasks:
        if resume and state.is_done(task, fingerprint):
            state.adopt(task, fingerprint)
            row = state.lookup(task.rel)
            plan.claim(state.output_of(row), task.rel)
            kept.extend((task.rel, text) for text in row.notes)
            skipped += 1
            continue
        if not holds_alpha(task.dst.suffix.lower()) and has_alpha(task):
            task = replace(task, dst=task.dst.with_suffix(".png"),
                           notes=(f"{task.dst.suffix} cannot hold the alpha channel; writing PNG instead",))
        pending.append(task)
    keeps_name = [t for t in pending if t.dst.suffix == t.src.suffix]
    renamed = [t for t in pending if t.dst.suffix != t.src.suffix]
    for keeps, task in [(True, t) for t in keeps_name] + [(False, t) for t in renamed]:
        dst = next((c for c in _candidates(task, keeps_name=keeps) if plan.claimed_by(c) is None), None)
        problem = plan.conflict(dst, task.rel) if dst is not None else "no free output name"
        if problem:
            failures.append((task.rel, problem))
            continue
        previous = state.output_of(state.lookup(task.rel))
        if previous is not None and previous != dst and state.output_time(previous) is not None:
            stale += 1
        todo.append(replace(task, dst=dst))
    return todo, skipped, failures, stale, kept


def has_alpha(task) -> bool:
    if task.src.suffix.lower() in (".jpg", ".jpeg"):
        return False  # a JPEG never decodes with alpha: no need to read its header
    if task.src_url is not None:
        from ganrt.pipelines.archive.remote import header_has_alpha as remote_has_alpha

        return remote_has_alpha(task.src_url)
    return header_has_alpha(task.src)


def _candidates(task, tries: int = 50, *, keeps_name: bool = False) -> Iterator[Path]:
    """The names an output may take, in order (made as they are asked for: almost always the first is
    free). One that keeps its input's name has rivals only where letter case is folded (IMG.JPG and
    img.jpg): the later one becomes img~2.jpg."""
    dst = task.dst
    yield dst
    kept = dst.stem if keeps_name else dst.stem + task.src.suffix  # "a" (+ --suffix) + ".jpg"
    if not keeps_name:
        yield dst.with_name(kept + dst.suffix)
    for k in range(2, tries):
        yield dst.with_name(f"{kept}~{k}{dst.suffix}")
