"""The tags that describe the pixels — their size and density — said anew for the pixels written.

A photo's EXIF and XMP travel with it into the output, and some of their tags describe the pixels
rather than the photo: the size (EXIF ImageWidth/ImageLength, and PixelXDimension/PixelYDimension
in the Exif sub-IFD, which cameras write; XMP ``exif:PixelXDimension``, ``tiff:ImageWidth`` …) and
the density (``density``). Copied as they were, a 4× upscale would still claim the scan's size and
dpi. Each is rewritten where the file had it; none is added, except the density for a format that
has no field of its own for it (WebP, AVIF, HEIC), where EXIF is the only place.
"""

from __future__ import annotations

from ganrt.pipelines.imageio import density

from ganrt.pipelines.imageio import photo_text
from ganrt.pipelines.imageio.packets import xmp_property
from ganrt.pipelines.notes import note

IMAGE_WIDTH, IMAGE_LENGTH = 0x0100, 0x0101
EXIF_IFD, PIXEL_X, PIXEL_Y = 0x8769, 0xA002, 0xA003
_XMP_SIZE = {name: xmp_property(prefix + b":" + name.encode(), rb"\d+")
             for prefix, names in ((b"exif", ("PixelXDimension", "PixelYDimension")),
                                   (b"tiff", ("ImageWidth", "ImageLength")))
             for name in names}
_WIDTH_NAMES = ("PixelXDimension", "ImageWidth")


def _exif(exif: bytes | None, size: tuple[int, int], dpi, *, add_density: bool, text) -> bytes | None:
    from ganrt.pipelines.imageio.tiff_exif import exif_tobytes, parse

    if not exif and not (dpi and add_density) and not text:
        return exif
    from PIL import Image

    parsed = parse(exif) if exif else Image.Exif()
    changed = photo_text.into_exif(parsed, text) if text else False
    for tag, value in ((IMAGE_WIDTH, size[0]), (IMAGE_LENGTH, size[1])):
        if tag in parsed and parsed[tag] != value:
            parsed[tag], changed = value, True
    if EXIF_IFD in parsed:
        sub = parsed.get_ifd(EXIF_IFD)
        for tag, value in ((PIXEL_X, size[0]), (PIXEL_Y, size[1])):
            if tag in sub and sub[tag] != value:
                sub[tag], changed = value, True
    if dpi:
        density.set_exif_dpi(parsed, dpi)
        changed = True
    return exif_tobytes(parsed) if changed else exif


def _xmp(xmp: bytes, size: tuple[int, int], dpi) -> bytes:
    for name, pattern in _XMP_SIZE.items():
        value = str(size[0] if name in _WIDTH_NAMES else size[1]).encode()
        xmp = pattern.sub(lambda m, v=value: m.group(1) + v, xmp)
    return density.xmp_with_dpi(xmp, dpi) if dpi else xmp


def for_output(exif: bytes | None, xmp: bytes | None, iptc: bytes | None, *, size: tuple[int, int], dpi,
               own_density_field: bool, text: dict[str, str] | None = None
               ) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(EXIF, XMP, Photoshop resources) stating the output's ``size`` (width, height) and ``dpi`` (or None:
    unknown) wherever they stated a size or density; a new EXIF holding the density for a format with no
    density field of its own, and the source's words (``photo_text``) that go into EXIF. A block that cannot
    be rewritten goes out as it came."""
    def rewritten(change, block, what):
        try:
            return change(block)
        except Exception as exc:  # noqa: BLE001 - a damaged block is not worth failing the image
            note(None, f"the {what} could not be given the new size and density ({exc}); written as it was")
            return block

    exif = rewritten(lambda b: _exif(b, size, dpi, add_density=not own_density_field, text=text), exif, "EXIF")
    xmp = rewritten(lambda b: _xmp(b, size, dpi), xmp, "XMP") if xmp else xmp
    if iptc and dpi:
        iptc = rewritten(lambda b: density.photoshop_with_dpi(b, dpi), iptc, "Photoshop resources")
    return exif, xmp, iptc
