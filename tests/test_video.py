"""Video: exact frame count, size × outscale, audio and subtitles kept, frames-dir, bad input, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import cli, one_line, wait_for
from ganrt.pipelines.video.ffmpeg import audio_seconds, count_video_packets, ffmpeg_exe, probe
from ganrt.pipelines.video.frame_tags import read_png_aspect

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]
SRT = "1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:01,000 --> 00:00:02,500\nArchive\n"


def make_video(path: Path, *, seconds: float, fps: float = 10, size: str = "48x32", audio: bool = True,
               subtitles: bool = False, codec: str = "libx264", pix_fmt: str = "yuv420p") -> Path:
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    maps = ["-map", "0:v"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
        maps += ["-map", "1:a"]
    if subtitles:
        srt = path.with_suffix(".srt")
        srt.write_text(SRT)
        args += ["-i", str(srt)]
        maps += ["-map", f"{2 if audio else 1}:s"]
    codecs = ["-c:v", codec, "-pix_fmt", pix_fmt] + (["-c:a", "aac"] if audio else [])
    codecs += ["-c:s", "srt"] if subtitles else []
    subprocess.run([*args, *maps, *codecs, str(path)], check=True)
    return path


def run_video(*args):
    return cli("video", *map(str, args), *FAST)


def frames_of(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return out
        out.append(frame)


def test_mkv_with_audio_and_subtitles(tmp_path):
    src = make_video(tmp_path / "clip.mkv", seconds=2.5, subtitles=True)
    out = tmp_path / "up.mkv"
    result = run_video(src, out, "--batch", "3")
    assert result.exit_code == 0, result.output
    assert count_video_packets(out) == count_video_packets(src) == 25
    info = probe(out)
    assert (info.width, info.height) == (48 * 4, 32 * 4) and info.fps == 10
    assert [s.kind for s in info.streams] == ["video", "audio", "subtitle"]
    assert abs(audio_seconds(out) - audio_seconds(src)) <= 1 / 10  # within one frame
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # work folder removed
    frames = frames_of(out)
    assert len(frames) == 25 and np.mean([f.std() for f in frames]) > 20  # real pictures, not black


def test_relative_paths(tmp_path, monkeypatch):
    make_video(tmp_path / "clip.mkv", seconds=1)
    monkeypatch.chdir(tmp_path)
    result = run_video("clip.mkv", "up.mkv")
    assert result.exit_code == 0, result.output
    assert count_video_packets(tmp_path / "up.mkv") == 10
    # svt-av1 with its own default preset (x264's "medium" is no svt-av1 preset)
    assert run_video("clip.mkv", "av1.mkv", "--codec", "libsvtav1").exit_code == 0
    assert probe(tmp_path / "av1.mkv").streams[0].codec == "av1"


def test_mp4_outscale_and_range(tmp_path):
    src = make_video(tmp_path / "clip.mp4", seconds=3)
    out = tmp_path / "half.mp4"
    result = run_video(src, out, "--outscale", "2", "--start", "0.5", "--end", "00:00:02.5")
    assert result.exit_code == 0, result.output
    assert count_video_packets(out) == 20  # frames at t in [0.5, 2.5) at 10 fps
    info = probe(out)
    assert (info.width, info.height) == (96, 64)
    assert abs(audio_seconds(out) - 2.0) <= 1 / 10


@pytest.mark.slow
def test_frames_dir_and_frame_folder_input(tmp_path):
    src = make_video(tmp_path / "clip.webm", seconds=1.2, codec="libvpx-vp9", audio=False)
    frames = tmp_path / "frames"
    result = cli("video", str(src), "--frames-dir", str(frames), *FAST)
    assert result.exit_code == 0, result.output
    pngs = sorted(frames.glob("frame_*.png"))
    assert [p.name for p in pngs] == [f"frame_{i:06d}.png" for i in range(1, 13)]
    assert cv2.imread(str(pngs[0])).shape == (128, 192, 3)
    # the folder of frames in, a video out (frame folders have no audio): at the rate the frames name
    # (the source's 10 fps; PNG has no field for it), at --fps where given, at 25 for frames of others
    again = tmp_path / "again.mkv"
    result = cli("video", str(frames), str(again), "--outscale", "0.5", *FAST)
    assert result.exit_code == 0, result.output
    assert count_video_packets(again) == 12 and probe(again).fps == 10
    assert (probe(again).width, probe(again).height) == (96, 64)  # 192x128 frames at --outscale 0.5
    result = cli("video", str(frames), str(tmp_path / "at12.mkv"), "--fps", "12", *FAST)
    assert result.exit_code == 0 and probe(tmp_path / "at12.mkv").fps == 12, result.output
    plain = tmp_path / "plain"
    plain.mkdir()
    for png in pngs[:3]:
        cv2.imwrite(str(plain / png.name), cv2.imread(str(png)))
    assert run_video(plain, tmp_path / "plain.mkv").exit_code == 0 and probe(tmp_path / "plain.mkv").fps == 25


def test_the_sources_colour_tags_and_depth_reach_the_output(tmp_path):
    """Matrix, primaries and transfer are written into the output as the source has them (ffmpeg's own
    -color_primaries / -color_trc options had left the last two "unknown"), PQ HDR included, and a 10-bit
    source comes out 10-bit."""
    def tagged(path: Path, pix_fmt: str, params: str) -> Path:
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=48x32:rate=10:duration=1", "-c:v", "libx264", "-pix_fmt", pix_fmt,
                        "-x264-params", params, str(path)], check=True)
        return path

    sdr = tagged(tmp_path / "sdr.mp4", "yuv420p", "colorprim=bt709:transfer=bt709:colormatrix=bt709")
    hdr = tagged(tmp_path / "hdr.mp4", "yuv420p10le", "colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc")
    source = probe(hdr)
    assert (source.pix_fmt, source.bits, source.colorspace, source.primaries, source.transfer) == \
        ("yuv420p10le", 10, "bt2020nc", "bt2020", "smpte2084")
    assert run_video(sdr, tmp_path / "sdr-up.mp4").exit_code == 0
    out = probe(tmp_path / "sdr-up.mp4")
    assert (out.bits, out.colorspace, out.primaries, out.transfer) == (8, "bt709", "bt709", "bt709")
    result = cli("video", str(hdr), str(tmp_path / "hdr-up.mp4"), *FAST[:-1])
    assert result.exit_code == 0 and "WARNING" not in result.output, result.output
    out = probe(tmp_path / "hdr-up.mp4")
    assert (out.pix_fmt, out.colorspace, out.primaries, out.transfer) == \
        ("yuv420p10le", "bt2020nc", "bt2020", "smpte2084")
    # PNG frames of the HDR source say so (cICP, as ffmpeg reads it), and encode back into a PQ video;
    # frames of the SDR source stay untagged PNGs, read as sRGB like any other
    from ganrt.pipelines.video.frame_tags import read_png_cicp

    for name, clip in (("hdr-frames", hdr), ("sdr-frames", sdr)):
        assert run_video(clip, "--frames-dir", tmp_path / name, "--end", "0.2").exit_code == 0
    assert read_png_cicp(tmp_path / "hdr-frames" / "frame_000001.png") == ("bt2020", "smpte2084")
    assert read_png_cicp(tmp_path / "sdr-frames" / "frame_000001.png") is None
    assert probe(tmp_path / "hdr-frames" / "frame_000001.png").transfer == "smpte2084"
    assert run_video(tmp_path / "hdr-frames", tmp_path / "back.mkv", "--outscale", "0.25").exit_code == 0
    out = probe(tmp_path / "back.mkv")
    assert (out.pix_fmt, out.colorspace, out.primaries, out.transfer) == \
        ("yuv420p10le", "bt2020nc", "bt2020", "smpte2084")
    twelve = tmp_path / "twelve.mkv"  # 12 bits stay 12 where the codec has them (x265), 10 where not (x264);
    # 64x48: this x265 aborts on 48x32 at 10 and 12 bits
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=64x48:rate=10:duration=0.5", "-c:v", "libx265", "-pix_fmt", "yuv420p12le",
                    "-x265-params", "log-level=error", str(twelve)], check=True)
    assert probe(twelve).bits == 12
    for codec, want in (("libx265", "yuv420p12le"), ("libx264", "yuv420p10le")):
        assert run_video(twelve, tmp_path / f"{codec}.mkv", "--codec", codec).exit_code == 0
        assert probe(tmp_path / f"{codec}.mkv").pix_fmt == want
    assert count_video_packets(tmp_path / "hdr-up.mp4") == 10


def test_non_square_pixels_keep_the_pictures_shape(tmp_path):
    """A DV-shaped clip (72x48 stored, pixels 8:9, shown 4:3) is upscaled keeping its 8:9 pixels, so it
    plays 4:3, not stretched to 3:2; through a folder of frames (pHYs, no unit) and back too; a phone
    clip turned a quarter has its pixels' shape turned with it."""
    def shape(path: Path):
        info = probe(path)
        return info.width, info.height, info.display_sar

    dv = tmp_path / "dv.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=72x48:rate=10:duration=0.5", "-vf", "setsar=8/9", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(dv)], check=True)
    assert shape(dv) == (72, 48, (8, 9))
    assert run_video(dv, tmp_path / "up.mp4").exit_code == 0
    assert shape(tmp_path / "up.mp4") == (288, 192, (8, 9))  # 288 × 8/9 : 192 = 4:3
    frames = tmp_path / "frames"
    assert run_video(dv, "--frames-dir", frames, "--outscale", "2").exit_code == 0
    assert read_png_aspect(sorted(frames.glob("*.png"))[0]) == (8, 9)
    assert run_video(frames, tmp_path / "back.mkv", "--outscale", "1", "--codec", "ffv1").exit_code == 0
    assert shape(tmp_path / "back.mkv") == (144, 96, (8, 9))
    turned = tmp_path / "turned.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-display_rotation", "90", "-i", str(dv),
                    "-c", "copy", str(turned)], check=True)
    assert run_video(turned, tmp_path / "upright.mp4").exit_code == 0
    assert shape(tmp_path / "upright.mp4") == (192, 288, (9, 8))  # upright, its pixels now 9:8


