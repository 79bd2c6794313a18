"""The ffmpeg binary bundled by imageio-ffmpeg: probing, encoder checks, packet counts.

imageio-ffmpeg ships one static ffmpeg (no ffprobe), so streams are read from
``ffmpeg -i``'s stream listing, and frame counts from a stream copy to the
null muxer (packets are counted, nothing is decoded). Every path handed to
ffmpeg goes through ``ff_path`` (``file:`` + the absolute path), so a name with
a colon is never read as a protocol (``concat:…``, ``http:…``).
"""

from __future__ import annotations

import functools
import math
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ganrt.errors import UsageError, VideoError

_STREAM = re.compile(r"Stream #0:(\d+)(?:\[\w+\])?(?:\((\w+)\))?: (Video|Audio|Subtitle|Data|Attachment): (\w+)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_TBR = re.compile(r"(\d+(?:\.\d+)?)(k?) tbr")
_STREAM_DURATION = re.compile(r"^\s+DURATION\s*:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")
_SIZE = re.compile(r", (\d{2,5})x(\d{2,5})[ ,\[]")
_SAR = re.compile(r"\[?SAR (\d+):(\d+) DAR")  # the pixels' shape: 8:9 for NTSC DV, 32:27 for anamorphic PAL DVD
# "(tv, bt709, progressive)": one name for matrix, primaries and transfer alike;
# "(tv, bt2020nc/bt2020/smpte2084)": matrix/primaries/transfer; "(pc, gbr/bt2020/smpte2084)": RGB (no matrix)
_COLOR = re.compile(r"\((tv|pc)?,? ?(bt709|bt470bg|smpte170m|bt2020nc|bt2020c|gbr|unknown)(?:/([\w-]+)/([\w-]+))?")
# the YUV matrix that goes with a source's primaries, where the source has none of its own (RGB video, PNG)
MATRIX_OF_PRIMARIES = {"bt709": "bt709", "bt470bg": "bt470bg", "smpte170m": "smpte170m", "bt2020": "bt2020nc",
                       "smpte432": "bt709"}
_PIX_FMT = re.compile(r"Video: [^,]*, ((?:yuvj?a?|gbra?p|gray|nv|p0|rgba?|bgra?|x2rgb|x2bgr|ya)[0-9a-z]*)\b")
_DEEP = re.compile(r"(?:p|gray|ya)(9|10|12|14|16)(?:le|be)|^p0(10|12|16)|^(?:rgba?|bgra?)(48|64)|^x2(?:rgb|bgr)(10)")


def pixel_bits(pix_fmt: str | None) -> int:
    """Bits per sample of an ffmpeg pixel format name (yuv420p10le: 10; rgb48le: 16); 8 when shallower
    or unknown."""
    found = _DEEP.search(pix_fmt or "")
    if found is None:
        return 8
    value = int(next(g for g in found.groups() if g))
    return 16 if value in (48, 64) else value


_CHROMA_422 = re.compile(r"^(?:yuvj?a?422|nv16|nv20|y210|p210|p216|uyvy422|yuyv422)")
_CHROMA_444 = re.compile(r"^(?:yuvj?a?444|gbra?p|rgb|bgr|argb|abgr|x2rgb|x2bgr|0rgb|0bgr|nv24|nv42|p410|p416)")


def pixel_chroma(pix_fmt: str | None) -> str:
    """How an ffmpeg pixel format samples colour: "444" (full, RGB too), "422" (half across) or "420"
    (half across and down, and anything coarser or unknown)."""
    name = pix_fmt or ""
    if _CHROMA_444.search(name):
        return "444"
    return "422" if _CHROMA_422.search(name) else "420"


def frame_dtype(bits: int):
    """The type of decoded frames for a source of ``bits`` per sample: uint8, or uint16 above 8."""
    import numpy as np

    return np.dtype(np.uint16 if bits > 8 else np.uint8)


def raw_rgb(bits: int) -> str:
    """The raw format frames of ``frame_dtype(bits)`` travel to and from ffmpeg in: rgb24, or rgb48le
    (little-endian 16-bit) above 8 bits."""
    return "rgb48le" if bits > 8 else "rgb24"


def ff_path(path: str | os.PathLike) -> str:
    """A path as ffmpeg must be given it: always a file, whatever characters its name holds."""
    return "file:" + os.path.abspath(path)


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise VideoError("imageio-ffmpeg is not installed; `pip install imageio-ffmpeg` (a ganrt dependency)") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def run(args: list[str], *, what: str, timeout: float | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run ffmpeg; on failure (when ``check``) raise VideoError with its last meaningful line."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, text=True,
                          errors="replace", timeout=timeout)  # ffmpeg prints file names as their bytes
    if check and proc.returncode != 0:
        raise VideoError(f"{what} failed: {last_error_line(proc.stderr)}")
    return proc


def last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line.startswith(("frame=", "size=", "video:", "Press [q]")):
            return line[:300]
    return "ffmpeg exited with an error"


@dataclass
class StreamInfo:
    index: int
    kind: str  # video | audio | subtitle | data | attachment
    codec: str
    language: str | None = None


@dataclass
class MediaInfo:
    path: Path
    streams: list[StreamInfo] = field(default_factory=list)
    duration: float | None = None
    fps: float | None = None  # average frame rate
    base_rate: float | None = None  # "tbr": the rate every frame time is a multiple of (VFR sources too)
    rotation: float = 0.0  # display rotation; decoded frames come out rotated by ffmpeg
    video_duration: float | None = None  # the video stream's own duration, where the container says it
    width: int | None = None
    height: int | None = None
    colorspace: str | None = None  # the YUV matrix (bt709, bt2020nc, …)
    color_range: str | None = None
    primaries: str | None = None  # as ffmpeg names them, when the file says
    transfer: str | None = None  # bt709, smpte2084 (PQ), arib-std-b67 (HLG), …
    pix_fmt: str | None = None  # the decoded pixel format (yuv420p, yuv420p10le, …)
    sar: tuple[int, int] | None = None  # sample (pixel) aspect ratio, where the pixels are not square

    @property
    def bits(self) -> int:
        """Bits per sample of the video (8 unless its pixel format says more)."""
        return pixel_bits(self.pix_fmt)

    @property
    def chroma(self) -> str:
        """How the video samples colour: "420", "422" or "444" (``pixel_chroma``)."""
        return pixel_chroma(self.pix_fmt)

    def of_kind(self, kind: str) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == kind]

    @property
    def frame_rate(self) -> float | None:
        """The rate frames are read at: the base rate, so gaps of a variable-rate source are filled."""
        if self.base_rate and 0 < self.base_rate <= 240:
            return self.base_rate
        return self.fps

    @property
    def video_seconds(self) -> float | None:
        """How long the video stream lasts, where the file says it (a stream tag, or the container's
        duration when the video is its only stream)."""
        if self.video_duration is not None:
            return self.video_duration
        return self.duration if len(self.streams) == 1 else None

    @property
    def display_sar(self) -> tuple[int, int] | None:
        """The pixel aspect ratio of decoded frames: a quarter turn swaps it, as it swaps their sides."""
        if self.sar is None:
            return None
        return (self.sar[1], self.sar[0]) if round(abs(self.rotation)) % 180 == 90 else self.sar

    @property
    def display_size(self) -> tuple[int, int] | None:
        """(width, height) of decoded frames, after the display rotation ffmpeg applies."""
        if self.width is None or self.height is None:
            return None
        if round(abs(self.rotation)) % 180 == 90:
            return self.height, self.width
        return self.width, self.height


