"""What Pillow and OpenCV leave out of a JPEG 2000 file: its bit depth, its ICC profile, its EXIF, XMP and IPTC.

A JP2 file is a sequence of boxes (ISO/IEC 15444-1, annex I): a 4-byte big-endian
length (1: an 8-byte length follows the type; 0: to the end of the file), a
4-byte type, the contents. The header superbox ``jp2h`` holds ``ihdr`` (size,
component count, bits per component), ``bpcc`` (bits per component, when they
differ), ``colr`` (an enumerated colour space, or an ICC profile) and ``res `` (the
resolution, in grid points per metre). A raw
codestream (``.j2k``) starts with the SOC and SIZ markers instead.

Pillow decodes JPEG 2000 colour images to 8 bits and reads no ICC profile;
OpenCV keeps 16 bits but returns 12-bit samples unscaled. These few readers
and writers fill those gaps; the pixels stay with the libraries.

EXIF, XMP and IPTC live in top-level ``uuid`` boxes, each named by a 16-byte id
(as exiftool and Exiv2 write and read them): EXIF as a TIFF structure,
XMP as its packet, IPTC as IIM records. ganrt writes them right after the
header box, before the codestream.
"""

from __future__ import annotations

import struct
from pathlib import Path

SOC_SIZ = b"\xff\x4f\xff\x51"
EXIF_UUID = b"JpgTiffExif->JP2"
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
IPTC_UUID = bytes.fromhex("33c7a4d2b81d4723a0baf1a3e097ad38")
UUID_LIMIT = 16 << 20  # larger uuid boxes (a GeoJP2 grid, a vendor's blob) are not metadata ganrt carries
HEADER_BYTES = 1 << 16  # enough for a raw codestream's SIZ marker
METHOD_RESTRICTED_ICC, METHOD_ANY_ICC = 2, 3  # colr methods that carry a profile (1: an enumerated space)


def _box_head(head: bytes) -> tuple[int, bytes, int]:
    """(length, type, header size) of the box whose first bytes are ``head`` (8 or 16 of them); length 0
    means "to the end of the file"."""
    length, kind = struct.unpack(">I4s", head[:8])
    if length == 1 and len(head) >= 16:
        return struct.unpack(">Q", head[8:16])[0], kind, 16
    return length, kind, 8


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, contents start, contents end, box start) of each box in ``data[start:end]``; stops at a
    box that runs past the end (a damaged file); the codestream box may."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        length, kind, head = _box_head(data[pos:min(pos + 16, end)])
        if length == 0:
            length = end - pos
        if length < head or pos + length > end and kind != b"jp2c":
            return
        yield kind.decode("latin-1"), pos + head, min(pos + length, end), pos
        pos += length


def _header_box(data: bytes):
    for kind, start, stop, at in boxes(data):
        if kind == "jp2h":
            return start, stop, at
    return None


def _required_header(data: bytes) -> tuple[int, int, int]:
    header = _header_box(data)
    if header is None:
        raise ValueError("not a JP2 file (no header box)")
    return header


def _top_level(fh):
    """(type, contents start, contents length) of each top-level box of the open file, reading box headers
    only; stops at a box too short for its own header (a damaged file)."""
    pos = 0
    while True:
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            return
        length, kind, size = _box_head(head)
        if length == 0:  # to the end of the file
            length = fh.seek(0, 2) - pos
        if length < size:
            return
        yield kind, pos + size, length - size
        pos += length


def _header_of(fh) -> bytes:
    """The contents of the open file's ``jp2h`` box (b"" when it has none), reading box headers only."""
    for kind, start, size in _top_level(fh):
        if kind == b"jp2h":
            fh.seek(start)
            return fh.read(size)
    return b""


