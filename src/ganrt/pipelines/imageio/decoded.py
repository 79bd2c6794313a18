"""A decoded image and what its output must carry over: upright pixels, EXIF, ICC, XMP, IPTC, density, text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganrt.pipelines.imageio.packets import xmp_property
from ganrt.pipelines.notes import note


EXIF_ORIENTATION = 0x0112


ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")  # Pillow's modes with alpha ("LAB" has an A band: lightness, a, b)


@dataclass
class DecodedImage:
    """Upright pixels plus what the output must carry over."""

    pixels: np.ndarray  # H×W×3 RGB or H×W grayscale; uint8 or uint16
    alpha: np.ndarray | None = None  # H×W, same dtype as pixels
    exif: bytes | None = None  # with the orientation tag reset to 1
    icc: bytes | None = None
    xmp: bytes | None = None  # captions, keywords, people, ratings (XMP packet; its orientation reset to 1)
    iptc: bytes | None = None  # a JPEG's APP13 (Photoshop IRB holding the IPTC-IIM captions and keywords)
    dpi: tuple[float, float] | None = None  # pixel density of the upright pixels (x, y per inch), where known
    text: dict[str, str] | None = None  # a PNG's text chunks (Title, Author, Description …), a JPEG's comment
    # a multi-page TIFF's later pages (read with ``every_page``), each upright with its own ICC profile and
    # density; the photo's EXIF, XMP, IPTC and words belong to the first page
    pages: tuple[DecodedImage, ...] = ()

    @property
    def gray(self) -> bool:
        return self.pixels.ndim == 2

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def icc_colour_space(icc: bytes | None) -> str | None:
    """The colour space an ICC profile describes ('RGB', 'GRAY', 'CMYK', …), from its header."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", "replace").strip()


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an H×W[×C] array."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(arr)) if op else arr


def upright_exif_bytes(exif) -> bytes | None:
    """An EXIF (Pillow's) as bytes, its orientation reset (the pixels are written upright); None for none, or
    for one that cannot be written back (broken EXIF is not worth failing the image)."""
    if not exif:
        return None
    exif[EXIF_ORIENTATION] = 1
    try:
        from ganrt.pipelines.imageio.tiff_exif import exif_tobytes

        return exif_tobytes(exif)
    except Exception:  # noqa: BLE001
        return None


_XMP_ORIENTATION = xmp_property(b"tiff:Orientation", rb"[2-8]")


def upright_xmp(xmp: bytes | str | None) -> bytes | None:
    """An XMP packet as bytes, its ``tiff:Orientation`` set to 1: the pixels written are upright, and a viewer
    that reads the XMP tag must not turn them again."""
    if not xmp:
        return None
    raw = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
    return _XMP_ORIENTATION.sub(rb"\g<1>1", raw)


def matching_icc(icc: bytes | None, *, gray: bool, name: str) -> bytes | None:
    space = icc_colour_space(icc)
    if space is None or space == ("GRAY" if gray else "RGB"):
        return icc
    note(name, f"its ICC profile describes {space}, not the {'gray' if gray else 'RGB'} pixels written; "
               "the profile is left out")
    return None
