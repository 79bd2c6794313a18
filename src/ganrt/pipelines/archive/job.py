"""A folder job, from the command's options to its outcome: one home for what ``restore`` and ``repair`` share.

    open the folders (walk, job state) → the work (models resolved) → plan (resume, names, overwrite rules,
    side files) → run here or on a cluster → report → preview → outcome

A command builds frozen ``FolderOptions`` and says how to make its ``Work`` (its fingerprint, stages, tools,
the outputs it adds, its report figures and preview) from the walk's ``Discovery``, and asks
``ArchiveJob.run()`` once; the CLI shows the ``Outcome``. The work is made after the folders are walked, so a
wrong folder is refused before any model is loaded. A cluster runner (Ray) is injected by the command, never imported here; nothing here knows the
backend.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager, Protocol

from ganrt.errors import GanrtError, ResourceError, UsageError
from ganrt.pipelines.archive.runner import ArchiveResult, ArchiveRunner, plan

if TYPE_CHECKING:
    from ganrt.pipelines.archive.plan import OutputPlan
    from ganrt.pipelines.archive.state import JobState
    from ganrt.pipelines.archive.tasks import Discovery, Task

log = logging.getLogger(__name__)

OnProgress = Callable[[ArchiveResult, int], None]


@dataclass(frozen=True)
class FolderOptions:
    """What a folder job was asked, as the command parsed it."""

    src: Path | str  # a folder, or an fsspec URL
    dst: Path | str
    command: str  # "restore" or "repair": an OUTPUT holds one command's outputs
    fmt: str = "same"
    suffix: str = ""
    overwrite: bool = False
    resume: bool = True
    jobs: int = 2
    report: Path | None = None
    preview: Path | None = None
    dry_run: bool = False


class Work(Protocol):
    """What a command adds to a folder job."""

    device: str  # where its engines run ("cpu", "cuda:0"): a cluster gives CUDA work one actor per GPU

    def prepare(self, discovery: Discovery) -> None:
        """Complete the walk's tasks with what the command reads beside each image (in their version, so a change
        redoes the image); an image that cannot be done moves to ``discovery.failed``."""

    def fingerprint(self) -> dict:
        """The resolved settings that change an output: a rerun redoes an image when any of them changes."""

    def describe(self) -> str:
        """What does the work, for the summary's title."""

    def open_local(self) -> ContextManager:
        """The tools (engines, fillers), opened in this process."""

    def recipe_for(self, threads: int | None) -> Callable:
        """A picklable callable that opens the same tools in a cluster's worker."""

    def make_runner(self, tools, *, state: JobState | None, fingerprint: str, jobs: int = 2,
                    on_progress: OnProgress | None = None) -> ArchiveRunner:
        """The runner of the command's stages over ``tools`` (None: the stages that need none)."""

    def claim_outputs(self, plan: OutputPlan, todo: list[Task], result: ArchiveResult) -> list[Task]:
        """Claim what the command writes beside each output; an image whose extra output cannot be written
        becomes a failure row. Returns the tasks that stay."""

    def report_details(self, runner: ArchiveRunner | None) -> dict:
        """What the report says besides the fingerprint (the backend, what was found)."""

    def write_preview(self, result: ArchiveResult, runner: ArchiveRunner | None, path: Path) -> None:
        """The contact sheet of this run's outputs."""


Cluster = Callable[[Work, list, ArchiveResult, "JobState", str, OnProgress], ArchiveRunner]


@dataclass
class Outcome:
    """What a folder job did: its result, what it planned, and the runner that gathered its figures."""

    result: ArchiveResult
    discovery: Discovery
    todo: list[Task] = field(default_factory=list)
    runner: ArchiveRunner | None = None
    title: str = ""
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return 0
        if self.result.interrupted:
            return self.result.signal_code
        return 1 if self.result.failed else 0


def _silent(total: int) -> ContextManager[OnProgress]:
    return contextlib.nullcontext(lambda result, done: None)