def ramp_video(path: Path, frames: int = 6) -> tuple[Path, np.ndarray]:
    """A lossless 10-bit grey ramp (64×32) climbing 32 ten-bit levels, which 8 bits hold as 8 bands; and
    one of its frames as 16-bit RGB."""
    ramp = np.linspace(200, 232, 64) * 64
    frame = np.ascontiguousarray(np.broadcast_to(ramp[None, :, None], (32, 64, 3)), dtype="<u2")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le",
                    "-s", "64x32", "-framerate", "10", "-i", "pipe:0", "-c:v", "libx264", "-pix_fmt", "yuv420p10le",
                    "-crf", "0", str(path)], input=frame.tobytes() * frames, check=True)
    return path, frame


def rgb48_frames(path: Path) -> np.ndarray:
    info = probe(path)
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<u2").reshape(-1, info.height, info.width, 3)


def test_a_ten_bit_video_is_restored_and_written_without_8_bit_banding(tmp_path):
    """Deep video is decoded to 16-bit frames, restored at 16 bits, and written 10-bit (or as 16-bit PNG
    frames): a ramp finer than 8 bits keeps its levels. Through 8-bit frames the model sharpens the 8-bit
    bands into steps, 1.7 levels (of 255) off on average, against 0.38 here (x264 at crf 18)."""
    src, _ = ramp_video(tmp_path / "ramp.mkv")
    frames = tmp_path / "frames"
    assert cli("video", str(src), "--frames-dir", str(frames), *FAST).exit_code == 0
    png = cv2.imread(str(frames / "frame_000001.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (128, 256, 3)
    row = png[64, 32:-32, 1]
    assert len(np.unique(row >> 6)) >= 24 and len(np.unique(row >> 8)) <= 9  # 10-bit levels, not 8-bit bands
    assert (png % 257 != 0).mean() > 0.9  # not 8-bit values widened
    out = tmp_path / "up.mkv"
    result = cli("video", str(src), str(out), *FAST[:-1])
    assert result.exit_code == 0 and "WARNING" not in result.output, result.output
    assert probe(out).pix_fmt == "yuv420p10le" and count_video_packets(out) == 6
    got = rgb48_frames(out)[0].astype(np.float64)
    want = cv2.cvtColor(png, cv2.COLOR_BGR2RGB).astype(np.float64)
    assert np.abs(got - want)[16:-16, 16:-16].mean() / 257 < 0.8
    # the 16-bit frames in, a 10-bit video out; an 8-bit format asked for is written, and named in a warning
    again = tmp_path / "again.mp4"
    result = cli("video", str(frames), str(again), "--outscale", "0.25", *FAST[:-1])
    assert result.exit_code == 0 and probe(again).pix_fmt == "yuv420p10le", result.output
    flat = tmp_path / "flat.mp4"
    result = cli("video", str(src), str(flat), "--pix-fmt", "yuv420p", *FAST[:-1])
    assert result.exit_code == 0 and probe(flat).bits == 8, result.output
    assert "ramp.mkv is 10-bit 4:2:0 video (yuv420p10le), but the output pixel format yuv420p keeps 8 bits" in \
        " ".join(result.output.split())


def rgb24_frame(path: Path) -> np.ndarray:
    info = probe(path)
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(info.height, info.width, 3)


def test_the_output_keeps_the_sources_colour_sampling_where_the_codec_has_it(tmp_path):
    """A 4:4:4 source is written 4:4:4, not halved to 4:2:0: one-pixel red and blue stripes come out 3.2
    levels off the restored frames (x264, crf 18), against 9.2 in 4:2:0, where they blur into purple. A
    codec without 4:4:4 (svt-av1) writes 4:2:0 and says so; 4:2:2 and deep sources get theirs likewise."""
    stripes = np.zeros((32, 48, 3), np.uint8)
    stripes[:, 0::2], stripes[:, 1::2] = (220, 40, 40), (40, 60, 220)
    src = tmp_path / "stripes.mkv"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                    "48x32", "-framerate", "10", "-i", "pipe:0", "-c:v", "libx264", "-pix_fmt", "yuv444p", "-crf", "0",
                    str(src)], input=stripes.tobytes() * 3, check=True)
    frames = tmp_path / "frames"
    assert run_video(src, "--frames-dir", frames, "--outscale", "1").exit_code == 0
    restored = cv2.imread(str(frames / "frame_000001.png"))[:, :, ::-1].astype(np.float64)
    errors = {}
    for name, args in (("keep.mkv", []), ("halved.mkv", ["--pix-fmt", "yuv420p"]), ("av1.mkv", ["--codec", "libsvtav1"])):
        result = cli("video", str(src), str(tmp_path / name), "--outscale", "1", *args, *FAST[:-1])
        assert result.exit_code == 0, result.output
        errors[name] = np.abs(rgb24_frame(tmp_path / name) - restored).mean()
        warned = "stripes.mkv is 8-bit 4:4:4 video (yuv444p), but the output pixel format yuv420p keeps 4:2:0 colour"
        assert (warned in " ".join(result.output.split())) == bool(args), result.output
    assert probe(tmp_path / "keep.mkv").pix_fmt == "yuv444p" and probe(tmp_path / "av1.mkv").pix_fmt == "yuv420p"
    assert errors["keep.mkv"] < 0.6 * min(errors["halved.mkv"], errors["av1.mkv"]), errors
    # the nearest format each encoder takes: exact, else more (nothing lost), else less
    from ganrt.pipelines.video.output import EncodeSettings
    chosen = {(codec, bits, chroma): EncodeSettings(codec=codec, source_bits=bits, source_chroma=chroma).pixel_format()
              for codec in ("libx264", "libx265", "prores_ks") for bits in (8, 10, 12) for chroma in ("420", "422")}
    assert chosen[("libx264", 10, "422")] == "yuv422p10le" and chosen[("libx264", 12, "422")] == "yuv422p10le"
    assert chosen[("libx265", 12, "422")] == "yuv422p12le" and chosen[("prores_ks", 8, "420")] == "yuv422p10le"