def pixel_aspect(num: int, den: int) -> tuple[int, int] | None:
    """A sample aspect ratio in lowest terms; None for square pixels or none stated (0:1)."""
    if num <= 0 or den <= 0 or num == den:
        return None
    g = math.gcd(num, den)
    return num // g, den // g


def probe(path: Path) -> MediaInfo:
    """Streams, duration, frame rate and size of a media file, from ``ffmpeg -i``."""
    text = run(["-i", ff_path(path)], what="probing", check=False).stderr  # no output file: ffmpeg always exits 1
    if "Input #0" not in text:
        raise VideoError(f"{path.name} is not a video ffmpeg can read ({last_error_line(text)})")
    info = MediaInfo(path)
    in_first_video = False
    for line in text.splitlines():
        found = _STREAM.search(line)
        if not found and in_first_video and (tag := _STREAM_DURATION.search(line)) is not None:
            h, m, sec = tag.groups()
            info.video_duration = int(h) * 3600 + int(m) * 60 + float(sec)
        if found:
            in_first_video = found.group(3) == "Video" and info.width is None
            kind = found.group(3).lower()
            info.streams.append(StreamInfo(int(found.group(1)), kind, found.group(4), found.group(2)))
            if kind == "video" and info.width is None:
                if (fps := _FPS.search(line)) is not None:
                    info.fps = float(fps.group(1))
                if (tbr := _TBR.search(line)) is not None:
                    info.base_rate = float(tbr.group(1)) * (1000 if tbr.group(2) else 1)
                if (size := _SIZE.search(line)) is not None:
                    info.width, info.height = int(size.group(1)), int(size.group(2))
                if (sar := _SAR.search(line)) is not None:
                    info.sar = pixel_aspect(int(sar.group(1)), int(sar.group(2)))
                if (color := _COLOR.search(line)) is not None:
                    info.color_range, info.colorspace = color.group(1), color.group(2)
                    if color.group(3) is None:  # one name: ffmpeg found the three names equal
                        info.primaries = info.transfer = color.group(2)
                    else:
                        info.primaries, info.transfer = color.group(3, 4)
                    info.primaries, info.transfer = (v if v not in ("unknown", "gbr") else None
                                                     for v in (info.primaries, info.transfer))
                    if info.colorspace in ("gbr", "unknown"):
                        info.colorspace = MATRIX_OF_PRIMARIES.get(info.primaries or "")
                if (pix := _PIX_FMT.search(line)) is not None:
                    info.pix_fmt = pix.group(1)
    if (rot := _ROTATION.search(text)) is not None:
        info.rotation = float(rot.group(1))
    if (dur := _DURATION.search(text)) is not None:
        h, m, s = dur.groups()
        info.duration = int(h) * 3600 + int(m) * 60 + float(s)
    return info


