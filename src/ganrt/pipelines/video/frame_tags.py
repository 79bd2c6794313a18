"""What a frame PNG of ``ganrt video --frames-dir`` says beyond its pixels: its colour (``cICP``), its pixels'
shape (a unit-0 ``pHYs``) and the frame rate (a ``tEXt`` chunk), written and read back, so a folder of frames
encodes back into the video it came from."""

from __future__ import annotations

import struct
from pathlib import Path

from ganrt.pipelines.imageio.metadata import png_chunk, png_head_chunks
from ganrt.pipelines.video.ffmpeg import pixel_aspect

FRAME_RATE_KEY = "ganrt frame rate"  # tEXt keyword of the frames ``ganrt video --frames-dir`` writes
# ITU-T H.273 code points of the colour properties ffmpeg names (as ``MediaInfo`` holds them)
CICP_PRIMARIES = {"bt709": 1, "bt470bg": 5, "smpte170m": 6, "bt2020": 9, "smpte432": 12}
CICP_TRANSFER = {"bt709": 1, "gamma28": 5, "smpte170m": 6, "iec61966-2-1": 13, "bt2020-10": 14, "bt2020-12": 15,
                 "smpte2084": 16, "arib-std-b67": 18}


def png_cicp_chunk(primaries: str | None, transfer: str | None) -> bytes:
    """A PNG ``cICP`` chunk for frames of these primaries and transfer, or b"" where they are not both
    known (full-range RGB: matrix 0, range flag 1)."""
    p, t = CICP_PRIMARIES.get(primaries or ""), CICP_TRANSFER.get(transfer or "")
    return png_chunk(b"cICP", bytes([p, t, 0, 1])) if p and t else b""


def png_aspect_chunk(sar: tuple[int, int]) -> bytes:
    """A PNG ``pHYs`` chunk of unit 0 (no unit: the pixels' shape alone) for a sample aspect ratio
    width:height; a pixel's width is 1 / (its x count per unit), so the counts are height:width."""
    return png_chunk(b"pHYs", struct.pack(">IIB", sar[1], sar[0], 0))


def read_png_aspect(path: Path) -> tuple[int, int] | None:
    """The sample aspect ratio (width:height, lowest terms) a PNG's unit-0 ``pHYs`` chunk gives; None for
    square pixels, a physical unit or no such chunk."""
    for kind, payload in png_head_chunks(path):
        if kind == b"pHYs" and len(payload) == 9 and payload[8] == 0:
            x, y = struct.unpack(">II", payload[:8])
            return pixel_aspect(y, x)
    return None


def read_png_cicp(path: Path) -> tuple[str, str] | None:
    """(primaries, transfer) as ffmpeg names them, from a PNG's ``cICP`` chunk; None when the file is not a
    PNG, has no such chunk before its image data, or names code points ganrt does not know."""
    for kind, payload in png_head_chunks(path):
        if kind == b"cICP" and len(payload) == 4:
            primaries = next((k for k, v in CICP_PRIMARIES.items() if v == payload[0]), None)
            transfer = next((k for k, v in CICP_TRANSFER.items() if v == payload[1]), None)
            return (primaries, transfer) if primaries and transfer else None
    return None


def read_png_text(path: Path, keyword: str) -> str | None:
    """The text of a PNG's ``tEXt`` chunk of this keyword before its image data; None where it has none."""
    key = keyword.encode("latin-1") + b"\x00"
    for kind, payload in png_head_chunks(path):
        if kind == b"tEXt" and payload.startswith(key):
            return payload[len(key):].decode("latin-1")
    return None
