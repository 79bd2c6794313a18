"""A TIFF's orientation, left to ganrt to apply once.

A TIFF states in each page's IFD how its stored pixels are turned (tag 274, the values EXIF uses). Who
applies it differs between decoder versions: Pillow 13 turns a TIFF while loading it (and garbles an
uncompressed page turned by 90°, whose size it swaps before reading the strips), OpenCV 5 turns every page
it decodes, whatever the flags, older versions of both turn nothing. ganrt turns the pixels itself, once,
for every format; so a turned TIFF is decoded from a copy of its bytes in which every page says 1 (upright),
and the orientations the file stated are applied afterwards.

``orientations`` reads the IFD chain (a few small reads); ``unturned`` reads the whole file, once, and only
for a TIFF that states another orientation than 1.
"""

from __future__ import annotations

import struct
from pathlib import Path

ORIENTATION = 274
_SHORT, _LONG = 3, 4
_MOST_PAGES = 100_000  # a loop in a damaged IFD chain ends here, if not at an IFD seen before


def _layout(head: bytes) -> tuple[str, bool, int] | None:
    """(byte order, BigTIFF, offset of the first IFD) of a TIFF header, or None for another file."""
    if head[:2] not in (b"II", b"MM") or len(head) < 16:
        return None
    order = "<" if head[:2] == b"II" else ">"
    magic = struct.unpack_from(order + "H", head, 2)[0]
    if magic == 42:
        return order, False, struct.unpack_from(order + "I", head, 4)[0]
    if magic == 43:
        return order, True, struct.unpack_from(order + "Q", head, 8)[0]
    return None


def _walk(read, size: int, head: bytes, clear=None) -> tuple[int, ...]:
    """The orientation each IFD of the chain states (1 where none); ``clear(at)``, where given, is called with
    the file offset of each orientation value that is not 1."""
    layout = _layout(head)
    if layout is None:
        return ()
    order, big, at = layout
    count_fmt, next_fmt, entry, value_at = ("Q", "Q", 20, 12) if big else ("H", "I", 12, 8)
    count_size, next_size = struct.calcsize(count_fmt), struct.calcsize(next_fmt)
    found: list[int] = []
    seen: set[int] = set()
    while at and at not in seen and len(found) < _MOST_PAGES and at + count_size <= size:
        seen.add(at)
        count = struct.unpack(order + count_fmt, read(at, count_size))[0]
        table = read(at + count_size, count * entry + next_size)
        if len(table) < count * entry + next_size:
            break
        value = 1
        for i in range(count):
            tag, kind = struct.unpack_from(order + "HH", table, i * entry)
            if tag == ORIENTATION and kind in (_SHORT, _LONG):
                fmt = order + ("H" if kind == _SHORT else "I")
                value = struct.unpack_from(fmt, table, i * entry + value_at)[0]
                if value != 1 and clear is not None:
                    clear(at + count_size + i * entry + value_at, fmt)
        found.append(value if value in range(1, 9) else 1)
        at = struct.unpack_from(order + next_fmt, table, count * entry)[0]
    return tuple(found)


def orientations(path: Path) -> tuple[int, ...]:
    """The orientation (1–8) each page of the TIFF at ``path`` states, first to last; () for no TIFF."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)

            def read(at: int, n: int) -> bytes:
                fh.seek(at)
                return fh.read(n)

            return _walk(read, size, read(0, 16))
    except (OSError, struct.error):
        return ()


def unturned(path: Path) -> bytes:
    """The bytes of the TIFF at ``path`` with every page's orientation set to 1: what decoders read as stored."""
    data = bytearray(Path(path).read_bytes())

    def clear(at: int, fmt: str) -> None:
        struct.pack_into(fmt, data, at, 1)

    _walk(lambda at, n: bytes(data[at:at + n]), len(data), bytes(data[:16]), clear)
    return bytes(data)
