"""`ganrt video INPUT OUTPUT`: upscale a video (or a folder of frames), audio kept, resumable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import (BackendOpt, DeviceOpt, ModelOpt, OutscaleOpt, OverwriteOpt, PrecisionOpt, QuietOpt,
                              RayActorsOpt, RayOpt, ThreadsOpt, console, flag, handle_errors, setup_logging, shown)

DEFAULT_MODEL = "realesr-animevideov3"


def parse_time(text: str | None, flag: str) -> float | None:
    """Seconds ('12.5') or [HH:]MM:SS(.ms) → seconds."""
    from ganrt.errors import UsageError

    if text is None:
        return None
    found = re.fullmatch(r"(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)", text.strip())
    if not found:
        raise UsageError(f"{flag} must be seconds or HH:MM:SS, not {text!r}")
    parts = [p for p in found.groups() if p is not None]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


@handle_errors
def video(
    input: Annotated[str, typer.Argument(help="A video file (mp4, mkv, mov, avi, webm) or a folder of numbered frames.")],
    output: Annotated[str | None, typer.Argument(help="The output video file (its extension picks the container).")] = None,
    model: ModelOpt = DEFAULT_MODEL,
    backend: BackendOpt = "auto",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    tile: Annotated[str, typer.Option("--tile", "-t", help="Tile size in input pixels; 0 = whole frames (default).")] = "0",
    outscale: OutscaleOpt = None,
    threads: ThreadsOpt = None,
    codec: Annotated[str, typer.Option("--codec", help="Video encoder: libx264, libx265, ffv1, libvpx-vp9, …")] = "libx264",
    crf: Annotated[int, typer.Option("--crf", help="Quality for x264/x265/vp9/av1 (lower is better).")] = 18,
    preset: Annotated[str | None, typer.Option("--preset", help="Encoder speed preset: x264/x265 by name (default medium), svt-av1 by number (0-13).")] = None,
    pix_fmt: Annotated[str | None, typer.Option("--pix-fmt", help="Output pixel format (default: the source's depth and colour sampling as far as the codec has them, e.g. yuv420p, yuv422p10le, yuv420p12le with x265/vp9/av1; bgr0 or gbrp16le for ffv1).")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Frame rate: a video is read at this rate (frames repeated or dropped, audio kept in sync); frame folders play at it (default: the source's; for frame folders the rate ganrt wrote into them, else 25).")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Start time (seconds or HH:MM:SS).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="End time (seconds or HH:MM:SS).")] = None,
    no_audio: Annotated[bool, flag("--no-audio", help="Drop audio and subtitle streams.")] = False,
    deinterlace: Annotated[str, typer.Option("--deinterlace", help="auto: deinterlace a source whose frames are interlaced (DV, VHS and broadcast transfers), one frame per frame (default); on; off: keep the fields; double: one frame per field, at twice the rate.")] = "auto",
    batch: Annotated[int, typer.Option("--batch", help="Frames per engine call.")] = 1,
    frames_dir: Annotated[Path | None, typer.Option("--frames-dir", help="Write numbered PNG frames to this folder instead of a video.")] = None,
    overwrite: OverwriteOpt = False,
    ray: RayOpt = None,
    ray_actors: RayActorsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Upscale a video frame by frame: exact frame count, audio and subtitles kept, resumable after a crash."""
    setup_logging(quiet)
    from ganrt.errors import UsageError
    from ganrt.pipelines.remote_folder import is_url

    if is_url(input) or (output is not None and is_url(output)):
        raise UsageError("ganrt video reads and writes local (or NFS) files: fetch the video first "
                         "(fsspec URLs are for image folders)")
    input, output = Path(input), Path(output) if output is not None else None
    import time
    from dataclasses import replace

    from ganrt.cli.common import check_positive, check_threads, existing_path
    from ganrt.cli.engine_setup import choose_engine
    from ganrt.cli.progress import RateBar
    from ganrt.pipelines.ffmpeg import MUXER, check_encoder
    from ganrt.pipelines.jobstate import settings_fingerprint
    from ganrt.pipelines.output_plan import OutputPlan
    from ganrt.pipelines.video import VideoRunner, VideoSettings
    from ganrt.pipelines.video_output import EncodeSettings
    from ganrt.pipelines.video_source import open_source

    existing_path(input, "input")
    if (output is None) == (frames_dir is None):
        raise UsageError("give either OUTPUT (a video file) or --frames-dir DIR (PNG frames), not both or neither")
    if batch < 1:
        raise UsageError("--batch must be at least 1")
    check_positive(fps, "--fps", most=1000)
    check_positive(outscale, "--outscale", most=16)
    check_threads(threads)
    if ray_actors is not None and (ray is None or not 1 <= ray_actors <= 4096):
        raise UsageError("--ray-actors needs --ray and must be between 1 and 4096")
    t_start, t_end = parse_time(start, "--start") or 0.0, parse_time(end, "--end")
    if t_end is not None and t_end <= t_start:
        raise UsageError("--end must be after --start")
    plan = OutputPlan(inputs=(input,), input_root=input if input.is_dir() else None, overwrite=overwrite)
    if output is not None:
        if output.suffix.lower() not in MUXER:
            raise UsageError(f"OUTPUT must end in one of {', '.join(MUXER)}")
        plan.claim(output, "OUTPUT")
        _check_writable(output.parent)
    else:
        _plan_frames(plan, frames_dir, overwrite)
        _check_writable(frames_dir if frames_dir.exists() else frames_dir.parent)
    source = open_source(input, fps=fps, start=t_start, end=t_end, deinterlace=deinterlace)
    if (deinterlacing := source.deinterlacing()) and not quiet:
        console(stderr=True).print(f"… {shown(deinterlacing)}", markup=False, highlight=False)
    encode = EncodeSettings(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, source_bits=source.bits,
                            source_chroma=source.chroma, sar=source.sar)
    if source.colorspace and output is not None:
        encode = replace(encode, colorspace=source.colorspace, primaries=source.primaries, transfer=source.transfer)
    if output is not None:
        check_encoder(codec, MUXER[output.suffix.lower()], encode.codec_args())
        _warn_if_flattened(input.name, source, encode.pixel_format())
    choice = choose_engine(model, backend, device, precision, tile, threads, command="ganrt video")
    outscale = outscale if outscale is not None else choice.model.default_outscale
    settings = VideoSettings(outscale=outscale, tile=choice.tile, batch=batch, fps=fps,
                             keep_audio=not no_audio, encode=encode)
    stat = input.stat()
    fingerprint = settings_fingerprint({
        "input": str(input.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
        "model": choice.model.name, "weights": choice.model.checksum, "precision": choice.precision,
        "outscale": outscale, "tile": choice.tile.describe(), "fps": fps, "start": t_start, "end": t_end,
        "encode": encode.codec_args(), "frames_dir": str(frames_dir) if frames_dir else None, "decoder": "ffmpeg-cfr",
        **({"bits": source.bits} if source.bits > 8 else {}),  # 8-bit jobs keep the fingerprint they had
        **({"deinterlace": source.deinterlace} if source.deinterlace else {}),
    })
    began = time.perf_counter()
    with RateBar("upscaling", None, quiet) as bar:
        running = time.perf_counter()  # the rate counts this run's frames from here, not the engine set-up

        def on_progress(res, total):
            done = res.written
            stages = " | ".join(f"{k} {v.fps:.1f}" for k, v in res.stages.items())
            bar.update(res.kept_frames + done, total=total,
                       rates=f"{done / max(time.perf_counter() - running, 1e-6):.2f} fps [{stages}]")

        kwargs = dict(output=output, frames_dir=frames_dir, fingerprint=fingerprint, on_progress=on_progress)
        if ray is None:
            with choice.open() as engine:
                runner = VideoRunner(engine, source, settings, **kwargs)
                result = runner.run()
                where = engine.describe()
        else:
            from ganrt.pipelines.ray_cluster import connected, plan_actors
            from ganrt.pipelines.ray_video import RayVideoRunner

            with connected(ray) as ray_api:
                actors = plan_actors(ray_api, choice.device, ray_actors)
                recipe = choice.recipe(model, threads=actors.threads, kinds=("super-resolution",),
                                       command="ganrt video")
                runner = RayVideoRunner(ray_api, recipe, actors, source, settings, scale=choice.model.scale, **kwargs)
                result = runner.run()
                where = f"{choice.describe()}, {actors.describe()}"
    if not quiet:
        stages = " | ".join(f"{k} {v.fps:.2f}" for k, v in result.stages.items())
        console().print(
            f"wrote {shown(str(result.output))}: {result.frames} frames at {runner.fps_out:g} fps, "
            f"{runner.size[0]}x{runner.size[1]}, {choice.model.name} on {where}; "
            f"{result.restored} restored in {time.perf_counter() - began:.1f} s ({result.fps:.2f} frames/s"
            + (f", {result.resumed_segments} segment(s) resumed" if result.resumed_segments else "")
            + f"); stages {stages} frames/s, bound by {result.bottleneck()}", markup=False)


def _warn_if_flattened(name: str, source, pix_fmt: str | None) -> None:
    """One warning when the output pixel format (the user's --pix-fmt, or the nearest the codec has)
    flattens a deep source to 8 bits or samples colour more coarsely than the source: frames are
    restored at 16 bits and full colour, and written at the output format's depth and chroma."""
    import logging

    from ganrt.pipelines.ffmpeg import pixel_bits, pixel_chroma

    chroma = pixel_chroma(pix_fmt)
    lost = ([f"{pixel_bits(pix_fmt)} bits"] if source.bits > 8 and pixel_bits(pix_fmt) == 8 else []) + \
           ([f"{_ratio(chroma)} colour"] if int(chroma) < int(source.chroma) else [])
    if lost:
        what = (f"{source.bits}-bit {_ratio(source.chroma)} video ({source.media.pix_fmt})" if source.media is not None
                else "16-bit frames")
        logging.getLogger("ganrt").warning("%s is %s, but the output pixel format %s keeps %s; give a --pix-fmt or "
                                           "--codec that keeps more", name, what, pix_fmt, " and ".join(lost))


def _ratio(chroma: str) -> str:
    return ":".join(chroma)  # "420" → "4:2:0"


def _plan_frames(plan, frames_dir: Path, overwrite: bool) -> None:
    """--frames-dir: never the input folder; frames already there only when this job wrote them."""
    from ganrt.errors import OutputConflictError
    from ganrt.pipelines.video import work_dir_for
    from ganrt.pipelines.video_output import STATE_NAME, existing_frames

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


def _check_writable(folder: Path) -> None:
    import os
    import tempfile

    from ganrt.errors import ResourceError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ganrt-probe"):
            pass
    except OSError as exc:
        raise ResourceError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise ResourceError(f"cannot write to {folder}")