def interlaced_video(path: Path) -> Path:
    """A tape transfer in miniature: a bright bar moving 3 px per field, two fields (1/50 s apart) woven
    into each of 12 frames at 25 fps, top field first and flagged so, with 0.48 s of audio."""
    fields = []
    for i in range(24):
        field = np.full((64, 96, 3), 90, np.uint8)
        field[8:56, 8 + 3 * i % 70:24 + 3 * i % 70] = 230
        fields.append(field)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", "96x64", "-r", "50", "-i", "-", "-f", "lavfi", "-i", "sine=sample_rate=44100:duration=0.48",
                    "-vf", "tinterlace=mode=interleave_top", "-c:v", "libx264", "-flags", "+ilme+ildct",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
                   input=b"".join(f.tobytes() for f in fields), check=True)
    return path


def combing(path: Path) -> float:
    """Mean |2·row − row above − row below| of a video's frames: the teeth of woven fields on moving edges."""
    from ganrt.pipelines.video.source import open_source

    rows = [f.astype(np.float32).mean(2) for f in open_source(path, deinterlace="off").frames()]
    return float(np.mean([np.abs(2 * f[1:-1] - f[:-2] - f[2:]).mean() for f in rows]))


def test_an_interlaced_source_is_deinterlaced_keeping_its_frame_count_and_audio(tmp_path):
    """Fields woven into frames come out combed on every moving edge when upscaled as they are (17.3 on the
    measure above, 15.1 in the source); ganrt sees the frames' interlaced flag and deinterlaces (bwdif) on
    decoding: 1.5, same frames, same audio. ``double`` gives a frame per field at twice the rate."""
    from ganrt.pipelines.video.ffmpeg import field_order

    src = interlaced_video(tmp_path / "tape.mkv")
    assert field_order(src) == "tff" and field_order(make_video(tmp_path / "p.mkv", seconds=0.5)) is None
    result = cli("video", str(src), str(tmp_path / "auto.mkv"), "--outscale", "1", *FAST[:-1])
    assert result.exit_code == 0 and "tape.mkv is interlaced (top field first): deinterlacing it" in result.output
    assert run_video(src, tmp_path / "off.mkv", "--outscale", "1", "--deinterlace", "off").exit_code == 0
    assert run_video(src, tmp_path / "double.mkv", "--outscale", "1", "--deinterlace", "double").exit_code == 0
    for name, frames, fps in (("auto", 12, 25), ("off", 12, 25), ("double", 24, 50)):
        out = tmp_path / f"{name}.mkv"
        assert (count_video_packets(out), probe(out).fps) == (frames, fps), name
        assert abs(audio_seconds(out) - audio_seconds(src)) < 0.03, name
    woven = combing(tmp_path / "off.mkv")
    assert woven > 10 and combing(tmp_path / "auto.mkv") < woven / 5 and combing(tmp_path / "double.mkv") < woven / 5
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "frame_000001.png"), np.zeros((32, 48, 3), np.uint8))
    assert "works on video files" in one_line(run_video(folder, tmp_path / "f.mkv", "--deinterlace", "on"))
    assert "--deinterlace must be one of" in one_line(run_video(src, tmp_path / "x.mkv", "--deinterlace", "yes"))


