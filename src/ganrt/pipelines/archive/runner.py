"""Restore a folder of images: resumable, overlapping read / infer / write, never losing work.

The main thread runs the engine; a pool of reader threads decodes the next
images while it works, and a pool of writer threads finishes and encodes the
previous ones, so decoding, inference and encoding overlap. In-flight work is
bounded (by count and by output bytes) so memory follows the images in
flight, not the archive. Every outcome is recorded in the job state
(``ganrt.pipelines.archive.state``) by the main thread as soon as it is known.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ganrt.errors import GanrtError, ResourceError
from ganrt.pipelines.archive.tasks import Discovery, Task
from ganrt.pipelines.archive.state import JobState
from ganrt.pipelines.notes import gathered, note
from ganrt.pipelines.archive.plan import OutputPlan, folder_outputs
from ganrt.pipelines.restore import (Prepared, RestoreSettings, check_output_size, finish_and_write, infer_pages,
                                     read_stage)

log = logging.getLogger(__name__)

WRITE_BUDGET_BYTES = 768 << 20  # restored pixels waiting for their writer


@dataclass
class ArchiveResult:
    restored: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (input, what its output lost of it)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    megapixels: float = 0.0
    interrupted: bool = False
    written: list[tuple[Path, Path]] = field(default_factory=list)  # (input, output) of this run
    fallbacks: int = 0
    stale: int = 0  # outputs of earlier runs with other settings, left beside the new ones
    signal_code: int = 0  # the exit code of the signal that interrupted the run

    @property
    def images_per_s(self) -> float:
        return self.restored / self.seconds if self.seconds > 0 else 0.0

    @property
    def megapixels_per_s(self) -> float:
        return self.megapixels / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict:
        return {
            "restored": self.restored,
            "skipped_done": self.skipped,
            "failed": len(self.failed),
            "restored_with_warnings": len({path for path, _ in self.warnings}),
            "ignored": len(self.ignored),
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 4),
            "megapixels_per_s": round(self.megapixels_per_s, 4),
            "interrupted": self.interrupted,
            "fp32_fallback_tiles": self.fallbacks,
        }

    def report(self, settings: dict) -> dict:
        from ganrt.pipelines.archive.report import MARK

        def shown(text: str) -> str:  # JSON has no place for file-name bytes that are not UTF-8
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

        return {
            "generator": MARK,
            **self.summary(),
            "settings": settings,
            "failures": [{"path": shown(p), "reason": shown(r)} for p, r in self.failed],
            "warnings": [{"path": shown(p), "note": shown(n)} for p, n in self.warnings],
            "ignored_files": [{"path": shown(p), "reason": r} for p, r in self.ignored],
        }


def plan(discovery: Discovery, state: JobState, fingerprint: str, *, resume: bool, overwrite: bool,
         result: ArchiveResult) -> tuple[list[Task], OutputPlan]:
    """Which tasks to run, with their final output paths, and the plan that holds them.

    Done ones are skipped without decoding (what their outputs lost, as the job state recorded it, goes
    into the report again); an output that would replace a file the job did not write is a failure row;
    entries the walk could not examine are failure rows too."""
    result.ignored = sorted(discovery.ignored)  # one order whether the folder was walked or listed
    result.failed.extend(discovery.failed)
    outputs = OutputPlan(input_root=discovery.src_root, output_root=discovery.dst_root, overwrite=overwrite,
                         owns=state.owns, remote=state.remote)
    todo, result.skipped, failures, result.stale, kept = folder_outputs(discovery, state, fingerprint, outputs,
                                                                        resume=resume)
    result.failed.extend(failures)
    result.warnings.extend(kept)
    return todo, outputs


class Recorder:
    """The one place an image's outcome is recorded: in the job state, which a rerun trusts, and in the run's
    result, which the report and summary show (``ArchiveRunner`` and the Ray runner both record through it)."""

    def __init__(self, state: JobState, fingerprint: str, result: ArchiveResult,
                 absorb: Callable[[Task, dict], None]):
        self.state, self.fingerprint, self.result, self.absorb = state, fingerprint, result, absorb

    def done(self, task: Task, out: Path, notes: list[str], megapixels: float, stats: dict) -> None:
        self.state.mark_done(task, self.fingerprint, out, notes)
        self.result.warnings.extend((task.rel, text) for text in notes)
        self.absorb(task, stats)
        self.result.restored += 1
        self.result.megapixels += megapixels
        self.result.written.append((task.src, out))

    def failed(self, task: Task, reason: str) -> None:
        self.state.mark_failed(task, self.fingerprint, reason)
        self.result.failed.append((task.rel, reason))


def _nbytes(restored) -> int:
    """The memory what ``_infer`` made holds: an array, or a tuple of them (the pages of a TIFF)."""
    return sum(a.nbytes for a in restored) if isinstance(restored, tuple) else restored.nbytes


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GanrtError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory (use a smaller --tile)"
    text = str(exc).strip().splitlines()
    return f"unexpected {type(exc).__name__}: {text[0][:200] if text else ''}".strip()


class ArchiveRunner:
    def __init__(self, engine, settings: RestoreSettings, state: JobState, fingerprint: str, *, jobs: int = 2,
                 on_progress: Callable[[ArchiveResult, int], None] | None = None):
        self.engine = engine
        self.settings = settings
        self.state = state
        self.fingerprint = fingerprint
        self.jobs = max(1, jobs)
        self.on_progress = on_progress or (lambda result, done: None)
        self.fixed_scale: int | None = None  # the engine's scale, for stages run where no engine is (Ray tasks)

    @property
    def scale(self) -> int:
        if self.fixed_scale is not None:
            return self.fixed_scale
        return self.engine.scale if self.engine is not None else 1

    # stages run in the pools ---------------------------------------------------------
    def _read(self, task: Task) -> Prepared:
        return read_stage(task.src, self.settings, into=task.dst)

    def _infer(self, prepared: Prepared):
        """What the engine made of the image: opaque to the loop, which only weighs it (``_nbytes``) and hands
        it to ``_write``; here, one array per page."""
        return infer_pages(self.engine, prepared, self.settings)

    def infer_task(self, task: Task, prepared: Prepared):
        """The infer stage, after checking that the output's format can hold what it will make."""
        check_output_size(task.dst, prepared, self.settings, self.scale)
        return self._infer(prepared)

    def _write(self, task: Task, prepared: Prepared, restored) -> Path:
        return finish_and_write(task.dst, restored, prepared, self.settings, self.scale, task.rel)

    # what the loops call: the stages, with a remote input fetched and a remote output uploaded, and the
    # notes on what the output loses of its input (``notes``) gathered for the image's report rows
    def read_task(self, task: Task) -> Prepared:
        with gathered() as found:
            if task.src_url is None:
                prepared = self._read(task)
            else:
                from ganrt.pipelines.archive.remote import fetched

                with fetched(task) as local:
                    prepared = self._read(local)
        prepared.notes = tuple(found)
        return prepared

    def write_task(self, task: Task, prepared: Prepared, restored) -> tuple[Path, list[str]]:
        """Write the image; returns its output and every note on what the output lost of its input."""
        with gathered() as found:
            for text in task.notes:  # the plan's (an alpha channel moved the output to PNG)
                note(task.rel, text)
            if task.dst_mirror is None:
                out = self._write(task, prepared, restored)
            else:
                from ganrt.pipelines.archive.remote import uploading

                with uploading(task) as local:
                    self._write(local, prepared, restored)
                out = task.dst
        return out, [*prepared.notes, *found]

    def row_stats(self, prepared: Prepared) -> dict:
        """What the driver gathers of an image besides its output (a subclass's report figures)."""
        return {}

    def absorb(self, task: Task, stats: dict) -> None:
        """Gather the :meth:`row_stats` of a finished image (on the driver, where the report is made)."""

    # the loop ---------------------------------------------------------------------------
    def run(self, tasks: list[Task], result: ArchiveResult) -> ArchiveResult:
        start = time.perf_counter()
        reads: deque[tuple[Task, Future]] = deque()
        writes: deque[tuple[Task, Prepared, Future, int]] = deque()
        pending_bytes = 0
        queue = deque(tasks)
        done = 0
        readers = ThreadPoolExecutor(self.jobs, thread_name_prefix="ganrt-read")
        writers = ThreadPoolExecutor(self.jobs, thread_name_prefix="ganrt-write")
        record = Recorder(self.state, self.fingerprint, result, self.absorb)

        def top_up_reads() -> None:
            while queue and len(reads) < self.jobs + 1:
                task = queue.popleft()
                reads.append((task, readers.submit(self.read_task, task)))

        def record_head() -> None:
            nonlocal pending_bytes, done
            task, prepared, fut, nbytes = writes.popleft()
            pending_bytes -= nbytes
            try:
                out, notes = fut.result()
            except ResourceError as exc:  # disk full, read-only folder: every next image would fail too
                record.failed(task, _reason(exc))
                raise
            except Exception as exc:  # noqa: BLE001 - one bad image never stops the archive
                record.failed(task, _reason(exc))
            else:
                record.done(task, out, notes, prepared.megapixels, self.row_stats(prepared))
            done += 1
            result.seconds = time.perf_counter() - start
            self.on_progress(result, done)

        def settle(*, drain: bool = False) -> None:
            """Record finished writes; wait while too much is in flight (or for all, when draining)."""
            while writes and (drain or writes[0][2].done() or len(writes) > self.jobs
                              or pending_bytes > WRITE_BUDGET_BYTES):
                record_head()

        try:
            top_up_reads()
            while reads:
                task, fut = reads.popleft()
                top_up_reads()
                try:
                    prepared = fut.result()
                    self.state.mark_started(task, self.fingerprint)
                    restored = self.infer_task(task, prepared)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001
                    record.failed(task, _reason(exc))
                    done += 1
                    result.seconds = time.perf_counter() - start
                    self.on_progress(result, done)
                    continue
                nbytes = _nbytes(restored)
                writes.append((task, prepared, writers.submit(self.write_task, task, prepared, restored), nbytes))
                pending_bytes += nbytes
                del restored
                settle()
        except KeyboardInterrupt as exc:
            from ganrt import signals

            result.interrupted = True
            result.signal_code = signals.exit_code_for(exc)
            log.warning("%s: finishing the images in flight, then stopping", signals.describe(exc))
        finally:
            readers.shutdown(wait=True, cancel_futures=True)
            try:
                settle(drain=True)
            finally:
                writers.shutdown(wait=True)
            result.seconds = time.perf_counter() - start
            result.fallbacks = getattr(self.engine, "fallbacks", 0)
        return result
