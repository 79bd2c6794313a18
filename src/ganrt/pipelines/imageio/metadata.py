"""Put EXIF, ICC, colour metadata and pixel density into PNG and JPEG files that OpenCV encoded, without decoding them.

OpenCV encodes straight from our arrays (no copy of a 576 MB output, unlike
Pillow's ``fromarray``) but cannot write EXIF or ICC. These functions stream
the encoded file into a new one with the metadata inserted where the format
specifies it: PNG ``iCCP``/``eXIf`` chunks and the XMP ``iTXt`` right after
``IHDR`` (with ``pHYs``, the density); JPEG ``APP1`` (Exif, then XMP), ``APP2`` (ICC_PROFILE, split
into 64 KB pieces) and ``APP13`` (IPTC) after ``SOI`` and the JFIF ``APP0``, whose density is set.

The PNG chunks of video frames (their colour, pixel shape and frame rate) are ``ganrt.pipelines.video.frame_tags``.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

from ganrt.pipelines.imageio.packets import EXIF_HEADER, bare_exif
from ganrt.pipelines.notes import note

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
ICC_JPEG_CHUNK = 65519  # 65535 - 2 (length) - 14 ("ICC_PROFILE\0" + seq + count)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_head_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the chunks a PNG holds before its image data (within its first 64 KB);
    [] when the file is not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    if not head.startswith(PNG_SIGNATURE):
        return []
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(head):
        (length,), kind = struct.unpack(">I", head[pos:pos + 4]), head[pos + 4:pos + 8]
        if kind in (b"IDAT", b"IEND") or pos + 12 + length > len(head):
            break
        chunks.append((kind, head[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def insert_png_chunks(png: bytes, chunks: bytes) -> bytes:
    """An encoded PNG with ``chunks`` right after its ``IHDR``."""
    cut = _header_end_png(png[:64])
    return png[:cut] + chunks + png[cut:]


def png_text_chunks(text: dict[str, str] | None) -> bytes:
    """PNG text chunks for {keyword: text}: ``tEXt`` where both are Latin-1, else ``iTXt`` (UTF-8); long texts
    compressed (``zTXt``/compressed ``iTXt``). Keywords PNG cannot hold (not 1–79 Latin-1 characters) are
    left out."""
    out = b""
    for keyword, value in (text or {}).items():
        try:
            key = keyword.encode("latin-1")
        except UnicodeEncodeError:
            continue
        if not 1 <= len(key) <= 79 or b"\x00" in key:
            continue
        big = len(value) > 1024
        try:
            data = value.encode("latin-1")
            out += png_chunk(b"zTXt", key + b"\x00\x00" + zlib.compress(data)) if big else \
                png_text_chunk(keyword, value)
        except UnicodeEncodeError:
            data = value.encode("utf-8")
            body = zlib.compress(data) if big else data
            out += png_chunk(b"iTXt", key + b"\x00" + bytes([int(big), 0]) + b"\x00\x00" + body)
    return out


def png_metadata_chunks(exif: bytes | None, icc: bytes | None, xmp: bytes | None = None, dpi=None,
                        text: dict[str, str] | None = None) -> bytes:
    from ganrt.pipelines.imageio.density import png_phys

    out = png_chunk(b"pHYs", png_phys(dpi)) if dpi else b""
    out += png_text_chunks(text)
    if icc:
        out += png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        out += png_chunk(b"eXIf", bare_exif(exif))
    if xmp:  # uncompressed, no language: where XMP readers look for it
        out += png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp)
    return out


def _jpeg_segment(marker: bytes, payload: bytes, what: str) -> bytes:
    """One JPEG marker segment, or b"" with a warning where the payload is more than a segment holds."""
    if len(payload) + 2 <= 0xFFFF:
        return marker + struct.pack(">H", len(payload) + 2) + payload
    note(None, f"the {what} block is {len(payload) // 1024} KB, more than one JPEG segment holds (64 KB); "
                   f"the JPEG is written without {what} (use --format png or tiff to keep it)")
    return b""


def jpeg_metadata_segments(exif: bytes | None, icc: bytes | None, xmp: bytes | None = None,
                           iptc: bytes | None = None, comment: str | None = None) -> bytes:
    out = b""
    if exif:
        payload = EXIF_HEADER + bare_exif(exif)
        out += _jpeg_segment(b"\xff\xe1", payload, "EXIF")
    if xmp:
        out += _jpeg_segment(b"\xff\xe1", XMP_JPEG_HEADER + xmp, "XMP")
    if icc:
        pieces = [icc[i:i + ICC_JPEG_CHUNK] for i in range(0, len(icc), ICC_JPEG_CHUNK)]
        for seq, piece in enumerate(pieces, 1):
            payload = b"ICC_PROFILE\x00" + bytes([seq, len(pieces)]) + piece
            out += b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload
    if iptc:
        out += _jpeg_segment(b"\xff\xed", iptc, "IPTC")
    if comment:
        out += _jpeg_segment(b"\xff\xfe", comment.encode("utf-8"), "comment")
    return out


def _header_end_png(head: bytes) -> int:
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ValueError("not a PNG file written by OpenCV")
    return 8 + 8 + 13 + 4


def _header_end_jpeg(head: bytes) -> int:
    if not head.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file")
    pos = 2
    while head[pos:pos + 2] == b"\xff\xe0":  # keep JFIF APP0 first
        (length,) = struct.unpack(">H", head[pos + 2:pos + 4])
        pos += 2 + length
    return pos


def insert_metadata(src: Path, dst: Path, *, exif: bytes | None, icc: bytes | None, xmp: bytes | None = None,
                    iptc: bytes | None = None, dpi=None, text: dict[str, str] | None = None) -> None:
    """Copy the encoded image ``src`` to ``dst`` with EXIF/ICC/XMP (and, into a JPEG, IPTC) inserted and the
    pixel density set (format from the suffix)."""
    from ganrt.pipelines.imageio.density import jfif_with_dpi

    suffix = src.suffix.lower()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        head = fin.read(64 * 1024)
        if suffix == ".png":
            cut, extra = _header_end_png(head), png_metadata_chunks(exif, icc, xmp, dpi, text)
        elif suffix in (".jpg", ".jpeg"):
            head = jfif_with_dpi(head, dpi) if dpi else head
            cut = _header_end_jpeg(head)
            extra = jpeg_metadata_segments(exif, icc, xmp, iptc, (text or {}).get("Comment"))
        else:
            raise ValueError(f"no metadata insertion for {suffix}")
        fout.write(head[:cut])
        fout.write(extra)
        fout.write(head[cut:])
        shutil.copyfileobj(fin, fout, 1 << 20)


def png_gray_alpha(gray, alpha, *, exif: bytes | None = None, icc: bytes | None = None, xmp: bytes | None = None,
                   dpi=None, text: dict[str, str] | None = None, level: int = 1) -> bytes:
    """A grayscale+alpha PNG (colour type 4, 8 or 16 bit): the layout OpenCV cannot write."""
    import numpy as np

    h, w = gray.shape
    depth = 16 if gray.dtype == np.uint16 else 8
    samples = np.empty((h, w, 2), dtype=">u2" if depth == 16 else np.uint8)
    samples[..., 0], samples[..., 1] = gray, alpha
    rows = np.empty((h, 1 + samples[0].nbytes), np.uint8)
    rows[:, 0] = 0  # filter type None on every row
    rows[:, 1:] = samples.view(np.uint8).reshape(h, -1)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 4, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_metadata_chunks(exif, icc, xmp, dpi, text)
            + png_chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + png_chunk(b"IEND", b""))


def png_text_chunk(keyword: str, text: str) -> bytes:
    """A PNG ``tEXt`` chunk (Latin-1 keyword and text)."""
    return png_chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + text.encode("latin-1"))