_FIELD_FLAG = re.compile(r" i:([TBP?]) ")


def field_order(path: Path, frames: int = 8) -> str | None:
    """"tff" or "bff" where most of the first ``frames`` frames are coded interlaced (the decoder's own flag
    per frame, as the showinfo filter prints it: a DV or MPEG-2 tape transfer says so even where its
    container does not), else None."""
    try:
        proc = run(["-i", ff_path(path), "-map", "0:v:0", "-frames:v", str(frames), "-vf", "showinfo", "-f", "null",
                    "-"], what="reading the field order", timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return None  # the decoding itself will say what is wrong with the file
    flags = _FIELD_FLAG.findall(proc.stderr)
    top, bottom = flags.count("T"), flags.count("B")
    if not flags or top + bottom <= len(flags) // 2:
        return None
    return "tff" if top >= bottom else "bff"


@functools.lru_cache(maxsize=1)
def encoders() -> dict[str, str]:
    """Encoder name → kind ('V' video, 'A' audio, 'S' subtitle) of this ffmpeg."""
    proc = run(["-encoders"], what="listing ffmpeg encoders")
    names = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS" and parts[1] != "=":
            names[parts[1]] = parts[0][0]
    return names


@functools.lru_cache(maxsize=None)
def encoder_pix_fmts(codec: str) -> tuple[str, ...]:
    """The pixel formats this ffmpeg's ``codec`` encoder takes; () when it does not say (or is missing)."""
    proc = run(["-hide_banner", "-h", f"encoder={codec}"], what=f"asking ffmpeg about {codec}", check=False)
    found = re.search(r"Supported pixel formats:([^\n]*)", proc.stdout)
    return tuple(found.group(1).split()) if found else ()


def check_encoder(codec: str, container: str, codec_args: list[str]) -> None:
    """Fail early, with one clear line, when this ffmpeg cannot encode ``codec`` into ``container`` with
    ``codec_args`` (the encoder, its pixel format and options, as the segments will be encoded): one
    frame is encoded before any work starts."""
    if encoders().get(codec) != "V":
        common = [n for n in ("libx264", "libx265", "ffv1", "libvpx-vp9", "libaom-av1", "libsvtav1", "prores_ks")
                  if encoders().get(n) == "V"]
        raise UsageError(f"this ffmpeg has no {codec!r} video encoder; use one of {', '.join(common)}")
    args = ["-f", "lavfi", "-i", "color=c=gray:size=64x64:rate=1:duration=1", "-frames:v", "1", *codec_args]
    proc = run([*args, "-f", container, "-y", "/dev/null"], what=f"encoding {codec} into {container}", timeout=60,
               check=False)
    if proc.returncode != 0:
        reason = refused_setting(proc.stderr)
        if reason is not None:
            raise UsageError(f"--codec {codec} refuses these settings: {reason}")
        raise VideoError(f"encoding {codec} into {container} failed: {last_error_line(proc.stderr)}")


_REFUSED = re.compile(r"invalid preset|Error setting (?:option|preset)|Unable to parse|out of range", re.IGNORECASE)


def refused_setting(stderr: str) -> str | None:
    """The line where ffmpeg (or the encoder) says which option value it refused, with the values it
    would take when it lists them; None when the failure is of another kind."""
    lines = [re.sub(r"^(?:\[[^]]*\]\s*|\w+ \[error\]:\s*)+", "", ln).strip() for ln in stderr.splitlines()]
    reason = next((ln for ln in lines if _REFUSED.search(ln)), None)
    if reason is None:
        return None
    choices = next((ln for ln in lines if ln.startswith("Possible presets")), None)
    return reason.rstrip(".") + (f" ({choices})" if choices else "")


def count_video_packets(path: Path) -> int:
    """Frames in the first video stream, counted by a stream copy (no decoding): one framecrc line per
    packet. (The progress line's ``frame=`` is not it: ffmpeg 7.0 leaves it out of stream copies.)"""
    proc = run(["-loglevel", "error", "-i", ff_path(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"],
               what="counting frames")
    lines = proc.stdout.splitlines()
    if not any(ln.startswith("#tb") for ln in lines):
        raise VideoError(f"could not count the frames of {path.name}")
    return sum(1 for ln in lines if ln and not ln.startswith("#"))


def audio_seconds(path: Path, index: int = 0, rate: int = 48000) -> float:
    """Exact duration of an audio stream, from its decoded samples."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", ff_path(path), "-map", f"0:a:{index}",
                           "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"], capture_output=True)
    if proc.returncode != 0:
        raise VideoError(f"could not decode audio of {path.name}")
    return len(proc.stdout) / 2 / rate


MUXER = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
