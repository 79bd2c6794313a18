"""A video on Ray: the runner's segments become tasks on a pool of engine actors.

The driver decodes as a single-process run does (one ffmpeg stream, frame
exact, finished segments skipped) and cuts the frames into the segments the
job state already counts in. Each segment goes to a free actor, which
restores its frames and encodes the segment file (or writes its PNG frames)
atomically into the same work folder; the driver records each segment as its
result comes back, and joins them with the audio exactly as before. Actors
are restarted and their segment retried when one dies; a driver killed
mid-run leaves the job state of the segments it recorded, and a rerun
resumes from them.

At most one segment per actor, plus the one being cut, is in flight, so
memory holds about ``actors + 1`` segments of decoded frames.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ganrt.errors import GanrtError, VideoError
from ganrt.pipelines.ray.cluster import ActorPlan
from ganrt.pipelines.video.pipeline import _END, FrameRestorer, VideoRunner, VideoSettings, VideoResult, _drain
from ganrt.pipelines.video.output import FramesWriter, JobState, SegmentEncoder, frames_chunks

log = logging.getLogger(__name__)


class SegmentWorker:
    """One engine; restores a segment's frames and writes them (a segment file, or PNG frames)."""

    def __init__(self, open_engine: Callable, settings: VideoSettings, size: tuple[int, int], fps_out: float,
                 work: Path, frames_dir: Path | None, per_node: int = 1, frames_chunks: bytes = b""):
        from ganrt.runtime.memory import share_memory_among

        share_memory_among(per_node)  # the other workers on this node hold frames too
        self.engine = open_engine()
        self.restore = FrameRestorer(self.engine, settings, size)
        self.settings, self.size, self.fps_out, self.work, self.frames_dir = settings, size, fps_out, work, frames_dir
        self.frames_chunks = frames_chunks

    def segment(self, segment: int, first: int, frames: np.ndarray) -> tuple[int, int, float]:
        start = time.perf_counter()
        w, h = self.size
        writer = FramesWriter(self.frames_dir, self.frames_chunks) if self.frames_dir is not None else None
        encoder = None if writer else SegmentEncoder(self.work, segment, w, h, self.fps_out, self.settings.encode)
        try:
            step = self.settings.batch
            for k in range(0, len(frames), step):
                for j, frame in enumerate(self.restore(list(frames[k:k + step]))):
                    if writer:
                        writer.write(first + k + j, frame)
                    else:
                        encoder.write(frame)
            if encoder is not None:
                encoder.finish()
                encoder = None
        finally:
            if encoder is not None:
                encoder.abort()
        return segment, len(frames), time.perf_counter() - start


class RayVideoRunner(VideoRunner):
    """``VideoRunner`` with its infer and encode stages on Ray actors (see the module docstring)."""

    def __init__(self, ray, open_engine: Callable, actors: ActorPlan, source, settings: VideoSettings, *,
                 scale: int, **kwargs):
        super().__init__(None, source, settings, scale=scale, **kwargs)
        self.ray, self.open_engine, self.actors = ray, open_engine, actors
        self.result.stages = {"decode": self.result.stages["decode"], "restore+encode": self.result.stages["infer"]}

    def _pool(self):
        from ray.util import ActorPool

        a = self.actors
        worker = self.ray.remote(SegmentWorker).options(num_cpus=a.num_cpus, num_gpus=a.num_gpus, max_restarts=-1,
                                                        max_task_retries=-1)
        return ActorPool([worker.remote(self.open_engine, self.settings, self.size, self.fps_out, self.work,
                                        self.frames_dir, a.per_node, frames_chunks(self.source, self.fps_out))
                          for _ in range(a.actors)])

    def _run(self, state: JobState, resumed: bool) -> VideoResult:
        self.result.resumed_segments = len(state.done)
        self.result.kept_frames = sum(state.done.values())
        if resumed:
            log.warning("resuming: %d finished segment(s) are kept", len(state.done))
        pool = self._pool()
        q_in: queue.Queue = queue.Queue(2 * self.seg)
        decoder = threading.Thread(target=self._decode, args=(q_in, state), name="ganrt-decode", daemon=True)
        clock = self.result.stages["restore+encode"]
        start = time.perf_counter()
        in_flight = 0

        def collect() -> None:
            nonlocal in_flight
            try:
                segment, frames, seconds = pool.get_next_unordered()
            except self.ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(getattr(exc, "cause", None), GanrtError) else None
                raise cause or VideoError(f"a segment failed on Ray: {str(exc).strip().splitlines()[-1]}") from None
            in_flight -= 1
            state.mark_done(segment, frames)
            clock.frames += frames
            clock.busy += seconds
            self.result.restored += frames
            self.result.written += frames
            self.on_progress(self.result, self.source.frame_count_hint)

        def submit(segment: int, frames: list[np.ndarray]) -> None:
            nonlocal in_flight
            if not pool.has_free():
                collect()
            first = segment * self.seg
            pool.submit(lambda actor, args: actor.segment.remote(*args), (segment, first, np.stack(frames)))
            in_flight += 1

        decoder.start()
        try:
            current, frames = None, []
            while not self._errors:
                item = q_in.get()
                if item is _END:
                    break
                index, frame = item
                segment = index // self.seg
                if segment != current and frames:
                    submit(current, frames)
                    frames = []
                current = segment
                frames.append(frame)
                if len(frames) == self.seg:  # a whole segment: no need to wait for the next frame
                    submit(current, frames)
                    frames = []
            if frames and not self._errors:
                submit(current, frames)
            while in_flight and not self._errors:
                collect()
        finally:
            self._stop.set()
            _drain(q_in)
            decoder.join()
            self.result.seconds = time.perf_counter() - start
        self._raise_stage_error()
        return self._complete(state)


def on_ray(address: str | None, actors_wanted: int | None):
    """A video job's cluster runner (``run_video(cluster=…)``): the frames on Ray at ``address`` (None: a local Ray
    for this run), ``actors_wanted`` engine actors (None: one per GPU, or one per two CPU cores)."""
    from ganrt.kinds import SUPER_RESOLUTION
    from ganrt.pipelines.ray.cluster import connected, plan_actors

    def run(choice, spec: str, source, settings, **kwargs):
        with connected(address) as ray_api:
            actors = plan_actors(ray_api, choice.device, actors_wanted)
            recipe = choice.recipe(spec, threads=actors.threads, kinds=(SUPER_RESOLUTION,), command="ganrt video")
            runner = RayVideoRunner(ray_api, recipe, actors, source, settings, scale=choice.model.scale, **kwargs)
            return runner.run(), runner, f"{choice.describe()}, {actors.describe()}"

    return run
