"""Where restored frames go: segment files encoded by ffmpeg, or numbered PNG frames; and the job state.

The work is cut into segments of a few seconds. A segment is encoded into its
own file under a temporary name and renamed when ffmpeg has finished it; only
then is it recorded in the job state (``state.json``, rewritten atomically).
A killed run therefore leaves finished segments, a state that lists exactly
those, and at most one unfinished temporary file, which the next run deletes.
With ``--frames-dir`` a segment is its numbered PNG frames, and it counts as
finished while all of them are there. The work folder holds a lock for the
whole run, so two runs on one output never delete each other's segments.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganrt.errors import UsageError, VideoError
from ganrt.fsutil import atomic_path, atomic_write_bytes, commit_temp, is_temp_name, new_temp_path, remove_stale_temps
from ganrt.pipelines.video.ffmpeg import encoder_pix_fmts, ff_path, ffmpeg_exe, frame_dtype, last_error_line, raw_rgb

STATE_NAME = "state.json"
LOCK_NAME = "lock"
FRAME_NAME = re.compile(r"frame_(\d{6,})\.png$")
CRASH_SIGNALS = {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = None  # default: "medium" for x264/x265, the encoder's own for svt-av1
    pix_fmt: str | None = None  # default per codec, see ``pixel_format``
    colorspace: str | None = None  # tag and matrix of the source (bt709, smpte170m, …), when known
    primaries: str | None = None  # the source's, when it says; else the usual ones for ``colorspace``
    transfer: str | None = None  # the source's (smpte2084 for PQ, arib-std-b67 for HLG), or as above
    source_bits: int = 8  # above 8 the frames are 16-bit RGB, and the default output format is deep too
    source_chroma: str = "420"  # the source's colour sampling ("420", "422", "444"), which the default keeps
    sar: tuple[int, int] | None = None  # the source's pixel aspect ratio, kept (uniform scaling keeps it)

    def pixel_format(self) -> str | None:
        """The output pixel format: ``pix_fmt`` when given; else lossless RGB for ffv1, png and x264rgb,
        and for the others the YUV format nearest the source's depth and chroma that the encoder takes."""
        if self.pix_fmt:
            return self.pix_fmt
        if self.codec in RGB_PIX_FMT:
            return RGB_PIX_FMT[self.codec][self.source_bits > 8]
        candidates = [f"yuv{chroma}p{depth}" for chroma in _nearest(CHROMAS, self.source_chroma)
                      for depth in map(YUV_DEPTHS.get, _nearest(tuple(YUV_DEPTHS), min(self.source_bits, 12)))]
        takes = encoder_pix_fmts(self.codec)
        return next((c for c in candidates if c in takes), candidates[0])

    @property
    def input_pix_fmt(self) -> str:
        """How frames are piped into ffmpeg: 8-bit RGB, or 16-bit RGB for a deep source."""
        return raw_rgb(self.source_bits)

    def codec_args(self) -> list[str]:
        args = ["-c:v", self.codec]
        if self.crf is not None and self.codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"):
            args += ["-crf", str(self.crf)]
            if self.codec == "libvpx-vp9":
                args += ["-b:v", "0"]
        preset = self.preset or DEFAULT_PRESET.get(self.codec)
        if preset and self.codec in ("libx264", "libx265", "libsvtav1"):
            args += ["-preset", preset]
        if (pix := self.pixel_format()) is not None:
            args += ["-pix_fmt", pix]
        filters = []
        if self.colorspace and (pix or "").startswith("yuv"):
            # the tags go on the frames (setparams), which the encoder takes them from: ffmpeg's
            # -color_primaries and -color_trc output options left both "unknown" in the file
            primaries = self.primaries or _primaries(self.colorspace)
            transfer = self.transfer or _transfer(self.colorspace)
            filters += [f"scale=out_color_matrix={_matrix(self.colorspace)}", f"setparams=colorspace="
                        f"{self.colorspace}:color_primaries={primaries}:color_trc={transfer}"]
        if self.sar:  # non-square pixels (DV, anamorphic DVD) stay so: the picture keeps its shape
            filters.append(f"setsar={self.sar[0]}/{self.sar[1]}")
        if filters:
            args += ["-vf", ",".join(filters)]
        if self.codec == "libx265":
            args += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
        return args