def test_bad_input_is_one_clear_line(tmp_path):
    out = tmp_path / "out.mp4"
    assert "not found" in one_line(run_video(tmp_path / "missing.mp4", out))
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    assert "not a video" in one_line(run_video(fake, out))
    audio_only = tmp_path / "song.mkv"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac",
                    str(audio_only)], check=True)
    assert "no video stream" in one_line(run_video(audio_only, out))
    src = make_video(tmp_path / "clip.mkv", seconds=1)
    assert "no 'libx999' video encoder" in one_line(run_video(src, out, "--codec", "libx999"))
    assert "Possible presets: ultrafast" in one_line(run_video(src, out, "--preset", "fastest"))
    assert 'preset" option value "slow"' in one_line(run_video(src, out, "--codec", "libsvtav1", "--preset",
                                                                     "slow"))
    locked = tmp_path / "locked"
    locked.write_text("a file, so nothing can be written under it")
    assert "cannot write" in one_line(run_video(src, locked / "out.mp4"))
    assert one_line(run_video(src, tmp_path / "out.xyz"))
    assert not out.exists() and not [p for p in tmp_path.rglob("*") if "ganrt" in p.name]


def test_an_encoder_that_crashes_is_named_in_one_line(tmp_path):
    """An encoder library that crashes (the bundled x265 aborts on tiny 10-bit frames) takes ffmpeg down with
    a signal: the error names the encoder and what to try, and leaves no temporary files."""
    import pytest

    from ganrt.errors import VideoError
    from ganrt.pipelines.video.output import EncodeSettings, SegmentEncoder

    encoder = SegmentEncoder(tmp_path, 0, 48, 32, 10, EncodeSettings(codec="libx265"))
    encoder.write(np.zeros((32, 48, 3), np.uint8))
    os.kill(encoder.proc.pid, signal.SIGABRT)
    encoder.proc.wait()  # gone before its input is closed: the frame still buffered meets a broken pipe
    with pytest.raises(VideoError, match=r"ffmpeg crashed \(SIGABRT\) inside the libx265 encoder .*try another --codec"):
        encoder.finish()
    assert list(tmp_path.iterdir()) == []


