"""An archive job on Ray Data: the same plan, stages, job state and reports, on many workers.

The driver plans exactly as a single-process run does (``archive.plan``: job
state, resume, naming, overwrite rules), marks the planned images *started*
in one transaction, and hands them to a Ray Data pipeline of the runner's own
stages:

    read (Ray tasks) → infer (an actor pool: one engine per actor) → finish and write (Ray tasks)

Outputs are written by the workers, atomically and under the planned names;
the driver records each outcome in the job state as results stream back. A
worker that dies has its rows retried (Ray Data restarts actors and retries
their work); a driver that dies leaves outputs written but not recorded, which
the next run adopts (``JobState.is_done``: an output that appeared after its
image was marked started is complete work of this job), so a rerun redoes
nothing finished and writes each image once.

Nothing here knows the backend: the engine comes from ``open_engine`` (a
picklable callable the command gives) and the stages from ``make_runner``
(``ArchiveRunner`` or a subclass, built in each worker).
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ganrt.errors import ResourceError
from ganrt.pipelines.archive.runner import ArchiveResult, Recorder, _reason
from ganrt.pipelines.ray.cluster import ActorPlan, connected, plan_actors

log = logging.getLogger(__name__)

MAX_BLOCKS = 4096  # read tasks the file list is cut into (streaming starts with the first)


def _error_row(i, exc: BaseException) -> dict:
    return {"i": np.array([i]), "payload": np.array([b""], dtype=object),
            "error": np.array([_reason(exc).encode("utf-8", "surrogateescape")], dtype=object),
            "fatal": np.array([isinstance(exc, ResourceError)])}


def _row(i, payload: bytes, **extra) -> dict:
    row = {"i": np.array([i]), "payload": np.array([payload], dtype=object),
           "error": np.array([b""], dtype=object), "fatal": np.array([False])}
    row.update({k: np.array([v], dtype=object if isinstance(v, bytes) else None) for k, v in extra.items()})
    return row


def _failed_upstream(batch) -> bool:
    """Whether a row failed upstream (it then travels on untouched to the driver)."""
    return bool(batch["error"][0])


def read_batch(batch: dict, make_runner: Callable) -> dict:
    i = int(batch["i"][0])
    task = pickle.loads(batch["payload"][0])
    try:
        prepared = make_runner(None).read_task(task)
    except Exception as exc:  # noqa: BLE001 - a report row, as in a single-process run
        return _error_row(i, exc)
    return _row(i, pickle.dumps((task, prepared), protocol=5))


class EngineActor:
    """One engine, opened once per actor, running the runner's infer stage row by row."""

    def __init__(self, make_runner: Callable, open_engine: Callable, per_node: int = 1):
        from ganrt.runtime.memory import share_memory_among

        share_memory_among(per_node)  # the other actors on this node hold photos too
        self.engine = open_engine()
        self.runner = make_runner(self.engine)

    def __call__(self, batch: dict) -> dict:
        if _failed_upstream(batch):
            return batch
        i = int(batch["i"][0])
        task, prepared = pickle.loads(batch["payload"][0])
        before = getattr(self.engine, "fallbacks", 0)
        try:
            restored = self.runner.infer_task(task, prepared)
        except Exception as exc:  # noqa: BLE001
            return _error_row(i, exc)
        payload = pickle.dumps((task, prepared, restored, self.runner.scale, self.runner.row_stats(prepared)),
                               protocol=5)
        return _row(i, payload, fallbacks=getattr(self.engine, "fallbacks", 0) - before)


def write_batch(batch: dict, make_runner: Callable) -> dict:
    if _failed_upstream(batch):
        return {k: batch[k] for k in ("i", "error", "fatal")} | {
            "output": np.array([b""], dtype=object), "megapixels": np.array([0.0]),
            "fallbacks": np.array([0]), "stats": np.array([b""], dtype=object)}
    i = int(batch["i"][0])
    task, prepared, restored, scale, stats = pickle.loads(batch["payload"][0])
    runner = make_runner(None)
    runner.fixed_scale = scale
    try:
        out, notes = runner.write_task(task, prepared, restored)
    except Exception as exc:  # noqa: BLE001
        row = _error_row(i, exc)
        del row["payload"]
        return row | {"output": np.array([b""], dtype=object), "megapixels": np.array([0.0]),
                      "fallbacks": batch["fallbacks"], "stats": np.array([b""], dtype=object)}
    return {"i": batch["i"], "error": np.array([b""], dtype=object), "fatal": np.array([False]),
            "output": np.array([os.fsencode(out)], dtype=object), "megapixels": np.array([prepared.megapixels]),
            "fallbacks": batch["fallbacks"], "stats": np.array([pickle.dumps((stats, notes))], dtype=object)}


