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
    import time

    from ganrt.errors import UsageError
    from ganrt.pipelines.archive.urls import is_url

    if is_url(input) or (output is not None and is_url(output)):
        raise UsageError("ganrt video reads and writes local (or NFS) files: fetch the video first "
                         "(fsspec URLs are for image folders)")
    input, output = Path(input), Path(output) if output is not None else None
    _check_video_options(input, output, frames_dir, batch=batch, fps=fps, outscale=outscale, threads=threads,
                         ray=ray, ray_actors=ray_actors)
    t_start, t_end = parse_time(start, "--start") or 0.0, parse_time(end, "--end")
    if t_end is not None and t_end <= t_start:
        raise UsageError("--end must be after --start")
    from ganrt.cli.progress import RateBar
    from ganrt.pipelines.video.job import VideoOptions, plan_video, run_video
    from ganrt.runtime.engine_choice import choose_engine

    planned = plan_video(VideoOptions(input, output, frames_dir, fps=fps, start=t_start, end=t_end,
                                      deinterlace=deinterlace, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt,
                                      keep_audio=not no_audio, batch=batch, outscale=outscale, overwrite=overwrite))
    if (deinterlacing := planned.source.deinterlacing()) and not quiet:
        console(stderr=True).print(f"… {shown(deinterlacing)}", markup=False, highlight=False)
    choice = choose_engine(model, backend, device, precision, tile, threads, command="ganrt video")
    cluster = None
    if ray is not None:
        from ganrt.pipelines.ray.video import on_ray

        cluster = on_ray(ray, ray_actors)
    began = time.perf_counter()
    with RateBar("upscaling", None, quiet) as bar:
        running = time.perf_counter()  # the rate counts this run's frames from here, not the engine set-up

        def on_progress(res, total):
            done = res.written
            stages = " | ".join(f"{k} {v.fps:.1f}" for k, v in res.stages.items())
            bar.update(res.kept_frames + done, total=total,
                       rates=f"{done / max(time.perf_counter() - running, 1e-6):.2f} fps [{stages}]")

        result, runner, where = run_video(planned, choice, model, on_progress=on_progress, cluster=cluster)
    if not quiet:
        stages = " | ".join(f"{k} {v.fps:.2f}" for k, v in result.stages.items())
        console().print(
            f"wrote {shown(str(result.output))}: {result.frames} frames at {runner.fps_out:g} fps, "
            f"{runner.size[0]}x{runner.size[1]}, {choice.model.name} on {where}; "
            f"{result.restored} restored in {time.perf_counter() - began:.1f} s ({result.fps:.2f} frames/s"
            + (f", {result.resumed_segments} segment(s) resumed" if result.resumed_segments else "")
            + f"); stages {stages} frames/s, bound by {result.bottleneck()}", markup=False)


def _check_video_options(input: Path, output: Path | None, frames_dir: Path | None, *, batch: int, fps: float | None,
                         outscale: float | None, threads: int | None, ray: str | None, ray_actors: int | None) -> None:
    from ganrt.errors import UsageError
    from ganrt.validate import check_positive, check_threads, existing_path

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
