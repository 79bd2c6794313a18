"""EXIF in TIFF files: the camera, the dates, the author and the GPS position of a photo kept in a TIFF master.

A TIFF holds EXIF the way a camera's JPEG does inside its APP1 segment: descriptive tags (Make,
Model, DateTime, Artist, Copyright…) in the first IFD, next to the tags that describe the pixels, and
pointers to an Exif IFD (exposure, DateTimeOriginal) and a GPS IFD. tifffile writes ganrt's TIFFs
(16-bit colour, which Pillow cannot) but no sub-IFD, and it refuses those two pointer tags. So a TIFF
is written in two steps:

1. ``ifd0_tags`` turns an EXIF block (``parse``d) into tifffile ``extratags``: the descriptive tags;
2. ``append_sub_ifds`` appends the sub-IFDs to the written file, serialised by Pillow for the offset
   they land at, then a copy of the first IFD with the two pointers added, and points the header at
   that copy (the old one, a few hundred bytes, stays unreferenced).

Reading goes the other way: ``descriptive_exif`` keeps a TIFF's descriptive tags and sub-IFDs and
drops its image-structure tags (strip offsets, sizes, Photoshop's layers), which mean nothing, or
far too much, inside another file's EXIF.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ganrt.pipelines.notes import note

EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
# first-IFD tags that describe the photo, not its pixels: DocumentName, ImageDescription, Make, Model,
# PageName, Software, DateTime, Artist, HostComputer, Copyright, Rating, RatingPercent, and the XP*
# tags where Windows Explorer keeps title, comment, author, keywords and subject
DESCRIPTIVE = (269, 270, 271, 272, 285, 305, 306, 315, 316, 33432, 18246, 18249, 40091, 40092, 40093, 40094, 40095)
ORIENTATION, RESOLUTION = 274, (282, 283, 296)
LONG = 4


def parse(exif: bytes | None):
    """A Pillow ``Exif`` of an EXIF block, or None for none."""
    if not exif:
        return None
    from PIL import Image

    parsed = Image.Exif()
    parsed.load(exif)
    return parsed


def descriptive_exif(exif) -> None:
    """Drop, in place, the tags of a TIFF's first IFD (a Pillow ``Exif``) that are not descriptive,
    keeping orientation, resolution and the Exif and GPS sub-IFDs."""
    keep = {*DESCRIPTIVE, ORIENTATION, *RESOLUTION, EXIF_IFD, GPS_IFD}
    for tag in (EXIF_IFD, GPS_IFD):  # read now, while the file is open: ``tobytes`` writes them out later
        if tag in exif:
            exif.get_ifd(tag)
    for tag in list(exif):
        if tag not in keep:
            del exif[tag]


def text_bytes(value: str) -> bytes:
    """The bytes of an EXIF text as the file held them. Pillow reads EXIF text as Latin-1, so encoding it
    back so gives the very bytes read (UTF-8 names and captions included); Pillow's own writer replaces
    every byte beyond ASCII with '?' (a UTF-8 'Grand-père' became 'Grand-p??re'). Text made in Python
    that is not Latin-1 goes out as UTF-8, as exiftool writes it."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


class _ReadText(str):
    """EXIF text that Pillow's writer encodes back to the bytes it was read from: Pillow calls
    ``encode("ascii", "replace")`` on a text value, and still types the tag ASCII because it is a ``str``
    (bytes would turn an ASCII tag Pillow does not know, LensModel say, into an UNDEFINED one)."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:  # noqa: ARG002
        return text_bytes(str(self))


def _keep_text(table) -> None:
    """Make, in place, the texts of an IFD (an ``Exif`` or a dict) go back to a file as they were read."""
    for tag, value in list(table.items()):
        if isinstance(value, str) and not value.isascii():
            table[tag] = _ReadText(value)


def exif_tobytes(exif) -> bytes:
    """A Pillow ``Exif`` (first IFD, Exif and GPS sub-IFDs) serialised with its text as it was read."""
    _keep_text(exif)
    for tag in (EXIF_IFD, GPS_IFD):
        if tag in exif:  # a pointer read from a file, or the sub-IFD itself, as a dict
            _keep_text(exif[tag] if isinstance(exif[tag], dict) else exif.get_ifd(tag))
    return exif.tobytes()


def _extratag(tag: int, value) -> tuple | None:
    """One tifffile ``extratags`` entry for a descriptive tag's value, or None for a value of another form."""
    if isinstance(value, str):
        data = text_bytes(value) + b"\x00"
        return tag, 2, len(data), data, True  # ASCII, its bytes as they were read
    if isinstance(value, bytes):
        return tag, 1, len(value), value, True
    if isinstance(value, int) and 0 <= value < 2**16:
        return tag, 3, 1, value, True
    if isinstance(value, tuple) and value and all(isinstance(v, int) and 0 <= v < 256 for v in value):
        return tag, 1, len(value), bytes(value), True  # the XP* tags as Pillow reads them
    return None


def ifd0_tags(exif) -> list[tuple]:
    """tifffile ``extratags`` for the descriptive tags of ``exif`` (``parse``'s result; tifffile is to
    write no description and no software tag of its own)."""
    if exif is None:
        return []
    return [entry for tag in DESCRIPTIVE
            if (value := exif.get(tag)) is not None and (entry := _extratag(tag, value)) is not None]


def append_sub_ifds(path: Path, exif) -> None:
    """Append the Exif and GPS sub-IFDs of ``exif`` (``parse``'s result) to the TIFF at ``path`` and make
    its first IFD point at them."""
    if exif is None:
        return
    from PIL import Image

    subs = {tag: dict(sub) for tag in (EXIF_IFD, GPS_IFD) if (sub := exif.get_ifd(tag))}
    if not subs:
        return
    for sub in subs.values():
        _keep_text(sub)
    if INTEROP_IFD in subs.get(EXIF_IFD, {}):
        subs[EXIF_IFD][INTEROP_IFD] = dict(exif.get_ifd(INTEROP_IFD))
    with open(path, "r+b") as fh:
        head = fh.read(8)
        if head[:4] not in (b"II*\x00", b"MM\x00*"):
            note(path.name, "a BigTIFF: written without its Exif and GPS sub-IFDs")
            return
        order = "<" if head[:2] == b"II" else ">"
        first = struct.unpack(order + "I", head[4:8])[0]
        fh.seek(first)
        count = struct.unpack(order + "H", fh.read(2))[0]
        table = fh.read(12 * count + 4)
        entries = {struct.unpack_from(order + "H", table, 12 * i)[0]: table[12 * i:12 * i + 12] for i in range(count)}
        carrier = Image.Exif()
        carrier.endian = order
        for tag, sub in subs.items():
            carrier[tag] = sub
        end = fh.seek(0, 2)
        at = end + end % 2  # IFDs start on a word boundary
        body = carrier.tobytes(at)[14:]  # after "Exif\0\0" and the TIFF header: the carrier IFD, then the sub-IFDs
        for i in range(struct.unpack_from(order + "H", body, 0)[0]):
            tag, _kind, _n, offset = struct.unpack_from(order + "HHII", body, 2 + 12 * i)
            entries[tag] = struct.pack(order + "HHII", tag, LONG, 1, offset)
        ifd_at = at + len(body) + (at + len(body)) % 2
        ifd = struct.pack(order + "H", len(entries)) + b"".join(entries[t] for t in sorted(entries)) + table[-4:]
        fh.write(b"\x00" * (at - end) + body + b"\x00" * (ifd_at - at - len(body)) + ifd)
        fh.seek(4)
        fh.write(struct.pack(order + "I", ifd_at))
