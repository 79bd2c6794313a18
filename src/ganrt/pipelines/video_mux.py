"""Join finished segments into the output, with the source's audio and subtitles, without re-encoding video.

Segments are concatenated with ffmpeg's concat demuxer (``-c copy``); audio
and subtitle streams are copied from the source, trimmed to the same
start/end as the frames. Subtitles are converted only where the container
demands it (mov_text in MP4/MOV, WebVTT in WebM; AVI holds none). If the
container refuses the source's audio codec, the audio is re-encoded (AAC, or
Opus for WebM) with a warning. The result is written to a temporary file,
its frame count is checked against the frames restored, and only then is it
renamed onto OUTPUT.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ganrt.errors import VideoError
from ganrt.fsutil import atomic_path
from ganrt.pipelines.ffmpeg import MUXER, MediaInfo, count_video_packets, run

log = logging.getLogger(__name__)

SUBTITLE_CODEC = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": "copy"}
AUDIO_FALLBACK = {"webm": "libopus", "avi": "libmp3lame"}


def _concat_list(work: Path, segments: list[Path]) -> Path:
    listing = work / "segments.txt"
    lines = [f"file '{p.name}'" for p in segments]
    listing.write_text("\n".join(lines) + "\n")
    return listing


def join(work: Path, segments: list[Path], output: Path, *, expected_frames: int, source: MediaInfo | None,
         start: float, end: float | None, keep_audio: bool) -> Path:
    muxer = MUXER.get(output.suffix.lower())
    if muxer is None:
        raise VideoError(f"cannot write {output.suffix} videos; use .mp4, .mkv, .mov, .webm or .avi")
    listing = _concat_list(work, segments)
    inputs = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    maps = ["-map", "0:v:0"]
    audio = subtitles = False
    if source is not None and keep_audio:
        audio = bool(source.of_kind("audio"))
        subtitles = bool(source.of_kind("subtitle")) and muxer in SUBTITLE_CODEC
        if audio or subtitles:
            trim = ["-ss", f"{start:.6f}"] if start > 0 else []
            if end is not None:
                trim += ["-to", f"{end:.6f}"]
            inputs += [*trim, "-i", str(source.path)]
            maps += (["-map", "1:a"] if audio else []) + (["-map", "1:s"] if subtitles else [])
            if source.of_kind("subtitle") and not subtitles:
                log.warning("%s cannot hold the source's subtitles; they are left out", output.suffix)
    extra = ["-movflags", "+faststart"] if muxer in ("mp4", "mov") else []
    extra += ["-map_metadata", "1" if (audio or subtitles) else "-1"]  # the source's tags, when it is an input
    attempts = ["copy", AUDIO_FALLBACK.get(muxer, "aac")] if audio else ["copy"]
    with atomic_path(output) as tmp:
        for audio_codec in attempts:
            codecs = ["-c:v", "copy"]
            if audio:
                codecs += ["-c:a", audio_codec]
            if subtitles:
                codecs += ["-c:s", SUBTITLE_CODEC[muxer]]
            try:
                run([*inputs, *maps, *codecs, *extra, "-f", muxer, "-y", str(tmp)], what=f"writing {output.name}")
                break
            except VideoError:
                if audio_codec != "copy" or not audio:
                    raise
                log.warning("%s cannot hold the source's audio as it is; re-encoding it", output.suffix)
        frames = count_video_packets(tmp)
        if frames != expected_frames:
            raise VideoError(f"the joined video has {frames} frames, expected {expected_frames}; nothing written")
    return output
