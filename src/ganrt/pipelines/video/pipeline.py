"""Upscale a video: decode → infer → encode in three stages joined by bounded queues, resumable by segment.

- The decoder thread reads frames through ffmpeg and skips (without inference)
  the frames of segments an earlier run finished.
- The main thread batches frames into the engine (``batch``); on CUDA the
  integer↔float conversion and the clamp happen on the device.
- The encoder thread pipes restored frames into ffmpeg, one segment file at a
  time (or writes numbered PNG frames), and records each finished segment.
- The slowest stage sets the pace; each stage's own rate is measured.
- A frame whose inference fails is retried in fp32; if that fails too, the
  run stops with a clear error. A frame is never skipped (that would desync
  the audio).
- When every segment is done, they are joined with the source's audio and
  subtitles into OUTPUT, which appears only when complete.
- A run that stops (an error, Ctrl-C, SIGTERM) keeps its work folder only
  when it holds finished segments to resume from; otherwise it removes it.
  With ``--frames-dir`` the finished state stays (``FRAMES/.ganrt-work``):
  it records which frames this job wrote, so a rerun knows them as its own.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ganrt.errors import GanrtError, Interrupted, VideoError
from ganrt.pipelines.video.output import (EncodeSettings, FramesWriter, JobState, SegmentEncoder, frames_chunks,
                                         segment_path)
from ganrt.pipelines.video.source import FrameSource
from ganrt.runtime.memory import TilePolicy
from ganrt.runtime.tiling import DEFAULT_PAD, upscale

log = logging.getLogger(__name__)

_END = object()


@dataclass(frozen=True)
class VideoSettings:
    outscale: float | None = None
    tile: TilePolicy = TilePolicy(0)
    pad: int = DEFAULT_PAD
    batch: int = 1
    fps: float | None = None  # output frame rate; default: the source's
    keep_audio: bool = True
    encode: EncodeSettings = EncodeSettings()
    segment_seconds: float = 4.0


@dataclass
class StageClock:
    """Frames handled and seconds spent working (not waiting) by one stage."""

    frames: int = 0
    busy: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.busy if self.busy > 0 else 0.0


@dataclass
class VideoResult:
    frames: int = 0  # frames in the selected range
    restored: int = 0  # frames restored by this run (the rest came from finished segments)
    written: int = 0  # frames of this run written (encoded, or saved as PNG)
    resumed_segments: int = 0
    kept_frames: int = 0  # frames in the finished segments a resumed run keeps
    seconds: float = 0.0
    output: Path | None = None
    stages: dict[str, StageClock] = field(default_factory=lambda: {k: StageClock() for k in ("decode", "infer", "encode")})

    @property
    def fps(self) -> float:
        return self.restored / self.seconds if self.seconds > 0 else 0.0

    def bottleneck(self) -> str:
        rates = {k: v.fps for k, v in self.stages.items() if v.frames}
        return min(rates, key=rates.get) if rates else "-"


def output_frame_size(source: FrameSource, scale: int, settings: VideoSettings) -> tuple[int, int]:
    factor = scale if settings.outscale is None else settings.outscale
    w, h = max(2, round(source.width * factor)), max(2, round(source.height * factor))
    pix = settings.encode.pixel_format() or ""
    if pix.startswith(("yuv420", "yuv422", "nv12")) and (w % 2 or h % 2):
        log.warning("%s needs even frame sizes: writing %dx%d instead of %dx%d", pix, w - w % 2, h - h % 2, w, h)
        w, h = w - w % 2, h - h % 2
    return w, h


def segment_frames(fps: float, seconds: float) -> int:
    return max(1, round(fps * seconds))


def work_dir_for(output: Path | None, frames_dir: Path | None) -> Path:
    if frames_dir is not None:
        return frames_dir / ".ganrt-work"
    return output.parent / f".{output.name}.ganrt-work"


class FrameRestorer:
    """The engine on batches of frames, finished to the output size (in the runner, or in a Ray actor)."""

    def __init__(self, engine, settings: VideoSettings, size: tuple[int, int]):
        self.engine, self.settings, self.size = engine, settings, size

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return self._finish_frames(self._restore_batch(frames))

    def _restore_batch(self, frames: list[np.ndarray]) -> np.ndarray:
        """The engine on a batch of frames; a batch that fails is retried frame by frame in fp32."""
        h, w = frames[0].shape[:2]
        tile = self.settings.tile.for_engine(self.engine, h, w, 3, self.settings.pad)
        # --batch frames are read together, but one engine call takes only what the memory budget allows
        batch = self.settings.tile.batch_for(tile, h, w, self.engine.scale, 3, self.settings.pad, most=len(frames))
        stack = np.stack(frames)
        try:
            return upscale(self.engine, stack, tile=tile, pad=self.settings.pad, batch=batch)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - retried in fp32, then a clear error
            fallback = self.engine.fp32_fallback()
            if fallback is None:
                raise VideoError(f"a frame could not be restored ({exc}); the run stops rather than skip it") from exc
            log.warning("%s failed on a batch (%s); retrying it in fp32", self.engine.describe(), exc)
            try:
                return np.stack([upscale(fallback, f, tile=tile, pad=self.settings.pad) for f in frames])
            except Exception as exc2:  # noqa: BLE001
                raise VideoError(f"a frame could not be restored even in fp32 ({exc2}); "
                                 "the run stops rather than skip it (finished segments are kept)") from exc2

    def _finish_frames(self, restored: np.ndarray) -> list[np.ndarray]:
        import cv2

        w, h = self.size
        if restored.shape[2] == w and restored.shape[1] == h:
            return list(restored)
        return [cv2.resize(f, (w, h), interpolation=cv2.INTER_LANCZOS4) for f in restored]


class VideoRunner:
    def __init__(self, engine, source: FrameSource, settings: VideoSettings, *, output: Path | None,
                 frames_dir: Path | None, fingerprint: str,
                 on_progress: Callable[[VideoResult, int | None], None] | None = None, scale: int | None = None):
        """``engine`` None (the engine runs elsewhere, under ``--ray``) needs the model's ``scale``."""
        # the frames' depth decides how they are piped; depth and chroma, the default output format
        if (settings.encode.source_bits, settings.encode.source_chroma) != (source.bits, source.chroma):
            settings = replace(settings, encode=replace(settings.encode, source_bits=source.bits,
                                                        source_chroma=source.chroma))
        self.engine, self.source, self.settings = engine, source, settings
        self.output, self.frames_dir = output, frames_dir
        self.fps_out = settings.fps or source.fps
        self.size = output_frame_size(source, engine.scale if engine is not None else scale, settings)
        self.restorer = FrameRestorer(engine, settings, self.size) if engine is not None else None
        self.seg = segment_frames(source.fps, settings.segment_seconds)
        self.work = work_dir_for(output, frames_dir)
        self.fingerprint = fingerprint
        self.on_progress = on_progress or (lambda result, total: None)
        self.result = VideoResult()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []

    # --- stages ----------------------------------------------------------------------------------
    def _decode(self, q_in: queue.Queue, state: JobState) -> None:
        clock = self.result.stages["decode"]
        try:
            t0 = time.perf_counter()
            for index, frame in enumerate(self.source.frames()):
                clock.busy += time.perf_counter() - t0
                clock.frames += 1
                self.result.frames = index + 1
                if index // self.seg not in state.done:
                    self._put(q_in, (index, frame))
                if self._stop.is_set():
                    return
                t0 = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._errors.append(exc)
        finally:
            self._put(q_in, _END)

    def _put(self, q: queue.Queue, item) -> None:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _encode(self, q_out: queue.Queue, state: JobState) -> None:
        clock = self.result.stages["encode"]
        w, h = self.size
        writer = None
        if self.frames_dir is not None:
            writer = FramesWriter(self.frames_dir, frames_chunks(self.source, self.fps_out))
        encoder: SegmentEncoder | None = None
        current, in_segment = None, 0
        try:
            while True:
                item = q_out.get()
                if item is _END:
                    break
                index, frame = item
                t0 = time.perf_counter()
                segment = index // self.seg
                if segment != current:
                    if current is not None:
                        self._close_segment(encoder, state, current, in_segment)
                    current, in_segment = segment, 0
                    encoder = None if writer else SegmentEncoder(self.work, segment, w, h, self.fps_out,
                                                                 self.settings.encode)
                if writer:
                    writer.write(index, frame)
                else:
                    encoder.write(frame)
                in_segment += 1
                self.result.written += 1
                clock.frames += 1
                clock.busy += time.perf_counter() - t0
                self.on_progress(self.result, self.source.frame_count_hint)
            if current is not None and not self._stop.is_set():
                self._close_segment(encoder, state, current, in_segment)
                encoder = None
        except BaseException as exc:  # noqa: BLE001
            self._errors.append(exc)
            self._stop.set()
        finally:
            if encoder is not None:
                encoder.abort()

    def _close_segment(self, encoder, state: JobState, segment: int, frames: int) -> None:
        if encoder is not None:
            encoder.finish()
        state.mark_done(segment, frames)

    # --- the run -----------------------------------------------------------------------------------
    def run(self) -> VideoResult:
        """Decode, restore, encode and join; the work folder goes when the job is done (or kept nothing)."""
        from ganrt import signals

        state, resumed = JobState.open(self.work, self.fingerprint, self.seg, frames_dir=self.frames_dir)
        complete = False
        try:
            result = self._run(state, resumed)
            complete = True
            return result
        except KeyboardInterrupt as exc:
            kept = len(state.done)
            raise Interrupted(f"{signals.describe(exc)}; {kept} finished segment(s) kept: rerun the same command "
                              "to resume" if kept else signals.describe(exc), signals.exit_code_for(exc)) from None
        finally:  # a frames folder keeps its state: it says which frames this job wrote
            state.close(remove=(complete and self.frames_dir is None) or not state.done)

    def _run(self, state: JobState, resumed: bool) -> VideoResult:
        self.result.resumed_segments = len(state.done)
        self.result.kept_frames = sum(state.done.values())
        if resumed:
            log.warning("resuming: %d finished segment(s) are kept", len(state.done))
        depth = max(2, 2 * self.settings.batch)
        q_in: queue.Queue = queue.Queue(depth)
        q_out: queue.Queue = queue.Queue(depth)
        decoder = threading.Thread(target=self._decode, args=(q_in, state), name="ganrt-decode", daemon=True)
        encoder = threading.Thread(target=self._encode, args=(q_out, state), name="ganrt-encode", daemon=True)
        start = time.perf_counter()
        decoder.start()
        encoder.start()
        clock = self.result.stages["infer"]
        failed = False
        try:
            pending: list[tuple[int, np.ndarray]] = []
            finished = False
            while not finished and not self._errors:
                item = q_in.get()
                if item is _END:
                    finished = True
                else:
                    pending.append(item)
                    while len(pending) < self.settings.batch:  # fill the batch with what is ready
                        try:
                            nxt = q_in.get(timeout=0.05)
                        except queue.Empty:
                            break
                        if nxt is _END:
                            finished = True
                            break
                        pending.append(nxt)
                if not pending:
                    continue
                t0 = time.perf_counter()
                frames = self.restorer([f for _, f in pending])
                clock.busy += time.perf_counter() - t0
                clock.frames += len(frames)
                for (index, _), frame in zip(pending, frames):
                    self._put(q_out, (index, frame))
                self.result.restored += len(frames)
                pending = []
        except BaseException:
            failed = True
            raise
        finally:
            # Stop everything on any failure; the encoder then aborts its unfinished segment.
            if failed or self._errors:
                self._stop.set()
                _drain(q_out)
            while encoder.is_alive():  # the encoder finishes (or aborts) when it sees the end marker
                try:
                    q_out.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    continue
            encoder.join()
            self._stop.set()
            _drain(q_in)  # unblock the decoder if it is waiting for room
            decoder.join()
            self.result.seconds = time.perf_counter() - start
        self._raise_stage_error()
        return self._complete(state)

    def _raise_stage_error(self) -> None:
        """Raise the first error a stage thread handed over, if any."""
        if self._errors:
            err = self._errors[0]
            if isinstance(err, (GanrtError, KeyboardInterrupt)):
                raise err
            raise VideoError(f"video pipeline failed: {err}") from err

    def _complete(self, state: JobState) -> VideoResult:
        total = self.result.frames
        if total == 0:
            raise VideoError("the selected range holds no frames")
        segments = math.ceil(total / self.seg)
        missing = [k for k in range(segments) if k not in state.done]
        counted = sum(state.done.get(k, 0) for k in range(segments))
        if missing or counted != total:
            raise VideoError(f"segments {missing[:5]} are unfinished ({counted} of {total} frames); rerun to resume")
        if self.frames_dir is not None:
            self.result.output = self.frames_dir
            return self.result
        from ganrt.pipelines.video.mux import join

        join(self.work, [segment_path(self.work, k) for k in range(segments)], self.output, expected_frames=total,
             source=self.source.media, start=self.source.start, end=self.source.end,
             keep_audio=self.settings.keep_audio)
        self.result.output = self.output
        return self.result


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
