"""Join finished segments into the output, with the source's audio and subtitles, without re-encoding video.

Segments are concatenated with ffmpeg's concat demuxer (``-c copy``); audio
and subtitle streams are copied from the source, trimmed to the same
start/end as the frames. Subtitles are converted only where the container
demands it (mov_text in MP4/MOV, WebVTT in WebM; AVI holds none). If the
container refuses the source's audio codec, the audio is re-encoded (AAC, or
Opus for WebM) with a warning. The result is written to a temporary file,
its frame count is checked against the frames restored, and only then is it
renamed onto OUTPUT.

Audio trimmed at the start is cut first into a QuickTime file of its own
(stream copy): QuickTime's edit list records exactly where the kept audio
begins, which the final mux then honours in every container. Cutting it
straight into Matroska (which has no edit lists) kept the audio before
``--start`` and shifted the video by ``--start`` seconds.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ganrt.errors import VideoError
from ganrt.fsutil import atomic_path
from ganrt.pipelines.video.ffmpeg import MUXER, MediaInfo, count_video_packets, ff_path, run

log = logging.getLogger(__name__)

SUBTITLE_CODEC = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": "copy"}
AUDIO_FALLBACK = {"webm": "libopus", "avi": "libmp3lame"}


def _concat_list(work: Path, segments: list[Path]) -> Path:
    listing = work / "segments.txt"
    lines = [f"file '{p.name}'" for p in segments]
    listing.write_text("\n".join(lines) + "\n")
    return listing


def _trim_args(start: float, end: float | None) -> list[str]:
    return (["-ss", f"{start:.6f}"] if start > 0 else []) + (["-to", f"{end:.6f}"] if end is not None else [])


def _cut_audio(work: Path, source: MediaInfo, start: float, end: float | None) -> tuple[list[str], str] | None:
    """The trimmed audio as an input of its own (a QuickTime file), or None when the codec will not fit."""
    cut = work / "audio.mov"
    try:
        run([*_trim_args(start, end), "-i", ff_path(source.path), "-map", "0:a", "-c", "copy", "-f", "mov", "-y",
             ff_path(cut)], what="cutting the audio")
    except VideoError:
        return None
    return ["-i", ff_path(cut)], "a"


def join(work: Path, segments: list[Path], output: Path, *, expected_frames: int, source: MediaInfo | None,
         start: float, end: float | None, keep_audio: bool) -> Path:
    muxer = MUXER.get(output.suffix.lower())
    if muxer is None:
        raise VideoError(f"cannot write {output.suffix} videos; use .mp4, .mkv, .mov, .webm or .avi")
    listing = _concat_list(work, segments)
    inputs = ["-f", "concat", "-safe", "0", "-i", ff_path(listing)]
    maps = ["-map", "0:v:0"]
    audio = subtitles = False
    exact_audio = True  # False: the audio stream comes straight from the source, seeked
    if source is not None and keep_audio:
        audio = bool(source.of_kind("audio"))
        subtitles = bool(source.of_kind("subtitle")) and muxer in SUBTITLE_CODEC
        next_input = 1
        if audio:
            cut = _cut_audio(work, source, start, end) if start > 0 else None
            if cut is None:
                inputs += [*_trim_args(start, end), "-i", ff_path(source.path)]
                exact_audio = start == 0
            else:
                inputs += cut[0]
            maps += ["-map", f"{next_input}:a"]
            next_input += 1
        if subtitles:
            inputs += [*_trim_args(start, end), "-i", ff_path(source.path)]
            maps += ["-map", f"{next_input}:s"]
        if source.of_kind("subtitle") and not subtitles:
            log.warning("%s cannot hold the source's subtitles; they are left out", output.suffix)
    extra = ["-movflags", "+faststart"] if muxer in ("mp4", "mov") else []
    meta_input = len([a for a in inputs if a == "-i"]) - 1  # the source's tags, when it is an input
    extra += ["-map_metadata", str(meta_input) if (audio or subtitles) else "-1"]
    # a stream copy of audio seeked in the source keeps the packets before --start: re-encode it instead
    attempts = ["copy", AUDIO_FALLBACK.get(muxer, "aac")] if exact_audio else [AUDIO_FALLBACK.get(muxer, "aac")]
    with atomic_path(output) as tmp:
        for audio_codec in (attempts if audio else ["copy"]):
            codecs = ["-c:v", "copy"]
            if audio:
                codecs += ["-c:a", audio_codec]
            if subtitles:
                codecs += ["-c:s", SUBTITLE_CODEC[muxer]]
            try:
                run([*inputs, *maps, *codecs, *extra, "-f", muxer, "-y", ff_path(tmp)], what=f"writing {output.name}")
                break
            except VideoError:
                if audio_codec == attempts[-1] or not audio:
                    raise
                log.warning("%s cannot hold the source's audio as it is; re-encoding it", output.suffix)
        frames = count_video_packets(tmp)
        if frames != expected_frames:
            raise VideoError(f"the joined video has {frames} frames, expected {expected_frames}; nothing written")
    return output
