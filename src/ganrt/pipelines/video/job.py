"""``ganrt video`` as one job: the outputs claimed and the source opened and checked (``plan_video``) before any
model loads, then the frames run here or on a cluster (``run_video``).

Every output (the video, or the numbered frames of ``--frames-dir``) is claimed as every other job claims its
outputs (``ganrt.pipelines.archive.plan``); the encoder is tried on one frame before any work; the job's
fingerprint is the engine's identity (``EngineChoice.identity``) and the settings that change the frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ganrt.errors import OutputConflictError, ResourceError, UsageError

if TYPE_CHECKING:
    from ganrt.pipelines.video.output import EncodeSettings
    from ganrt.pipelines.video.pipeline import VideoResult
    from ganrt.pipelines.video.source import FrameSource
    from ganrt.runtime.engine_choice import EngineChoice

log = logging.getLogger("ganrt")


@dataclass(frozen=True)
class VideoOptions:
    """What a video job was asked, as the command parsed it."""

    input: Path
    output: Path | None  # a video file, or None with frames_dir
    frames_dir: Path | None = None
    fps: float | None = None
    start: float = 0.0
    end: float | None = None
    deinterlace: str = "auto"
    codec: str = "libx264"
    crf: int = 18
    preset: str | None = None
    pix_fmt: str | None = None
    keep_audio: bool = True
    batch: int = 1
    outscale: float | None = None
    overwrite: bool = False


@dataclass
class PlannedVideo:
    """A video job whose outputs are claimed and whose source is open: what is left is to run it."""

    options: VideoOptions
    source: FrameSource
    encode: EncodeSettings


def plan_video(options: VideoOptions) -> PlannedVideo:
    """Claim the outputs, open the source and try the encoder: every refusal comes before any model loads."""
    from ganrt.pipelines.archive.plan import OutputPlan
    from ganrt.pipelines.video.ffmpeg import MUXER, check_encoder
    from ganrt.pipelines.video.output import EncodeSettings
    from ganrt.pipelines.video.source import open_source

    o = options
    plan = OutputPlan(inputs=(o.input,), input_root=o.input if o.input.is_dir() else None, overwrite=o.overwrite)
    if o.output is not None:
        if o.output.suffix.lower() not in MUXER:
            raise UsageError(f"OUTPUT must end in one of {', '.join(MUXER)}")
        plan.claim(o.output, "OUTPUT")
        check_writable(o.output.parent)
    else:
        _claim_frames(plan, o.frames_dir, o.overwrite)
        check_writable(o.frames_dir if o.frames_dir.exists() else o.frames_dir.parent)
    source = open_source(o.input, fps=o.fps, start=o.start, end=o.end, deinterlace=o.deinterlace)
    encode = EncodeSettings(codec=o.codec, crf=o.crf, preset=o.preset, pix_fmt=o.pix_fmt, source_bits=source.bits,
                            source_chroma=source.chroma, sar=source.sar)
    if source.colorspace and o.output is not None:
        encode = replace(encode, colorspace=source.colorspace, primaries=source.primaries, transfer=source.transfer)
    if o.output is not None:
        check_encoder(o.codec, MUXER[o.output.suffix.lower()], encode.codec_args())
        _warn_if_flattened(o.input.name, source, encode.pixel_format())
    return PlannedVideo(options, source, encode)


def video_fingerprint(planned: PlannedVideo, choice: EngineChoice, outscale: float) -> dict:
    """What changes the frames: the input file, the engine's identity and the video's own settings."""
    o, source = planned.options, planned.source
    stat = o.input.stat()
    return {"input": str(o.input.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, **choice.identity(),
            "outscale": outscale, "fps": o.fps, "start": o.start, "end": o.end,
            "encode": planned.encode.codec_args(), "frames_dir": str(o.frames_dir) if o.frames_dir else None,
            "decoder": "ffmpeg-cfr", **({"bits": source.bits} if source.bits > 8 else {}),
            **({"deinterlace": source.deinterlace} if source.deinterlace else {})}


Cluster = Callable[..., tuple["VideoResult", object, str]]


def run_video(planned: PlannedVideo, choice: EngineChoice, spec: str, *, on_progress: Callable,
              cluster: Cluster | None = None) -> tuple[VideoResult, object, str]:
    """Upscale the planned video with the chosen engine (here, or on ``cluster``): (result, runner, where)."""
    from ganrt.pipelines.archive.keys import settings_fingerprint
    from ganrt.pipelines.video.pipeline import VideoRunner, VideoSettings

    o = planned.options
    outscale = o.outscale if o.outscale is not None else choice.model.default_outscale
    settings = VideoSettings(outscale=outscale, tile=choice.tile, batch=o.batch, fps=o.fps,
                             keep_audio=o.keep_audio, encode=planned.encode)
    kwargs = dict(output=o.output, frames_dir=o.frames_dir, on_progress=on_progress,
                  fingerprint=settings_fingerprint(video_fingerprint(planned, choice, outscale)))
    if cluster is not None:
        return cluster(choice, spec, planned.source, settings, **kwargs)
    with choice.open() as engine:
        runner = VideoRunner(engine, planned.source, settings, **kwargs)
        return runner.run(), runner, engine.describe()


def _warn_if_flattened(name: str, source, pix_fmt: str | None) -> None:
    """One warning when the output pixel format (the user's --pix-fmt, or the nearest the codec has)
    flattens a deep source to 8 bits or samples colour more coarsely than the source: frames are
    restored at 16 bits and full colour, and written at the output format's depth and chroma."""
    from ganrt.pipelines.video.ffmpeg import pixel_bits, pixel_chroma

    chroma = pixel_chroma(pix_fmt)
    lost = ([f"{pixel_bits(pix_fmt)} bits"] if source.bits > 8 and pixel_bits(pix_fmt) == 8 else []) + \
           ([f"{_ratio(chroma)} colour"] if int(chroma) < int(source.chroma) else [])
    if lost:
        what = (f"{source.bits}-bit {_ratio(source.chroma)} video ({source.media.pix_fmt})" if source.media is not None
                else "16-bit frames")
        log.warning("%s is %s, but the output pixel format %s keeps %s; give a --pix-fmt or --codec that keeps more",
                    name, what, pix_fmt, " and ".join(lost))


def _ratio(chroma: str) -> str:
    return ":".join(chroma)  # "420" → "4:2:0"


def _claim_frames(plan, frames_dir: Path, overwrite: bool) -> None:
    """--frames-dir: never the input folder; frames already there only when this job wrote them."""
    from ganrt.pipelines.video.output import STATE_NAME, existing_frames
    from ganrt.pipelines.video.pipeline import work_dir_for

    if plan.is_input(frames_dir / "frame_000001.png"):
        raise OutputConflictError(f"--frames-dir {frames_dir} is the input folder (or inside it); originals are "
                                  "never overwritten")
    if frames_dir.exists() and not frames_dir.is_dir():
        raise OutputConflictError(f"--frames-dir {frames_dir} is a file, not a folder")
    found = existing_frames(frames_dir)
    ours = (work_dir_for(None, frames_dir) / STATE_NAME).is_file()
    if found and not ours and not overwrite:
        raise OutputConflictError(f"{frames_dir} already holds {len(found)} numbered frame(s) this job did not "
                                  "write; use --overwrite to replace them, or another folder")


def check_writable(folder: Path) -> None:
    """Refuse, with exit 3, a folder this user cannot write (or make)."""
    import os
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ganrt-probe"):
            pass
    except OSError as exc:
        raise ResourceError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise ResourceError(f"cannot write to {folder}")