def header_facts(path: Path) -> tuple[int, bytes | None]:
    """(the largest bits per sample of any component, 0 when unknown; the ICC profile the ``colr`` box
    carries, or None for an enumerated colour space), from one pass over the file's headers."""
    with open(path, "rb") as fh:
        first = fh.read(HEADER_BYTES)
        if first.startswith(SOC_SIZ):  # raw codestream: SOC SIZ Lsiz Rsiz, 8 × 4-byte sizes and offsets, Csiz
            if len(first) < 42:
                return 0, None
            count = struct.unpack(">H", first[40:42])[0]  # Csiz, then Ssiz XRsiz YRsiz per component
            depths = [(first[42 + 3 * i] & 0x7F) + 1 for i in range(count) if 42 + 3 * i < len(first)]
            return max(depths, default=0), None
        header = _header_of(fh)
    bits, per_component, icc = 0, [], None
    for kind, start, stop, _ in boxes(header):
        if kind == "ihdr" and stop - start >= 14 and header[start + 10] != 0xFF:
            bits = (header[start + 10] & 0x7F) + 1
        elif kind == "bpcc":
            per_component = [(b & 0x7F) + 1 for b in header[start:stop]]
        elif kind == "colr" and icc is None and stop - start > 3 \
                and header[start] in (METHOD_RESTRICTED_ICC, METHOD_ANY_ICC):
            icc = bytes(header[start + 3:stop]) or None
    return bits or max(per_component, default=0), icc


def _box(kind: bytes, contents: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(contents), kind) + contents


def _with_header(data: bytes, header: tuple[int, int, int], children: list[bytes]) -> bytes:
    """``data`` with its header box (``_header_box``'s result) made of ``children`` instead."""
    _start, stop, at = header
    return data[:at] + _box(b"jp2h", b"".join(children)) + data[stop:]


def with_icc(data: bytes, icc: bytes) -> bytes:
    """A JP2 file (``data``) whose ``colr`` box carries ``icc`` in place of what it said before.

    Written as a restricted ICC profile (method 2), the form JP2 readers take; the box keeps its place
    in the header, after ``ihdr`` (and ``bpcc``), as the standard orders them."""
    header = _required_header(data)
    start, stop, _at = header
    colr = _box(b"colr", bytes([METHOD_RESTRICTED_ICC, 0, 0]) + icc)
    children, placed = [], False
    for kind, c_start, c_stop, c_at in boxes(data, start, stop):
        if kind == "colr":
            if not placed:
                children.append(colr)
                placed = True
            continue
        children.append(data[c_at:c_stop])
    if not placed:
        keep = 2 if len(children) > 1 and children[1][4:8] == b"bpcc" else 1
        children.insert(keep, colr)
    return _with_header(data, header, children)


def with_resolution(data: bytes, resc: bytes) -> bytes:
    """A JP2 file (``data``) whose header ends with a ``res `` box holding the capture resolution ``resc``
    (``density.jp2_resc``), in place of any it had."""
    header = _required_header(data)
    start, stop, _at = header
    children = [data[c_at:c_stop] for kind, _c_start, c_stop, c_at in boxes(data, start, stop) if kind != "res "]
    return _with_header(data, header, children + [_box(b"res ", _box(b"resc", resc))])


def uuid_boxes(path: Path) -> dict[bytes, bytes]:
    """{16-byte id: contents after the id} of the file's top-level ``uuid`` boxes (the first of each id),
    reading box headers and those boxes only; {} for a raw codestream."""
    found: dict[bytes, bytes] = {}
    with open(path, "rb") as fh:
        if fh.read(4) == SOC_SIZ[:4]:
            return found
        for kind, start, size in _top_level(fh):
            if kind == b"uuid" and 16 <= size <= UUID_LIMIT:
                fh.seek(start)
                contents = fh.read(size)
                found.setdefault(contents[:16], contents[16:])
    return found


def with_uuid_boxes(data: bytes, contents: dict[bytes, bytes]) -> bytes:
    """A JP2 file (``data``) with a ``uuid`` box for each {id: contents}, right after its header box."""
    header = _required_header(data)
    stop = header[1]
    extra = b"".join(_box(b"uuid", uuid + payload) for uuid, payload in contents.items() if payload)
    return data[:stop] + extra + data[stop:]