class RayArchiveRunner:
    """Runs planned tasks on Ray Data and records them in the job state (see the module docstring)."""

    def __init__(self, ray, make_runner: Callable, open_engine: Callable, actors: ActorPlan, state,
                 fingerprint: str, *, on_progress: Callable[[ArchiveResult, int], None] | None = None):
        self.ray = ray
        self.make_runner = make_runner
        self.open_engine = open_engine
        self.actors = actors
        self.state = state
        self.fingerprint = fingerprint
        self.on_progress = on_progress or (lambda result, done: None)
        self.local = make_runner(None)  # the driver's copy of the stages: it gathers their statistics

    def dataset(self, tasks: list):
        import ray.data

        rows = [{"i": i, "payload": pickle.dumps(task)} for i, task in enumerate(tasks)]
        a = self.actors
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
        ds = ds.map_batches(read_batch, fn_kwargs={"make_runner": self.make_runner}, batch_size=1,
                            num_cpus=a.task_cpus)
        ds = ds.map_batches(EngineActor, fn_constructor_kwargs={"make_runner": self.make_runner,
                                                                "open_engine": self.open_engine,
                                                                "per_node": a.per_node},
                            compute=ray.data.ActorPoolStrategy(size=a.actors), batch_size=1,
                            num_cpus=a.num_cpus, num_gpus=a.num_gpus)
        return ds.map_batches(write_batch, fn_kwargs={"make_runner": self.make_runner}, batch_size=1,
                              num_cpus=a.task_cpus)

    def run(self, tasks: list, result: ArchiveResult) -> ArchiveResult:
        start = time.perf_counter()
        self.state.mark_started_many(tasks, self.fingerprint)
        first_failure = len(result.failed)
        failed_at: dict[str, int] = {}
        record = Recorder(self.state, self.fingerprint, result, self.local.absorb)
        done = 0
        try:
            for row in self.dataset(tasks).iter_rows():
                i = int(row["i"])
                task = tasks[i]
                if row["error"]:
                    reason = bytes(row["error"]).decode("utf-8", "surrogateescape")
                    record.failed(task, reason)
                    failed_at[task.rel] = i
                    if row["fatal"]:  # disk full, read-only folder: every next image would fail too
                        raise ResourceError(reason)
                else:
                    stats, notes = pickle.loads(bytes(row["stats"]))
                    record.done(task, Path(os.fsdecode(bytes(row["output"]))), notes, float(row["megapixels"]), stats)
                result.fallbacks += int(row["fallbacks"] or 0)
                done += 1
                result.seconds = time.perf_counter() - start
                self.on_progress(result, done)
        except KeyboardInterrupt as exc:
            from ganrt import signals

            result.interrupted = True
            result.signal_code = signals.exit_code_for(exc)
            log.warning("%s: stopping; outputs already written are kept and adopted by the next run",
                        signals.describe(exc))
        finally:
            run_failures = sorted(result.failed[first_failure:], key=lambda f: failed_at.get(f[0], -1))
            result.failed[first_failure:] = run_failures  # in plan order, as a single-process run lists them
            result.seconds = time.perf_counter() - start
        return result


def on_ray(address: str | None, actors_wanted: int | None):
    """A folder job's cluster runner (``ArchiveJob(cluster=…)``): the planned images on Ray at ``address`` (None:
    a local Ray for this run), ``actors_wanted`` engine actors (None: one per GPU, or one per two CPU cores)."""
    from functools import partial

    def run(work, todo: list, result: ArchiveResult, state, fingerprint: str, on_progress):
        with connected(address) as ray_api:
            actors = plan_actors(ray_api, work.device, actors_wanted)
            logging.getLogger("ganrt").info("on Ray: %s", actors.describe())
            runner = RayArchiveRunner(ray_api, partial(work.make_runner, state=None, fingerprint=fingerprint),
                                      work.recipe_for(actors.threads), actors, state, fingerprint,
                                      on_progress=on_progress)
            runner.run(todo, result)
            return runner.local

    return run
