"""The metadata packets photos carry, as bytes: XMP properties, the EXIF block, Photoshop's resources (IPTC).

The lowest module of ``imageio``: the density, metadata and reading modules all take these from here.
"""

from __future__ import annotations

import re
import struct


EXIF_HEADER = b"Exif\x00\x00"  # what a JPEG's APP1 puts before the TIFF structure of an EXIF block


def xmp_property(name: bytes, value: bytes = rb"[^\"'<]*") -> re.Pattern:
    """A pattern for an XMP property (``tiff:Orientation``…) written as an attribute (``name="6"``) or an
    element (``<name>6</name>``): group 1 is everything before the value, which ``value`` matches."""
    return re.compile(rb"(" + name + rb"\s*=\s*[\"']|<" + name + rb">\s*)" + value)


def bare_exif(exif: bytes) -> bytes:
    """An EXIF block as the TIFF structure alone, as PNG's ``eXIf`` and JPEG 2000's EXIF box hold it."""
    return exif[len(EXIF_HEADER):] if exif.startswith(EXIF_HEADER) else exif


PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"  # a JPEG's APP13 begins so; a TIFF's tag 34377 holds what follows


IPTC_RESOURCE = 0x0404  # the Photoshop resource that holds the IPTC-IIM records


def photoshop_resources(app13: bytes | None):
    """(resource id, start of its data, size) of each Photoshop resource in an APP13 payload; stops at the
    first that runs past the end."""
    if not app13 or not app13.startswith(PHOTOSHOP_HEADER):
        return
    pos = len(PHOTOSHOP_HEADER)
    while pos + 8 <= len(app13) and app13[pos:pos + 4] == b"8BIM":
        (rid,), name_length = struct.unpack(">H", app13[pos + 4:pos + 6]), app13[pos + 6]
        pos += 6 + (1 + name_length + 1) // 2 * 2  # a Pascal name padded to an even length
        if pos + 4 > len(app13):
            return
        (size,) = struct.unpack(">I", app13[pos:pos + 4])
        pos += 4
        if pos + size > len(app13):
            return
        yield rid, pos, size
        pos += size + size % 2


def iim_of_photoshop(app13: bytes | None) -> bytes | None:
    """The IPTC-IIM records inside Photoshop resources as a JPEG's APP13 holds them; None where there are none."""
    for rid, start, size in photoshop_resources(app13):
        if rid == IPTC_RESOURCE:
            return app13[start:start + size] or None
    return None


def photoshop_of_iim(iim: bytes) -> bytes:
    """Photoshop resources as a JPEG's APP13 holds them, with one resource: the IPTC-IIM records ``iim``."""
    padded = iim + b"\x00" * (len(iim) % 2)
    return PHOTOSHOP_HEADER + b"8BIM" + struct.pack(">HHI", IPTC_RESOURCE, 0, len(iim)) + padded