DEFAULT_PRESET = {"libx264": "medium", "libx265": "medium"}  # svt-av1 takes numbers (0-13), not names
RGB_PIX_FMT = {"ffv1": ("bgr0", "gbrp16le"), "png": ("rgb24", "rgb48be"), "libx264rgb": ("rgb24", "rgb24")}  # 8, deep
CHROMAS = ("420", "422", "444")
YUV_DEPTHS = {8: "", 10: "10le", 12: "12le"}


def _nearest(choices: tuple, want) -> list:
    """``want`` first, then the (rising) choices above it, which lose nothing, then those below it,
    nearest first: the order to look for a source's chroma or depth among what an encoder takes."""
    above = [c for c in choices if c > want]
    below = [c for c in reversed(choices) if c < want]
    return ([want] if want in choices else []) + above + below


def _matrix(cs: str) -> str:
    return {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601", "bt2020nc": "bt2020"}.get(cs, "bt709")


def _primaries(cs: str) -> str:
    return {"bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "bt470bg", "bt2020nc": "bt2020"}.get(cs, "bt709")


def _transfer(cs: str) -> str:
    return {"bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "gamma28", "bt2020nc": "bt2020-10"}.get(cs, "bt709")


@dataclass
class JobState:
    """Which segments are finished, for which settings (``fingerprint``); holds the run's lock."""

    work: Path
    fingerprint: str
    segment_frames: int
    done: dict[int, int] = field(default_factory=dict)  # segment → frames in it
    frames_dir: Path | None = None  # segments are PNG frames here, not segment files
    _lock: object = field(default=None, repr=False)

    @classmethod
    def open(cls, work: Path, fingerprint: str, segment_frames: int, *,
             frames_dir: Path | None = None) -> tuple[JobState, bool]:
        """Lock ``work`` and load its state if it belongs to these settings; otherwise start afresh.
        Returns (state, resumed)."""
        work.mkdir(parents=True, exist_ok=True)
        lock = open(work / LOCK_NAME, "a")  # noqa: SIM115 - held for the run, released in close()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise UsageError("another ganrt run is writing this output; wait for it to finish") from None
        done: dict[int, int] = {}
        try:
            data = json.loads((work / STATE_NAME).read_text())
            if data.get("fingerprint") == fingerprint and data.get("segment_frames") == segment_frames:
                done = {int(k): int(v) for k, v in data.get("done", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError):
            pass
        state = cls(work, fingerprint, segment_frames, done, frames_dir, lock)
        if not done:
            state.clear()
        state.forget_missing()
        state.save()
        return state, bool(state.done)

    def clear(self) -> None:
        """Remove every file of the work folder but the lock (its segments belong to other settings)."""
        for entry in os.scandir(self.work):
            if entry.name == LOCK_NAME:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)

    def close(self, *, remove: bool = False) -> None:
        """Release the lock; ``remove``: delete the work folder too (the job is complete, or kept nothing)."""
        if remove:
            shutil.rmtree(self.work, ignore_errors=True)
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def save(self) -> None:
        data = {"fingerprint": self.fingerprint, "segment_frames": self.segment_frames,
                "done": {str(k): v for k, v in sorted(self.done.items())}}
        atomic_write_bytes(self.work / STATE_NAME, json.dumps(data, indent=1).encode())

    def _complete(self, segment: int, frames: int) -> bool:
        if self.frames_dir is None:
            return segment_path(self.work, segment).is_file()
        first = segment * self.segment_frames
        return all(frame_path(self.frames_dir, i).is_file() for i in range(first, first + frames))

    def forget_missing(self) -> None:
        """Drop finished segments whose files are gone; delete temporary leftovers of a killed run."""
        for name in os.listdir(self.work):
            if is_temp_name(name):
                (self.work / name).unlink(missing_ok=True)
        if self.frames_dir is not None and self.frames_dir.is_dir():
            remove_stale_temps(self.frames_dir)
        self.done = {k: v for k, v in self.done.items() if self._complete(k, v)}

    def mark_done(self, segment: int, frames: int) -> None:
        self.done[segment] = frames
        self.save()


def frame_path(folder: Path, index: int) -> Path:
    return folder / f"frame_{index + 1:06d}.png"


def existing_frames(folder: Path) -> list[Path]:
    """The numbered frames (``frame_NNNNNN.png``) already in ``folder``."""
    if not folder.is_dir():
        return []
    return [folder / e.name for e in os.scandir(folder) if FRAME_NAME.match(e.name)]


def segment_path(work: Path, segment: int) -> Path:
    return work / f"segment_{segment:06d}.mkv"


class SegmentEncoder:
    """One segment: raw RGB frames (8- or 16-bit, as ``enc.input_pix_fmt``) piped into ffmpeg, encoded into a
    temporary file, renamed when complete."""

    def __init__(self, work: Path, segment: int, width: int, height: int, fps: float, enc: EncodeSettings):
        self.final = segment_path(work, segment)
        self.tmp = new_temp_path(self.final)
        self.log = self.tmp.with_name(self.tmp.name + ".log")
        self.frames = 0
        self.dtype = frame_dtype(enc.source_bits)
        self.codec = enc.codec
        self._log_fh = open(self.log, "wb")  # noqa: SIM115 - closed in finish/abort
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", enc.input_pix_fmt, "-s", f"{width}x{height}", "-framerate", f"{fps:.10g}",
               "-i", "pipe:0", *enc.codec_args(), "-an", "-f", "matroska", ff_path(self.tmp)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._log_fh)

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != self.dtype:
            raise VideoError(f"a {frame.dtype} frame reached an encoder of {self.dtype} frames")
        try:
            self.proc.stdin.write(memoryview(np.ascontiguousarray(frame)))
        except BrokenPipeError:
            raise VideoError(f"ffmpeg stopped while encoding: {self._error()}") from None
        self.frames += 1

    def _error(self) -> str:
        code = self.proc.wait()
        self._log_fh.close()
        line = last_error_line(self.log.read_text(errors="replace"))
        if -code in CRASH_SIGNALS:  # the encoder library crashed (the bundled x265 does on tiny 10-bit frames)
            return (f"ffmpeg crashed ({signal.Signals(-code).name}) inside the {self.codec} encoder ({line}); "
                    "try another --codec or --pix-fmt")
        return line

    def finish(self) -> Path:
        try:
            self.proc.stdin.close()  # flushes the last frame
        except BrokenPipeError:
            pass  # ffmpeg is gone: its exit status and log say why, below
        if self.proc.wait() != 0:
            error = self._error()
            self.abort()
            raise VideoError(f"ffmpeg could not encode segment {self.final.name}: {error}")
        self._log_fh.close()
        self.log.unlink(missing_ok=True)
        commit_temp(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._log_fh.closed:
            self._log_fh.close()
        self.log.unlink(missing_ok=True)
        self.tmp.unlink(missing_ok=True)


def frames_chunks(source, fps: float) -> bytes:
    """The chunks PNG frames of ``source`` played at ``fps`` carry: the rate (tEXt), the source's colour
    (cICP) where it is HDR or BT.2020, and its pixel aspect (pHYs) where its pixels are not square."""
    from ganrt.pipelines.imageio.metadata import png_text_chunk
    from ganrt.pipelines.video.frame_tags import FRAME_RATE_KEY, png_aspect_chunk, png_cicp_chunk

    colour = png_cicp_chunk(source.primaries, source.transfer) if source.wide_colour else b""
    aspect = png_aspect_chunk(source.sar) if source.sar else b""
    return colour + aspect + png_text_chunk(FRAME_RATE_KEY, f"{fps:.10g}")


class FramesWriter:
    """Numbered PNG frames (``frame_000001.png`` …), 8- or 16-bit as the frames are, each written atomically,
    with ``chunks`` (``frames_chunks``: frame rate, and colour where it is HDR or BT.2020) after the header."""

    def __init__(self, folder: Path, chunks: bytes):
        self.folder, self.chunks = folder, chunks
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, index: int) -> Path:
        return frame_path(self.folder, index)

    def write(self, index: int, frame: np.ndarray) -> None:
        import cv2

        from ganrt.pipelines.imageio.metadata import insert_png_chunks

        bgr, params = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]
        with atomic_path(self.path(index), fsync=False) as tmp:
            ok, png = cv2.imencode(".png", bgr, params)
            if not ok:
                raise VideoError(f"OpenCV could not encode frame {index}")
            tmp.write_bytes(insert_png_chunks(png.tobytes(), self.chunks))
