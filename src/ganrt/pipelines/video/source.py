"""Where video frames come from: a video file (decoded by ffmpeg) or a folder of numbered images.

A video file is decoded by ffmpeg onto a constant-rate timeline: frame *i* is
the picture shown at ``i / fps`` (``fps`` is the source's base rate, or
``--fps``). A variable-rate source therefore comes out with its gaps filled,
as long as its audio; a damaged stretch is decoded past (ffmpeg conceals what
it cannot decode, and each error is counted); and the frames decoded are
checked against the frames the container holds, so a source that stops early
fails loudly instead of giving a short video. ``start``/``end`` select the
frames with start ≤ t < end, and the same times trim the audio.

An interlaced source (a DV or VHS transfer, broadcast MPEG-2 or H.264: its
frames' own flags say so) is deinterlaced on the way in by ffmpeg's bwdif, one
frame per frame (the count and the audio stay as they are) or, with
``--deinterlace double``, one per field at twice the rate; without it the model
would sharpen the combing of moving edges. Frames flagged progressive pass
through untouched.

Frames keep the source's depth: 8-bit video and frames come out as uint8 RGB;
deeper video (10-bit yuv420p10le, 12-bit, …) is decoded to 16-bit RGB and
16-bit frame folders are read as they are, so nothing is flattened to 8 bits
on its way through the model.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganrt.errors import UsageError, VideoError
from ganrt.pipelines.video.ffmpeg import (MediaInfo, count_video_packets, ff_path, ffmpeg_exe, field_order, frame_dtype,
                                    probe, raw_rgb)
from ganrt.pipelines.imageio.formats import OPENCV_SUFFIXES
from ganrt.pipelines.imageio.samples import cv2_read

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")
DEFAULT_FOLDER_FPS = 25.0
MISSING_FRAMES_TOLERATED = 2  # frames a decoder may legitimately drop at a damaged end
DEINTERLACE_MODES = ("auto", "on", "off", "double")
FIELD_ORDER_NAMES = {"tff": "top field first", "bff": "bottom field first"}
FRAME_FLAGS = 2 | 1  # cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR: 16-bit frames stay 16-bit, every frame is BGR


@dataclass
class FrameSource:
    path: Path
    fps: float
    width: int
    height: int
    frame_count_hint: int | None  # frames in the selected range, for progress
    start: float = 0.0
    end: float | None = None
    media: MediaInfo | None = None  # what ffmpeg reported of a video file (None for a frame folder)
    bits: int = 8  # bits per sample of the source; above 8, frames are uint16
    chroma: str = "420"  # the video's colour sampling ("420", "422", "444"); a frame folder's output gets 4:2:0
    colorspace: str | None = None  # the YUV matrix, primaries and transfer the source names (a video's
    primaries: str | None = None  # tags; a frame folder's first PNG's cICP chunk), None where it names none
    transfer: str | None = None
    fields: str | None = None  # "tff"/"bff": the source is interlaced (its first frames say so)
    deinterlace_mode: str = "off"  # --deinterlace: auto, on, off or double
    sar: tuple[int, int] | None = None  # the frames' pixel aspect ratio where not square (DV, anamorphic DVD)

    @property
    def wide_colour(self) -> bool:
        """HDR (PQ, HLG) or BT.2020 frames, which PNG frames must say they are (they would pass for sRGB)."""
        return self.primaries == "bt2020" or self.transfer in ("smpte2084", "arib-std-b67")

    @property
    def deinterlace(self) -> str | None:
        """The ffmpeg filter that deinterlaces the frames on decoding (``deinterlace_filter``), or None."""
        return deinterlace_filter(self.deinterlace_mode, self.fields)

    def deinterlacing(self) -> str | None:
        """What decoding does about interlacing, in words; None where frames are read as they are."""
        if not self.deinterlace:
            return None
        what = f"interlaced ({FIELD_ORDER_NAMES[self.fields]})" if self.fields else "flagged progressive"
        how = "one frame per field" if self.deinterlace_mode == "double" else "one frame per frame"
        return f"{self.path.name} is {what}: deinterlacing it (bwdif, {how}; --deinterlace off keeps the fields)"

    @property
    def dtype(self) -> np.dtype:
        return frame_dtype(self.bits)

    @property
    def is_video_file(self) -> bool:
        return self.media is not None

    def first_index(self) -> int:
        return math.ceil(self.start * self.fps - 1e-9)

    def in_range(self, index: int) -> bool:
        t = index / self.fps
        return t >= self.start - 1e-9 and (self.end is None or t < self.end - 1e-9)

    def frames(self) -> Iterator[np.ndarray]:
        """RGB frames of the selected range, in order (``dtype``: uint8, or uint16 for a deep source)."""
        raise NotImplementedError


@dataclass
class VideoFileSource(FrameSource):
    packets: int | None = None  # video packets in the container (counted while decoding starts)
    decode_errors: int = 0
    _counter: threading.Thread | None = field(default=None, repr=False)

    def _count_packets(self) -> None:
        try:
            self.packets = count_video_packets(self.path)
        except VideoError:
            self.packets = None

    def frames(self) -> Iterator[np.ndarray]:
        self._counter = threading.Thread(target=self._count_packets, daemon=True, name="ganrt-count")
        self._counter.start()
        raw = self.dtype.newbyteorder("<")  # as ffmpeg writes raw_rgb(bits)
        size = self.width * self.height * 3 * raw.itemsize
        limit = ["-t", f"{self.end:.6f}"] if self.end is not None else []
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", ff_path(self.path),
               "-map", "0:v:0", "-an", "-sn", "-dn", *(["-vf", self.deinterlace] if self.deinterlace else []),
               "-fps_mode", "cfr", "-r", f"{self.fps:.10g}", *limit,
               "-f", "rawvideo", "-pix_fmt", raw_rgb(self.bits), "pipe:1"]
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, bufsize=size)
            index = 0
            try:
                while True:
                    data = proc.stdout.read(size)
                    if not data:
                        break
                    if len(data) != size:
                        raise VideoError(f"ffmpeg returned a partial frame from {self.path.name} "
                                         f"({len(data)} of {size} bytes): frame size mismatch")
                    if self.in_range(index):
                        pixels = np.frombuffer(data, raw)
                        yield pixels.reshape(self.height, self.width, 3).astype(self.dtype, copy=False)
                    index += 1
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.stdout.close()
                code = proc.wait()
            errors.seek(0)
            log_text = errors.read().decode(errors="replace")
        self.decode_errors = len([ln for ln in log_text.splitlines() if ln.strip()])
        if code != 0 and index == 0:
            raise VideoError(f"ffmpeg could not decode {self.path.name}: {log_text.strip().splitlines()[-1:]}")
        self._check_complete(index)

    def _check_complete(self, decoded: int) -> None:
        """Fail when the decoder stopped early: fewer frames than the file holds (in the range read).

        What it holds: its video packets (counted), and the frames its stated video duration spans."""
        self._counter.join()
        seconds = self.media.video_seconds if self.media is not None else None
        known = [n for n in (self.packets, round(seconds * self.fps) if seconds else None) if n is not None]
        if not known:
            return
        wanted = max(known) if self.end is None else min(max(known), math.ceil(self.end * self.fps - 1e-9))
        if decoded < wanted - max(MISSING_FRAMES_TOLERATED, wanted // 200):
            raise VideoError(f"{self.path.name} is damaged: ffmpeg could decode only {decoded} of its {wanted} "
                             f"frames ({decoded / self.fps:.2f} s of {wanted / self.fps:.2f} s); nothing is written "
                             "rather than a shortened video")
        if self.decode_errors:
            log.warning("%s: ffmpeg met %d decoding error(s) (damaged data); the damaged frames were concealed "
                        "and are kept, so the frame count and audio stay exact", self.path.name, self.decode_errors)


@dataclass
class FolderSource(FrameSource):
    files: list[Path] = field(default_factory=list)

    def frames(self) -> Iterator[np.ndarray]:
        import cv2

        for index, path in enumerate(self.files):
            if not self.in_range(index):
                continue
            frame = cv2_read(path, FRAME_FLAGS)
            if frame is None:
                raise VideoError(f"frame {path.name} cannot be read")
            if frame.shape[:2] != (self.height, self.width):
                raise VideoError(f"frame {path.name} is {frame.shape[1]}x{frame.shape[0]}, "
                                 f"the first frame is {self.width}x{self.height}")
            yield cv2.cvtColor(_to_depth(frame, self.dtype), cv2.COLOR_BGR2RGB)


def _to_depth(frame: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A frame of a folder at the folder's depth (its first frame's): 8 → 16 bits exactly, 16 → 8 rounded."""
    if frame.dtype == dtype:
        return frame
    if dtype == np.uint16:
        return frame.astype(np.uint16) * np.uint16(257)
    return np.rint(frame / 257.0).astype(np.uint8)


