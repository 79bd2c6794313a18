"""The file formats ganrt reads and writes, and what each can hold: one table of suffixes and limits."""

from __future__ import annotations

from pathlib import Path

from ganrt.errors import ImageWriteError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".jp2", ".heic", ".heif", ".avif")
# read, not written (their outputs are PNG): old web scans (GIF), what Linux scanners write (SANE's
# scanimage: PNM, PPM, PGM, PBM; 16-bit too), and DOS-era Targa and PCX; and JPEG under the names
# browsers and old cameras saved it with (their outputs are .jpg)
JPEG_ALIASES = (".jfif", ".jpe", ".jif")
READ_ONLY_SUFFIXES = (".gif", ".pnm", ".ppm", ".pgm", ".pbm", ".tga", ".pcx") + JPEG_ALIASES
READ_SUFFIXES = IMAGE_SUFFIXES + READ_ONLY_SUFFIXES
DENSITY_FIELD = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".jp2")  # formats with a density field of their own
HEIF_SUFFIXES = (".heic", ".heif")  # decoded and encoded by pillow-heif (libheif)
OPENCV_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".jp2")  # what OpenCV itself decodes
DEFAULT_MAX_PIXELS = 200_000_000  # a 200 MP scan is plausible; a 50k×50k "image" is a bomb
FORMAT_SUFFIX = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp", "jp2": ".jp2",
                 "avif": ".avif", "heic": ".heic"}
# what --format offers: "same" keeps each input's own; BMP is only ever kept (it holds no metadata worth asking for)
FORMAT_CHOICES = ("same", "png", "jpg", "webp", "tiff", "jp2", "avif", "heic")


def output_suffix(src: Path, fmt: str) -> str:
    """The file suffix for output format ``fmt`` ('same' keeps the input's, letter case included; a JPEG
    under another name becomes ``.jpg``, the formats written only as PNG ``.png``)."""
    if fmt == "same":
        if src.suffix.lower() in JPEG_ALIASES:
            return ".jpg"
        return src.suffix if src.suffix.lower() in IMAGE_SUFFIXES else ".png"
    try:
        return FORMAT_SUFFIX[fmt]
    except KeyError:
        raise ValueError(f"unknown output format {fmt!r}") from None


def holds_alpha(suffix: str) -> bool:
    return suffix in (".png", ".webp", ".tif", ".tiff", ".jp2", ".avif", ".heic", ".heif")




MAX_SIDE = {".jpg": 65500, ".jpeg": 65500, ".webp": 16383}  # what libjpeg and libwebp can encode, per side


def check_size(suffix: str, width: int, height: int) -> None:
    """Refuse, before any work, an output larger than its format can hold."""
    most = MAX_SIDE.get(suffix.lower())
    if most is not None and max(width, height) > most:
        raise ImageWriteError(f"the output would be {width}x{height}; {suffix.lower()} holds at most {most:,} "
                              "pixels a side: use --format png or tiff, or a smaller --outscale")


def holds_16bit(suffix: str) -> bool:
    return suffix in (".png", ".tif", ".tiff", ".jp2")


def holds_pages(suffix: str) -> bool:
    """Whether a ``suffix`` file holds every page of a multi-page image: a TIFF does."""
    return suffix.lower() in (".tif", ".tiff")
