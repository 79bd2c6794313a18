"""Pixel density (dots per inch): read from a scan, scaled with its pixels, written into every place a file keeps it.

A scan of a 6×4 inch print at 300 dpi, upscaled 4×, is still a 6×4 inch print: it is now 1200 dpi.
Written with the scan's 300 dpi it would print at 24×16 inches; written with none (what OpenCV and
tifffile write by default), at whatever the next program assumes. So the density of the upright
source pixels is read (``dpi_of``), multiplied by each axis' change of size (``scaled``), and written
where each format keeps it:

- PNG: the ``pHYs`` chunk (pixels per metre);
- JPEG: the JFIF ``APP0`` density (dots per inch, whole numbers);
- TIFF: XResolution, YResolution and ResolutionUnit (inch), through tifffile;
- JPEG 2000: a ``res `` box holding ``resc`` (capture resolution, pixels per metre) in the header;
- BMP: the header's pixels per metre;
- WebP, AVIF, HEIC, which have no field of their own: the EXIF resolution tags.

Beside those, a file's own EXIF (XResolution/YResolution/ResolutionUnit), its XMP (``tiff:`` tags) and
its Photoshop resolution resource (0x03ED, which Photoshop reads before anything else) are set to the
new density where they were present (``retag``), so no reader finds the old figure in one place and
the new in another.
"""

from __future__ import annotations

import struct
from fractions import Fraction

from ganrt.pipelines.imageio.packets import xmp_property

X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 282, 283, 296
TIFF_TAGS = (X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT)
INCH, CENTIMETRE = 2, 3
METRES_PER_INCH = 0.0254
PHOTOSHOP_RESOLUTION = 0x03ED  # ResolutionInfo: hRes (16.16, per inch), units, vRes (16.16), units
Dpi = tuple[float, float]


def _sane(value) -> float | None:
    """A density as a positive float, or None for a placeholder (0 or 1, as many writers put) or nonsense."""
    try:
        v = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if 1 < v < 1e6 else None


def dpi_of(info_dpi, exif, orientation: int = 1) -> Dpi | None:
    """The density of the upright pixels: what Pillow read from the format's own field (``info["dpi"]``),
    else the EXIF resolution tags (inch, or centimetre); None where neither names one. Orientations 5–8
    turn the image a quarter, so the two axes swap."""
    dpi = None
    if info_dpi and len(info_dpi) == 2:
        x, y = _sane(info_dpi[0]), _sane(info_dpi[1])
        dpi = (x, y) if x and y else None
    if dpi is None and exif:
        unit = exif.get(RESOLUTION_UNIT, INCH)
        x, y = _sane(exif.get(X_RESOLUTION)), _sane(exif.get(Y_RESOLUTION, exif.get(X_RESOLUTION)))
        if x and y and unit in (INCH, CENTIMETRE):
            per_inch = 2.54 if unit == CENTIMETRE else 1.0
            dpi = (x * per_inch, y * per_inch)
    if dpi is not None and orientation in (5, 6, 7, 8):
        dpi = (dpi[1], dpi[0])
    return dpi


def scaled(dpi: Dpi | None, before: tuple[int, int], after: tuple[int, int]) -> Dpi | None:
    """The density of ``after`` (width, height) pixels covering what ``before`` pixels at ``dpi`` covered."""
    if dpi is None:
        return None
    return dpi[0] * after[0] / before[0], dpi[1] * after[1] / before[1]


def _rational(value: float) -> tuple[int, int]:
    f = Fraction(value).limit_denominator(10_000)
    return f.numerator, f.denominator


def set_exif_dpi(parsed, dpi: Dpi) -> None:
    """Set, in place, the resolution tags of a Pillow ``Exif`` to ``dpi`` per inch."""
    from PIL import TiffImagePlugin

    parsed[X_RESOLUTION] = TiffImagePlugin.IFDRational(*_rational(dpi[0]))
    parsed[Y_RESOLUTION] = TiffImagePlugin.IFDRational(*_rational(dpi[1]))
    parsed[RESOLUTION_UNIT] = INCH