def test_a_frame_that_fails_even_in_fp32_stops_the_run(tmp_path, load):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in load("realesr-animevideov3").module.state_dict().items()}
    state["body.34.bias"][0] = float("nan")  # every output pixel of one channel becomes NaN, in any precision
    broken = tmp_path / "broken.safetensors"
    save_file(state, str(broken))
    src = make_video(tmp_path / "clip.mkv", seconds=1)
    out = tmp_path / "out.mkv"
    result = cli("video", str(src), str(out), "-m", str(broken), "--backend", "torch",
                                 "--device", "cpu", "--precision", "bf16", "-q")
    line = one_line(result)
    assert "could not be restored" in line and "fp32" in line
    assert not out.exists()


@pytest.mark.slow
def test_kill_then_resume_gives_every_frame_exactly_once(tmp_path):
    src = make_video(tmp_path / "long.mkv", seconds=12, size="64x48")
    reference = tmp_path / "reference.mkv"
    assert run_video(src, reference).exit_code == 0
    out = tmp_path / "resumed.mkv"
    cmd = [sys.executable, "-m", "ganrt", "video", str(src), str(out), *FAST]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    work = tmp_path / ".resumed.mkv.ganrt-work"
    state = work / "state.json"

    def recorded() -> dict:
        try:  # the state file is replaced atomically, so a read sees the old or the new one
            return json.loads(state.read_text())["done"]
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    wait_for(lambda: "0" in recorded(), 120, proc)  # the segment file lands first, then the state records it
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # a killed run never leaves something that looks finished
    kept = recorded()
    assert kept.get("0") == 40 and len(kept) < 3  # 4-second segments at 10 fps: the first one survived the kill
    resumed = subprocess.run(cmd[:-1], check=False, capture_output=True, text=True, timeout=300)  # without -q: it says so
    assert "resuming" in resumed.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert count_video_packets(out) == count_video_packets(reference) == 120
    got, want = frames_of(out), frames_of(reference)
    assert len(got) == len(want) == 120
    for i, (a, b) in enumerate(zip(got, want)):
        assert np.abs(a.astype(int) - b).max() <= 2, f"frame {i} differs from the uninterrupted run"
    assert abs(audio_seconds(out) - audio_seconds(reference)) < 1e-3


