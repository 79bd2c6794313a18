"""An image file's header, read by Pillow before any pixel is decoded: its size (a decompression bomb is refused
here, cheaply), whether it has alpha, its depth and colour."""

from __future__ import annotations

import functools
from pathlib import Path

from ganrt.errors import ImageReadError
from ganrt.pipelines.imageio.decoded import ALPHA_MODES
from ganrt.pipelines.imageio.formats import DEFAULT_MAX_PIXELS, HEIF_SUFFIXES


def has_alpha(img) -> bool:
    """Whether decoding ``img`` gives an alpha channel (the rule ``pil_to_arrays`` follows)."""
    return img.mode in ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)


def header_has_alpha(path: Path) -> bool:
    """Whether ``path`` decodes with an alpha channel, from its header only (cheap; False if unreadable)."""
    try:
        img = read_header(path, max_pixels=1 << 62)
    except ImageReadError:
        if path.suffix.lower() not in (".tif", ".tiff"):
            return False
        try:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape = tif.pages[0].shape
            return len(shape) == 3 and min(shape[0], shape[-1]) in (2, 4)
        except Exception:  # noqa: BLE001 - unreadable: the read stage reports it
            return False
    with img:
        return has_alpha(img)


def _rawmodes(img) -> list[str]:
    """The raw sample layouts of the file's tiles ('LA;16B', 'RGB;16B', …): what the file really holds."""
    out = []
    for tile in img.tile or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str):
            out.append(rawmode)
    return out


def pnm_maxval(img) -> int:
    """The largest sample value a PPM/PGM declares (255 for 8-bit; up to 65535), 0 for other formats."""
    for tile in img.tile or ():
        args = tile[3] if len(tile) > 3 else None
        if tile[0] == "ppm" and isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], int):
            return args[1]
    return 0


def is_16bit(img) -> bool:
    """Whether the samples are deeper than 8 bits (16-bit, 32-bit integer, floating point, a PPM of more
    than 255 levels): decoded to 16 bits."""
    return img.mode.startswith(("I", "F")) or any(";16" in raw for raw in _rawmodes(img)) or pnm_maxval(img) > 255


def is_gray(img) -> bool:
    """Grayscale in the file (Pillow opens 16-bit gray+alpha PNGs as RGBA)."""
    return img.mode.startswith(("L", "I", "F", "1")) or any(raw.startswith(("L", "I;16")) for raw in _rawmodes(img))


@functools.lru_cache(maxsize=1)
def heif_registered() -> bool:
    """Pillow opens and saves HEIC/HEIF from now on (pillow-heif's plugin); False where it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def read_header(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Open ``path`` lazily with Pillow and check what its header declares. Returns the open image."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own check below gives the clearer message
    if not path.is_file():
        raise ImageReadError("file not found" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise ImageReadError("empty file (0 bytes)")
    if path.suffix.lower() in HEIF_SUFFIXES:
        heif_registered()
    try:
        try:
            img = Image.open(path)
        except UnidentifiedImageError:  # HEIC content under another name (phones export .jpg that are HEIC)?
            if "HEIF" in Image.OPEN or not heif_registered():  # the plugin had its try already, or is missing
                raise
            img = Image.open(path)
    except UnidentifiedImageError:
        raise ImageReadError("not an image (unrecognised file contents)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"corrupt or truncated image ({exc})") from None
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise ImageReadError(
            f"header declares {w}x{h} = {w * h:,} pixels, more than --max-pixels {max_pixels:,} "
            "(possible decompression bomb); raise --max-pixels if the image is genuine"
        )
    return img