_XMP_TAGS = {"XResolution": 0, "YResolution": 1}
_XMP_PATTERNS = {name: xmp_property(b"tiff:" + name.encode()) for name in (*_XMP_TAGS, "ResolutionUnit")}


def xmp_with_dpi(xmp: bytes, dpi: Dpi) -> bytes:
    """An XMP packet whose ``tiff:XResolution``/``tiff:YResolution``, where present, say ``dpi`` per inch."""
    for name, axis in _XMP_TAGS.items():
        num, den = _rational(dpi[axis])
        xmp = _XMP_PATTERNS[name].sub(lambda m, v=f"{num}/{den}".encode(): m.group(1) + v, xmp)
    if any(_XMP_PATTERNS[name].search(xmp) for name in _XMP_TAGS):
        xmp = _XMP_PATTERNS["ResolutionUnit"].sub(lambda m: m.group(1) + b"2", xmp)
    return xmp


def photoshop_with_dpi(app13: bytes, dpi: Dpi) -> bytes:
    """Photoshop resources (as a JPEG's APP13 holds them) whose ResolutionInfo, where present, says ``dpi``."""
    from ganrt.pipelines.imageio.packets import photoshop_resources

    for rid, start, size in photoshop_resources(app13):
        if rid == PHOTOSHOP_RESOLUTION and size >= 16:
            h, v = (min(round(d * 65536), 0xFFFFFFFF) for d in dpi)  # 16.16 fixed point
            out = bytearray(app13)
            struct.pack_into(">I", out, start, h)
            struct.pack_into(">I", out, start + 8, v)
            return bytes(out)
    return app13


def png_phys(dpi: Dpi) -> bytes:
    """The payload of a PNG ``pHYs`` chunk: pixels per metre on each axis, unit 1 (metre)."""
    return struct.pack(">IIB", *(round(d / METRES_PER_INCH) for d in dpi), 1)


def jfif_with_dpi(head: bytes, dpi: Dpi) -> bytes:
    """The first bytes of a JPEG with its JFIF ``APP0`` density set to ``dpi`` (dots per inch, 1 to 65535);
    unchanged where the file does not start with a JFIF segment."""
    if head[2:4] != b"\xff\xe0" or head[6:11] != b"JFIF\x00":
        return head
    out = bytearray(head)
    out[13] = 1  # units: dots per inch
    struct.pack_into(">HH", out, 14, *(min(max(round(d), 1), 0xFFFF) for d in dpi))
    return bytes(out)


def jp2_resc(dpi: Dpi) -> bytes:
    """The payload of a JPEG 2000 ``resc`` box: vertical then horizontal grid points per metre, each
    N / D × 10^E. dpi / 0.0254 = (5 dpi) / 127 × 10³, so N = 5 dpi, D = 127, E = 3 holds a density to a
    fifth of a dot per inch (and every whole one exactly) up to 13,107 dpi; E grows beyond."""
    def parts(d: float) -> tuple[int, int, int]:
        e = 3
        while round(d * 5000 / 10**e) > 0xFFFF:
            e += 1
        return max(round(d * 5000 / 10**e), 1), 127, e

    (vn, vd, ve), (hn, hd, he) = parts(dpi[1]), parts(dpi[0])
    return struct.pack(">HHHHbb", vn, vd, hn, hd, ve, he)


def bmp_set_dpi(path, dpi: Dpi) -> None:
    """Set, in place, the pixels per metre of a BMP's info header (bytes 38–45)."""
    with open(path, "r+b") as fh:
        head = fh.read(18)
        if head[:2] != b"BM" or struct.unpack_from("<I", head, 14)[0] < 40:
            return
        fh.seek(38)
        fh.write(struct.pack("<ii", *(round(d / METRES_PER_INCH) for d in dpi)))
