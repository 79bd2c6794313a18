"""Where video frames come from: a video file (read with OpenCV) or a folder of numbered images.

Frames are counted by reading them, never taken from the container's frame
count (which is missing or wrong in many files). Frame *i* of the source has
time ``i / fps``; ``start``/``end`` select the frames with start ≤ t < end,
and the same times trim the audio, so both stay in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganrt.errors import VideoError
from ganrt.pipelines.ffmpeg import MediaInfo, probe
from ganrt.pipelines.image_io import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")
DEFAULT_FOLDER_FPS = 25.0


@dataclass
class FrameSource:
    path: Path
    fps: float
    width: int
    height: int
    frame_count_hint: int | None  # an estimate, for progress only
    start: float = 0.0
    end: float | None = None
    media: MediaInfo | None = None  # what ffmpeg reported of a video file (None for a frame folder)

    @property
    def is_video_file(self) -> bool:
        return self.media is not None

    def in_range(self, index: int) -> bool:
        t = index / self.fps
        return t >= self.start - 1e-9 and (self.end is None or t < self.end - 1e-9)

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 frames of the selected range, in order."""
        raise NotImplementedError


class VideoFileSource(FrameSource):
    def frames(self) -> Iterator[np.ndarray]:
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if self.in_range(index):
                    yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                elif self.end is not None and index / self.fps >= self.end:
                    break
                index += 1
        finally:
            cap.release()


@dataclass
class FolderSource(FrameSource):
    files: list[Path] = field(default_factory=list)

    def frames(self) -> Iterator[np.ndarray]:
        import cv2

        for index, path in enumerate(self.files):
            if not self.in_range(index):
                continue
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise VideoError(f"frame {path.name} cannot be read")
            if frame.shape[:2] != (self.height, self.width):
                raise VideoError(f"frame {path.name} is {frame.shape[1]}x{frame.shape[0]}, "
                                 f"the first frame is {self.width}x{self.height}")
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def open_source(path: Path, *, fps: float | None = None, start: float = 0.0, end: float | None = None) -> FrameSource:
    """Open a video file or a folder of numbered frames; raises VideoError with one clear reason."""
    if not path.exists():
        raise VideoError(f"input not found: {path}")
    if end is not None and end <= start:
        raise VideoError("--end must be after --start")
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
                       key=_natural_key)
        if not files:
            raise VideoError(f"{path} holds no image frames")
        import cv2

        first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise VideoError(f"frame {files[0].name} cannot be read")
        rate = fps or DEFAULT_FOLDER_FPS
        return FolderSource(path, rate, first.shape[1], first.shape[0], len(files), start, end, files=files)
    info = probe(path)
    if not info.of_kind("video"):
        raise VideoError(f"{path.name} has no video stream")
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise VideoError(f"{path.name} is not a video OpenCV can decode")
        rate = cap.get(cv2.CAP_PROP_FPS) or info.fps
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
    finally:
        cap.release()
    if not rate or rate <= 0 or rate > 1000:
        if fps is None:
            raise VideoError(f"{path.name} does not declare a frame rate; give one with --fps")
        rate = fps
    if count is None and info.duration:
        count = round(info.duration * rate)
    if count is not None:  # progress estimate for the selected range only
        first_i = int(np.ceil(start * rate - 1e-9))
        last_i = count if end is None else min(count, int(np.ceil(end * rate - 1e-9)))
        count = max(0, last_i - first_i)
    return VideoFileSource(path, float(rate), frame.shape[1], frame.shape[0], count, start, end, media=info)