def test_engine_batch_is_bounded_by_the_memory_budget(photos, load):
    """--batch frames are read together, but each engine call takes only as many as the budget holds."""
    from ganrt.pipelines.video.pipeline import FrameRestorer, VideoSettings
    from ganrt.runtime.memory import TilePolicy, activation_bytes_per_pixel
    from ganrt.runtime.registry import create_engine

    model = load("realesr-animevideov3")
    frame = photos["chelsea_45x59"]
    frames = [frame, frame[::-1].copy(), frame[:, ::-1].copy(), frame]
    per_px = activation_bytes_per_pixel(model)
    one_frame = per_px * 45 * 59  # a whole frame runs as it is: no border, no overlap
    policy = TilePolicy(None, per_px, budget=int(one_frame * 2.5))  # room for two whole frames per call
    with create_engine(model, backend="onnxruntime", device="cpu", precision="fp32") as engine:
        calls = []
        infer = engine.infer_pixels
        engine.infer_pixels = lambda tiles, maxval, out_dtype=None: calls.append(len(tiles)) or infer(tiles, maxval, out_dtype)
        restored = FrameRestorer(engine, VideoSettings(tile=policy, batch=4), (59 * 4, 45 * 4))(frames)
        engine.infer_pixels = infer
        singles = [FrameRestorer(engine, VideoSettings(tile=policy, batch=1), (59 * 4, 45 * 4))([f])[0] for f in frames]
    assert calls == [2, 2]  # not one call of 4
    assert len(restored) == 4 and all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(restored, singles))