class ArchiveJob:
    """``ArchiveJob(options, make_work).run()``: see the module docstring. ``progress(total)`` is a context
    manager giving the progress callback (the CLI's bar); ``cluster`` runs the planned images elsewhere."""

    def __init__(self, options: FolderOptions, make_work: Callable[[Discovery], Work], *,
                 progress: Callable[[int], ContextManager[OnProgress]] = _silent, cluster: Cluster | None = None):
        self.options = options
        self.make_work = make_work
        self.progress = progress
        self.cluster = cluster

    def run(self) -> Outcome:
        from ganrt.fsutil import remove_stale_temps
        from ganrt.pipelines.archive.folders import open_folders
        from ganrt.pipelines.archive.keys import settings_fingerprint

        opts = self.options
        discovery, open_state = open_folders(opts.src, opts.dst, fmt=opts.fmt, suffix=opts.suffix,
                                             overwrite=opts.overwrite, command=opts.command)
        if not discovery.tasks and not discovery.failed:
            raise UsageError(f"no images found in {opts.src} ({len(discovery.ignored)} other file(s) ignored)")
        work = self.make_work(discovery)
        work.prepare(discovery)
        settings = work.fingerprint()
        fingerprint = settings_fingerprint(settings)
        outcome = Outcome(ArchiveResult(), discovery, title=work.describe(), dry_run=opts.dry_run)
        with open_state(readonly=opts.dry_run) as state:
            if not opts.dry_run:
                remove_stale_temps(discovery.dst_root, recursive=True)
            outcome.todo = self._plan(work, state, discovery, fingerprint, outcome.result)
            if opts.dry_run:
                return outcome
            if outcome.result.stale:
                log.warning("%d output(s) of an earlier run with other settings stay beside the new ones "
                            "(not deleted)", outcome.result.stale)
            try:
                if outcome.todo:  # the engines are only opened when there is work for them
                    outcome.runner = self._run(work, outcome.todo, outcome.result, state, fingerprint)
            except ResourceError as exc:  # a full disk: what was done is kept, and the report says what
                raise ResourceError(f"{exc}{self._report_after_failure(work, outcome, settings, state)}") from None
            self._finish(work, outcome, settings, state)
        return outcome

    def _finish(self, work: Work, outcome: Outcome, settings: dict, state: JobState) -> None:
        """Write the report and the preview, each recorded in the job state as this job's own."""
        opts = self.options
        if opts.report:
            from ganrt.pipelines.archive import report

            report.write(opts.report, outcome.result.report({**settings, **work.report_details(outcome.runner)}))
            state.record_side_file(opts.report)
        if opts.preview and outcome.result.written:
            work.write_preview(outcome.result, outcome.runner, opts.preview)
            state.record_side_file(opts.preview)

    def _report_after_failure(self, work: Work, outcome: Outcome, settings: dict, state: JobState) -> str:
        """The report written anyway after a storage failure, or why it could not be: words for the error line."""
        if not self.options.report:
            return ""
        try:
            self._finish(work, outcome, settings, state)
        except (OSError, GanrtError) as exc:
            return f"; the report could not be written either ({exc})"
        return f"; what was done and what failed is in the report {self.options.report}"

    def _plan(self, work: Work, state: JobState, discovery: Discovery, fingerprint: str,
              result: ArchiveResult) -> list[Task]:
        """The images to run, with their final outputs; the report, preview and extra outputs claimed."""
        from ganrt.pipelines.archive.plan import claim_side_files

        opts = self.options
        todo, outputs = plan(discovery, state, fingerprint, resume=opts.resume, overwrite=opts.overwrite,
                             result=result)
        claim_side_files(outputs, report=opts.report, preview=opts.preview,  # before any image is processed
                         ours=state.wrote_side_file)
        return work.claim_outputs(outputs, todo, result)

    def _run(self, work: Work, todo: list[Task], result: ArchiveResult, state: JobState,
             fingerprint: str) -> ArchiveRunner:
        with self.progress(len(todo)) as on_progress:
            if self.cluster is not None:
                return self.cluster(work, todo, result, state, fingerprint, on_progress)
            with work.open_local() as tools:
                runner = work.make_runner(tools, state=state, fingerprint=fingerprint, jobs=self.options.jobs,
                                          on_progress=on_progress)
                runner.run(todo, result)
            return runner


@contextlib.contextmanager
def no_tools() -> Iterator[None]:
    yield None