def _folder_colour(first: Path) -> dict:
    """The colour a frame folder's first PNG names in its cICP chunk (frames ganrt wrote of an HDR or
    BT.2020 video) and the pixel aspect its pHYs chunk gives (frames of a DV tape), as ``FrameSource``
    fields; {} for untagged frames."""
    from ganrt.pipelines.video.ffmpeg import MATRIX_OF_PRIMARIES
    from ganrt.pipelines.video.frame_tags import read_png_aspect, read_png_cicp

    found = {"sar": sar} if (sar := read_png_aspect(first)) else {}
    tags = read_png_cicp(first)
    if tags is None:
        return found
    return {"colorspace": MATRIX_OF_PRIMARIES[tags[0]], "primaries": tags[0], "transfer": tags[1], **found}


def _folder_rate(first: Path) -> float | None:
    """The frame rate a folder's first PNG names (frames ``ganrt video --frames-dir`` wrote); None for others."""
    from ganrt.pipelines.video.frame_tags import FRAME_RATE_KEY, read_png_text

    try:
        rate = float(read_png_text(first, FRAME_RATE_KEY) or "nan")
    except ValueError:
        return None
    return rate if 0 < rate <= 1000 else None


def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def frame_files(folder: Path) -> list[Path]:
    """The image frames of a folder, in natural order (frame2 before frame10)."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in OPENCV_SUFFIXES and not p.name.startswith(".")
                   and p.is_file()), key=_natural_key)


def _range_count(total: int | None, fps: float, start: float, end: float | None) -> int | None:
    if total is None:
        return None
    first = math.ceil(start * fps - 1e-9)
    last = total if end is None else min(total, math.ceil(end * fps - 1e-9))
    return max(0, last - first)


def deinterlace_filter(mode: str, fields: str | None) -> str | None:
    """The ffmpeg filter that deinterlaces a source whose first frames are ``fields`` ("tff", "bff", None:
    progressive) under ``--deinterlace mode``, or None: bwdif (motion-adaptive, from both fields), one
    frame per frame, or one per field with "double". Frames flagged progressive are left as they are,
    unless the source is flagged progressive throughout and the user asked for it anyway."""
    if mode == "off" or (mode == "auto" and fields is None):
        return None
    per = "send_field" if mode == "double" else "send_frame"
    return f"bwdif=mode={per}:parity=auto:deint={'interlaced' if fields else 'all'}"


def open_source(path: Path, *, fps: float | None = None, start: float = 0.0, end: float | None = None,
                deinterlace: str = "auto") -> FrameSource:
    """Open a video file or a folder of numbered frames; raises with one clear reason."""
    if not path.exists():
        raise UsageError(f"input not found: {path}")
    if end is not None and end <= start:
        raise UsageError("--end must be after --start")
    if deinterlace not in DEINTERLACE_MODES:
        raise UsageError(f"--deinterlace must be one of {', '.join(DEINTERLACE_MODES)}, not {deinterlace!r}")
    if path.is_dir():
        if deinterlace in ("on", "double"):
            raise UsageError(f"--deinterlace {deinterlace} works on video files; a folder of frames is read as it is")
        import cv2

        files = frame_files(path)
        if not files:
            raise VideoError(f"{path} holds no image frames")
        first = cv2_read(files[0], FRAME_FLAGS)
        if first is None:
            raise VideoError(f"frame {files[0].name} cannot be read")
        rate = fps or _folder_rate(files[0]) or DEFAULT_FOLDER_FPS
        return FolderSource(path, rate, first.shape[1], first.shape[0], _range_count(len(files), rate, start, end),
                            start, end, bits=16 if first.dtype == np.uint16 else 8, files=files,
                            **_folder_colour(files[0]))
    if not path.is_file():
        raise UsageError(f"input {path} is not a regular file")
    info = probe(path)
    if not info.of_kind("video"):
        raise VideoError(f"{path.name} has no video stream")
    size = info.display_size
    if size is None:
        raise VideoError(f"{path.name} is not a video ffmpeg can decode (no frame size)")
    own = info.frame_rate
    if not fps and (not own or own <= 0 or own > 1000):
        raise UsageError(f"{path.name} does not declare a frame rate; give one with --fps")
    fields = field_order(path) if deinterlace != "off" else None
    rate = fps or own * (2 if deinterlace == "double" else 1)
    total = round(info.duration * rate) if info.duration else None
    return VideoFileSource(path, float(rate), size[0], size[1], _range_count(total, rate, start, end), start, end,
                           media=info, bits=info.bits, chroma=info.chroma, colorspace=info.colorspace,
                           primaries=info.primaries, transfer=info.transfer, fields=fields,
                           deinterlace_mode=deinterlace, sar=info.display_sar)
