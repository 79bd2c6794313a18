"""Read and write images faithfully: EXIF orientation, ICC profiles, alpha, 16-bit, grayscale.

Reading uses Pillow for the header (size check before any decoding, so a
decompression bomb is refused cheaply), for the metadata and for validation:
Pillow raises on truncated files, which OpenCV would otherwise half-decode
into a grey-filled picture. 8-bit pixels come from Pillow; 16-bit pixels come
from OpenCV, which keeps their full precision (Pillow reduces 16-bit RGB to 8).

Writing goes through ``ganrt.fsutil.atomic_path``: a temporary file in the
target folder renamed into place when complete. PNG, JPEG and BMP are encoded
by OpenCV straight from the array (no copy of a large output), with EXIF and
ICC inserted afterwards (``ganrt.pipelines.metadata``); grayscale with alpha
as a gray+alpha PNG of our own; TIFF by tifffile (ICC, XMP, IPTC and 16-bit
kept; EXIF by ``tiff_exif``); WebP and AVIF by Pillow; HEIC/HEIF (phone photos) by
pillow-heif, whose decoder applies the file's own rotation and resets the EXIF
orientation (so nothing is turned twice). JPEG 2000 is written losslessly, by
Pillow (8-bit, 16-bit gray) or OpenCV (16-bit colour), its ICC profile, bit
depth, EXIF, XMP and IPTC handled by ``jp2_boxes``, which neither library
reads. OpenCV is never handed a path it cannot take (a folder name that is not
UTF-8): it encodes to memory instead.

The pixel density (dpi) of the source is read from its own field or its EXIF, and the
output states the density of its own pixels (``density``): an upscaled scan keeps its print size.

An ICC profile is only carried over when it describes the output's colour
model (RGB or gray): a CMYK profile on RGB pixels would make every colour
managed viewer show wrong colours.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ganrt.errors import ImageReadError, ImageWriteError, from_os_error
from ganrt.fsutil import atomic_path
from ganrt.pipelines import density, photo_text, retag
from ganrt.pipelines.metadata import PHOTOSHOP_HEADER, bare_exif, iim_of_photoshop, photoshop_of_iim, xmp_property
from ganrt.pipelines.notes import note

log = logging.getLogger(__name__)

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
EXIF_ORIENTATION = 0x0112
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")  # Pillow's modes with alpha ("LAB" has an A band: lightness, a, b)
FORMAT_SUFFIX = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp", "jp2": ".jp2",
                 "avif": ".avif", "heic": ".heic"}


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


def _has_alpha(img) -> bool:
    """Whether decoding ``img`` gives an alpha channel (the rule ``_pil_to_arrays`` follows)."""
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
        return _has_alpha(img)


def icc_colour_space(icc: bytes | None) -> str | None:
    """The colour space an ICC profile describes ('RGB', 'GRAY', 'CMYK', …), from its header."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", "replace").strip()


def _rawmodes(img) -> list[str]:
    """The raw sample layouts of the file's tiles ('LA;16B', 'RGB;16B', …): what the file really holds."""
    out = []
    for tile in img.tile or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str):
            out.append(rawmode)
    return out


def _pnm_maxval(img) -> int:
    """The largest sample value a PPM/PGM declares (255 for 8-bit; up to 65535), 0 for other formats."""
    for tile in img.tile or ():
        args = tile[3] if len(tile) > 3 else None
        if tile[0] == "ppm" and isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], int):
            return args[1]
    return 0


def _is_16bit(img) -> bool:
    """Whether the samples are deeper than 8 bits (16-bit, 32-bit integer, floating point, a PPM of more
    than 255 levels): decoded to 16 bits."""
    return img.mode.startswith(("I", "F")) or any(";16" in raw for raw in _rawmodes(img)) or _pnm_maxval(img) > 255


def _is_gray(img) -> bool:
    """Grayscale in the file (Pillow opens 16-bit gray+alpha PNGs as RGBA)."""
    return img.mode.startswith(("L", "I", "F", "1")) or any(raw.startswith(("L", "I;16")) for raw in _rawmodes(img))


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
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


@functools.lru_cache(maxsize=1)
def _heif_registered() -> bool:
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
        _heif_registered()
    try:
        try:
            img = Image.open(path)
        except UnidentifiedImageError:  # HEIC content under another name (phones export .jpg that are HEIC)?
            if "HEIF" in Image.OPEN or not _heif_registered():  # the plugin had its try already, or is missing
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


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, *,
               sidecar_xmp: bytes | None = None, every_page: bool = False) -> DecodedImage:
    """Decode ``path`` upright, with its metadata. Raises ImageReadError with a reason.

    ``sidecar_xmp``: the packet of the photo's XMP sidecar (``ganrt.pipelines.sidecar``), which stands
    for the photo's own XMP, and whose orientation, where it states one, stands for the EXIF's.
    ``every_page``: a multi-page TIFF's later pages are read too (``DecodedImage.pages``), for an output
    that holds them; otherwise only the first page is read, and the loss is noted."""
    path = Path(path)
    try:
        img = read_header(path, max_pixels)
    except ImageReadError as exc:
        if path.suffix.lower() in (".tif", ".tiff") and "not an image" in str(exc):
            found = _read_tiff_fallback(path, max_pixels)  # layouts Pillow cannot open (16-bit gray+alpha…)
            return replace(found, xmp=upright_xmp(sidecar_xmp)) if sidecar_xmp else found
        raise
    turns, data = _tiff_turns(img, path)
    if data is not None:  # decoded as stored, turned below: decoders differ in whether they turn a TIFF
        import io

        from PIL import Image

        img.close()
        img = Image.open(io.BytesIO(data))
    with img:
        sixteen, gray = _is_16bit(img), _is_gray(img)  # before load(), which clears the tile list
        by_tifffile = _deep_tiff_for_tifffile(img)
        bits, jp2 = 16, img.format == "JPEG2000"
        if (maxval := _pnm_maxval(img)) > 255:  # a 12-bit scan's PPM says 4095: stretched to 16 bits like 12-bit JP2
            bits = maxval.bit_length()
        if jp2:  # Pillow decodes deep colour to 8 bits and reads no ICC profile, EXIF, XMP or IPTC
            from ganrt.pipelines import jp2_boxes

            bits, jp2_icc = jp2_boxes.header_facts(path)
            jp2_meta = jp2_boxes.uuid_boxes(path)
            bits = bits or 8
            sixteen = bits > 8
            if bits > 16:
                raise ImageReadError(f"JPEG 2000 with {bits} bits per sample is not supported (16 at most)")
        frames = getattr(img, "n_frames", 1)
        read_pages = every_page and frames > 1 and img.format == "TIFF"
        if frames > 1 and not read_pages:
            note(path.name, f"holds {frames} pages/frames; only the first is restored")
        try:
            exif = _exif_of(img, jp2_meta.get(jp2_boxes.EXIF_UUID) if jp2 else None)
        except Exception:  # noqa: BLE001 - broken EXIF is not worth failing the image
            exif = None
        orientation = turns[0] if turns else int(exif.get(EXIF_ORIENTATION, 1)) if exif else 1
        if sidecar_xmp:
            from ganrt.pipelines.sidecar import orientation as sidecar_orientation

            orientation = sidecar_orientation(sidecar_xmp) or orientation
        dpi = density.dpi_of(_own_dpi(img), exif, orientation)
        icc = jp2_icc if jp2 else img.info.get("icc_profile")
        # deep JPEG 2000 is decoded by OpenCV alone, which refuses damaged files (OpenJPEG's strict mode)
        opencv_only = sixteen and jp2 and img.mode != "LA"
        if not opencv_only:
            try:
                img.load()  # full decode: raises on truncated or corrupt data
            except (OSError, SyntaxError, ValueError) as exc:
                raise ImageReadError(f"corrupt or truncated image data ({exc})") from None
        if jp2:
            xmp, iim = upright_xmp(jp2_meta.get(jp2_boxes.XMP_UUID)), jp2_meta.get(jp2_boxes.IPTC_UUID)
            iptc = photoshop_of_iim(iim) if iim else None
        else:  # after load(): a PNG's text chunks may follow its pixels
            xmp, iptc = _xmp_of(img), _iptc_of(img)
        if sidecar_xmp:
            xmp = upright_xmp(sidecar_xmp)
        text = photo_text.of_image(img)
        if sixteen and jp2 and img.mode == "LA":  # OpenCV takes no 2-channel JP2
            note(path.name, "16-bit gray+alpha JPEG 2000 is read at 8 bits")
            pixels, alpha = _pil_to_arrays(img)
        elif by_tifffile:
            pixels, alpha = _tifffile_pixels(path, img)
        elif sixteen:
            pixels, alpha = _decode_16bit(path, gray=gray, bits=bits, data=data)
        else:
            pixels, alpha = _pil_to_arrays(img)
        exif_bytes = _upright_exif_bytes(exif)  # before another page is read: a TIFF's EXIF reads the page open
        pages = _later_pages(path, img, max_pixels, turns, data) if read_pages else ()
    if orientation in range(2, 9):
        pixels = _orient(pixels, orientation)
        alpha = _orient(alpha, orientation) if alpha is not None else None
    icc = _matching_icc(icc, gray=pixels.ndim == 2, name=path.name)
    return DecodedImage(pixels, alpha, exif_bytes, icc, xmp, iptc, dpi, text, pages)


def _upright_exif_bytes(exif) -> bytes | None:
    """An EXIF (Pillow's) as bytes, its orientation reset (the pixels are written upright); None for none, or
    for one that cannot be written back (broken EXIF is not worth failing the image)."""
    if not exif:
        return None
    exif[EXIF_ORIENTATION] = 1
    try:
        from ganrt.pipelines.tiff_exif import exif_tobytes

        return exif_tobytes(exif)
    except Exception:  # noqa: BLE001
        return None


# NewSubfileType bits of a TIFF page that is not a page of the document: a reduced-resolution copy (a
# preview or pyramid level) or a transparency mask
_NOT_A_PAGE = 0b101


def _tiff_turns(img, path: Path) -> tuple[tuple[int, ...], bytes | None]:
    """The orientation each page of a TIFF states (``tiff_orientation``), and, where one is not 1, the file's
    bytes with every page stated upright, for the decoders; ((), None) for other formats."""
    if img.format != "TIFF":
        return (), None
    from ganrt.pipelines import tiff_orientation

    turns = tiff_orientation.orientations(path)
    if all(turn == 1 for turn in turns):
        return turns, None
    try:
        return turns, tiff_orientation.unturned(path)
    except OSError as exc:
        raise from_os_error(exc, f"reading {path}") from None


def _later_pages(path: Path, img, max_pixels: int, turns: tuple[int, ...] = (),
                 data: bytes | None = None) -> tuple[DecodedImage, ...]:
    """The pages after the first of a multi-page TIFF (``img``, open at its first page), each upright, at its
    own depth, with its own ICC profile and density. A page that cannot be read is left out, with a note:
    the pages that can be read are not lost for it. Previews and masks are left out (noted too).
    ``turns``: the orientation of each page; ``data``: the file's bytes with each page stated upright."""
    pages, frames = [], img.n_frames
    for index in range(1, frames):
        where = f"page {index + 1} of {frames}"
        try:
            img.seek(index)
            if img.tag_v2.get(254, 0) & _NOT_A_PAGE:
                note(path.name, f"{where} is a reduced-resolution preview or a mask: left out")
                continue
            w, h = img.size
            if w * h > max_pixels:
                raise ImageReadError(f"{w}x{h} pixels, more than --max-pixels {max_pixels:,}")
            gray = _is_gray(img)
            if _deep_tiff_for_tifffile(img):
                pixels, alpha = _tifffile_pixels(path, img, index)
            elif _is_16bit(img):
                if data is None:  # read once for all the deep pages, not once per page
                    data = path.read_bytes()
                pixels, alpha = _decode_16bit(path, gray=gray, page=index, data=data)
            else:
                img.load()
                pixels, alpha = _pil_to_arrays(img)
        except (ImageReadError, OSError, SyntaxError, ValueError, EOFError) as exc:
            note(path.name, f"{where} cannot be read ({exc}): left out")
            continue
        orientation = turns[index] if index < len(turns) else img.tag_v2.get(EXIF_ORIENTATION, 1)
        if orientation in range(2, 9):
            pixels = _orient(pixels, orientation)
            alpha = _orient(alpha, orientation) if alpha is not None else None
        # the page's own tags: Pillow's ``info`` keeps the profile and density of the pages before it
        tags = img.tag_v2
        icc = _matching_icc(tags.get(34675), gray=pixels.ndim == 2, name=f"{path.name} ({where})")
        dpi = density.dpi_of(None, {t: tags[t] for t in density.TIFF_TAGS if t in tags}, orientation)
        pages.append(DecodedImage(pixels, alpha, icc=icc, dpi=dpi))
    return tuple(pages)


_XMP_ORIENTATION = xmp_property(b"tiff:Orientation", rb"[2-8]")


def upright_xmp(xmp: bytes | str | None) -> bytes | None:
    """An XMP packet as bytes, its ``tiff:Orientation`` set to 1: the pixels written are upright, and a viewer
    that reads the XMP tag must not turn them again."""
    if not xmp:
        return None
    raw = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
    return _XMP_ORIENTATION.sub(rb"\g<1>1", raw)


def _exif_of(img, jp2_exif: bytes | None):
    """The image's EXIF as a Pillow ``Exif``: a JPEG 2000's from its EXIF box (a TIFF structure); a TIFF's
    descriptive tags and sub-IFDs only (``tiff_exif``)."""
    if jp2_exif is not None:
        from PIL import Image

        exif = Image.Exif()
        exif.load(jp2_exif)
        return exif
    exif = img.getexif()
    if img.format == "TIFF" and exif:
        from ganrt.pipelines.tiff_exif import descriptive_exif

        descriptive_exif(exif)
    return exif


def _own_dpi(img):
    """The density the format's own field states, as Pillow read it: not the one Pillow takes from a JPEG's
    EXIF where the JFIF header states none (it takes the horizontal figure for both axes)."""
    if img.format == "JPEG" and img.info.get("jfif_unit") not in (1, 2):
        return None
    return img.info.get("dpi")


def _xmp_of(img) -> bytes | None:
    """The XMP packet Pillow (or pillow-heif) found: JPEG APP1, PNG iTXt, WebP/AVIF/HEIF chunks, TIFF tag 700."""
    raw = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if not raw and hasattr(img, "tag_v2"):
        raw = img.tag_v2.get(700)
    return upright_xmp(raw)


def _iptc_of(img) -> bytes | None:
    """The Photoshop resources (IRB: the IPTC-IIM captions and keywords older tools write) as a JPEG's APP13
    segment holds them, whole: from a JPEG's APP13 or a TIFF's tag 34377."""
    app13 = next((data for marker, data in getattr(img, "applist", None) or ()
                  if marker == "APP13" and data.startswith(PHOTOSHOP_HEADER)), None)
    if app13 is None and hasattr(img, "tag_v2") and isinstance(resources := img.tag_v2.get(34377), bytes):
        app13 = PHOTOSHOP_HEADER + resources
    return app13


def _matching_icc(icc: bytes | None, *, gray: bool, name: str) -> bytes | None:
    space = icc_colour_space(icc)
    if space is None or space == ("GRAY" if gray else "RGB"):
        return icc
    note(name, f"its ICC profile describes {space}, not the {'gray' if gray else 'RGB'} pixels written; "
               "the profile is left out")
    return None


def _tifffile_arrays(page, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(pixels, alpha) of a tifffile page: planes of a planar file interleaved, deep samples as 16-bit, the
    last of 2 or 4 samples taken as alpha."""
    arr = page.asarray()
    if page.planarconfig == 2 and arr.ndim == 3:  # separate planes: samples first
        arr = np.moveaxis(arr, 0, -1)
    if arr.dtype not in (np.uint8, np.uint16):
        arr = to_16bit(arr, name)
    if page.photometric == 5 and arr.ndim == 3 and arr.shape[2] >= 4:  # SEPARATED: ink, as Pillow turns it to RGB
        top = np.iinfo(arr.dtype).max
        paper = (top - arr[..., 3].astype(np.float32)) / top
        rgb = np.rint((top - arr[..., :3].astype(np.float32)) * paper[..., None]).astype(arr.dtype)
        arr = np.dstack([rgb, arr[..., 4]]) if arr.shape[2] == 5 else rgb
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        pixels = arr[..., 0] if arr.shape[2] == 2 else arr[..., :3]
        return np.ascontiguousarray(pixels), np.ascontiguousarray(arr[..., -1])
    return np.ascontiguousarray(arr[..., :3] if arr.ndim == 3 else arr), None


def _read_tiff_fallback(path: Path, max_pixels: int) -> DecodedImage:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            h, w = page.shape[:2] if page.planarconfig == 1 else page.shape[1:3]
            if h * w > max_pixels:
                raise ImageReadError(f"header declares {w}x{h} = {w * h:,} pixels, more than --max-pixels {max_pixels:,}")
            pixels, alpha = _tifffile_arrays(page, path.name)
            turn = page.tags.get(EXIF_ORIENTATION)  # tifffile decodes as stored
            turn = int(turn.value) if turn is not None and turn.value in range(2, 9) else 1
            pixels = _orient(pixels, turn)
            alpha = _orient(alpha, turn) if alpha is not None else None
            icc_tag, xmp_tag = page.tags.get(34675), page.tags.get(700)
            icc = bytes(icc_tag.value) if icc_tag is not None else None
            xmp = upright_xmp(xmp_tag.value) if xmp_tag is not None else None
            tags = {t: page.tags[t].value for t in density.TIFF_TAGS if t in page.tags}
            dpi = density.dpi_of(None, {t: v[0] / v[1] if isinstance(v, tuple) and len(v) == 2 and v[1] else v
                                        for t, v in tags.items()}, turn)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for bad files
        raise ImageReadError("not an image (unrecognised file contents)") from exc
    return DecodedImage(pixels, alpha, None, _matching_icc(icc, gray=pixels.ndim == 2, name=path.name), xmp, dpi=dpi)


def _deep_tiff_for_tifffile(img) -> bool:
    """A TIFF deeper than 8 bits that OpenCV cannot decode: separate planes (Pillow decodes those to 8 bits,
    OpenCV to garbage) or CMYK (OpenCV refuses 16-bit CMYK)."""
    if img.format != "TIFF":
        return False
    bits = img.tag_v2.get(258, 8)
    deep = max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return deep and (img.tag_v2.get(284) == 2 or img.tag_v2.get(262) == 5)


def _tifffile_pixels(path: Path, img, page: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """A deep TIFF's samples (of its ``page``, where ``img`` stands) by tifffile, at their depth; by Pillow,
    at 8 bits and with a warning, where tifffile lacks the file's codec (LZW and JPEG need imagecodecs)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return _tifffile_arrays(tif.pages[page], path.name)
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types
        note(path.name, f"its 16-bit samples are read at 8 bits ({exc})")
        return _pil_to_arrays(img)


def _pil_to_arrays(img) -> tuple[np.ndarray, np.ndarray | None]:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("1", "L"):
        img = img.convert("L")
    elif mode == "LA":
        arr = np.asarray(img)
        return np.ascontiguousarray(arr[..., 0]), np.ascontiguousarray(arr[..., 1])
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if mode in ALPHA_MODES else "RGB")
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    return np.ascontiguousarray(arr), None


@contextmanager
def quiet_opencv():
    """OpenCV's own log silenced (its JPEG 2000 codec warns on every file with an ICC profile, and prints
    errors that ganrt turns into its own one-line reasons)."""
    import cv2

    logging_ = cv2.utils.logging
    before = logging_.getLogLevel()
    logging_.setLogLevel(logging_.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_.setLogLevel(before)


def to_16bit(arr: np.ndarray, name: str) -> np.ndarray:
    """Samples of any depth as 16-bit. 8-bit ones are stretched; signed ones lose their negatives; integers
    beyond 16 bits are scaled from the whole bytes their largest value needs (24 or 32 bits). Floating
    point (TIFF's 32- and 16-bit float) is read as 0–1, the convention of float images, or as 0–255 or
    0–65535 where its largest value says so (saved from an array of 8- or 16-bit values): never the
    black image 0–1 samples give when cut to integers. NaN is black, +inf white; larger floats (HDR) are
    refused, not clipped to white."""
    if arr.dtype == np.uint16:
        return arr
    if arr.dtype == np.uint8:
        return arr.astype(np.uint16) * 257
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        top = float(arr[finite].max()) if finite.any() else 0.0
        full = next((f for f in (1.0, 255.0, 65535.0) if top <= f), None)
        if full is None:
            raise ImageReadError(f"floating-point samples up to {top:g}, beyond 0–1, 0–255 and 0–65535 (HDR "
                                 "data): tone-map it to a 16-bit image first")
        if full != 1.0:
            log.info("%s: floating-point samples up to %g read as 0–%g", name, top, full)
        out = np.nan_to_num(arr.astype(np.float32, copy=False), nan=0.0, posinf=full, neginf=0.0)
        return np.rint(np.clip(out, 0, full) * np.float32(65535.0 / full)).astype(np.uint16)
    if arr.dtype.kind in "iu":
        top = int(arr.max()) if arr.size else 0
        if arr.itemsize <= 2 or top <= 65535:
            return np.clip(arr, 0, 65535).astype(np.uint16)
        bits = -(-top.bit_length() // 8) * 8  # 24 or 32: the whole bytes the largest value needs
        scale = 65535.0 / (2**bits - 1)
        return np.rint(np.clip(arr, 0, None).astype(np.float64) * scale).astype(np.uint16)
    raise ImageReadError(f"unsupported sample type {arr.dtype}")


def _decode_16bit(path: Path, *, gray: bool = False, bits: int = 16, page: int = 0,
                  data: bytes | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """16-bit pixels by OpenCV; ``gray``: the file is grayscale (OpenCV expands gray+alpha to BGRA);
    ``bits``: the samples' precision, stretched to the full 16-bit range when less (12-bit JPEG 2000);
    ``page``: which page of a multi-page TIFF; ``data``: the file's bytes to decode instead of the file's."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    with quiet_opencv():
        if page == 0:
            arr = cv2.imdecode(data, flags)
        else:
            ok, found = cv2.imdecodemulti(data, flags, range=(page, page + 1))
            arr = found[0] if ok and found else None
    if arr is None:
        raise ImageReadError("corrupt or truncated 16-bit image data (OpenCV could not decode it)")
    if arr.dtype == np.uint16 and 8 < bits < 16:
        top = (1 << bits) - 1
        arr = ((np.minimum(arr, top).astype(np.uint32) * 65535 + top // 2) // top).astype(np.uint16)
    elif arr.dtype != np.uint16:
        arr = to_16bit(arr, path.name)
    if arr.ndim == 2:
        return arr, None
    alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
    if arr.shape[2] == 1 or gray:
        return np.ascontiguousarray(arr[..., 0]), alpha
    return np.ascontiguousarray(arr[..., 2::-1]), alpha


# --- writing ---------------------------------------------------------------------------

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


def write_image(path: str | Path, pixels: np.ndarray, alpha: np.ndarray | None = None, *,
                exif: bytes | None = None, icc: bytes | None = None, xmp: bytes | None = None,
                iptc: bytes | None = None, dpi: tuple[float, float] | None = None,
                text: dict[str, str] | None = None, quality: int = 95,
                png_compression: int = 1, consume: bool = False, mtime_ns: int | None = None,
                pages: tuple[DecodedImage, ...] = ()) -> Path:
    """Encode and write atomically. ``pixels``: H×W×3 RGB or H×W gray, uint8 or uint16. ``dpi``: the pixel
    density (x, y per inch) to write in the format's own field and in the metadata that states one; the
    metadata that states a size is given the size written (``retag``). ``text``: the source's words
    (``photo_text``), as text chunks into a PNG, a comment into a JPEG, the rest into EXIF tags.

    ``consume=True`` lets the writer reorder ``pixels`` in place (RGB→BGR for
    OpenCV) instead of copying them: the caller must not use the array after.
    ``mtime_ns``: the file's modification time (the original's), None: the time of writing.
    ``pages``: the later pages of a multi-page TIFF (pixels, alpha, ICC profile and density each), written
    after the first in a TIFF; other formats hold one page.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageWriteError(f"cannot write {suffix or 'extension-less'} files; use one of {', '.join(IMAGE_SUFFIXES)}")
    if pages and not holds_pages(suffix):
        raise ImageWriteError(f"{suffix} holds one page; only a TIFF holds {len(pages) + 1}")
    if alpha is not None and not holds_alpha(suffix):
        raise ImageWriteError(f"{suffix} cannot hold an alpha channel")
    if pixels.dtype == np.uint16 and not holds_16bit(suffix):
        pixels = to_8bit(pixels)
        alpha = to_8bit(alpha) if alpha is not None else None
        consume = True
    text, text_in_exif = photo_text.split_for(suffix, text)
    exif, xmp, iptc = retag.for_output(exif, xmp, iptc, size=(pixels.shape[1], pixels.shape[0]), dpi=dpi,
                                       own_density_field=suffix in DENSITY_FIELD, text=text_in_exif)
    try:
        with atomic_path(path, mtime_ns=mtime_ns) as tmp:
            if suffix in (".tif", ".tiff"):
                _write_tiff(tmp, pixels, alpha, exif=exif, icc=icc, xmp=xmp, iptc=iptc, dpi=dpi, pages=pages)
            elif suffix == ".jp2":
                _write_jp2(tmp, pixels, alpha, exif=exif, icc=icc, xmp=xmp, iptc=iptc, dpi=dpi)
            elif suffix == ".webp":
                _write_pillow(tmp, "WEBP", pixels, alpha, exif=exif, icc=icc, xmp=xmp,
                              options={"quality": quality, "lossless": quality >= 100, "exact": True})
            elif suffix == ".avif":  # full colour resolution from quality 90, as for JPEG
                _write_pillow(tmp, "AVIF", pixels, alpha, exif=exif, icc=icc, xmp=xmp,
                              options={"quality": quality, "subsampling": "4:4:4" if quality >= 90 else "4:2:0"})
            elif suffix in HEIF_SUFFIXES:
                if not _heif_registered():
                    raise ImageWriteError("writing HEIC needs pillow-heif: pip install pillow-heif")
                _write_pillow(tmp, "HEIF", pixels, alpha, exif=exif, icc=icc, xmp=xmp,
                              options={"quality": quality, "chroma": 444 if quality >= 90 else 420})
            elif suffix == ".png" and alpha is not None and pixels.ndim == 2:
                from ganrt.pipelines.metadata import png_gray_alpha

                tmp.write_bytes(png_gray_alpha(pixels, alpha, exif=exif, icc=icc, xmp=xmp, dpi=dpi, text=text,
                                               level=max(1, png_compression)))
            else:
                _write_opencv(tmp, suffix, pixels, alpha, exif=exif, icc=icc, xmp=xmp, iptc=iptc, dpi=dpi, text=text,
                              quality=quality, png_compression=png_compression, consume=consume)
    except OSError as exc:
        raise from_os_error(exc, f"writing {path}") from None
    return path


def to_8bit(arr: np.ndarray) -> np.ndarray:
    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _write_opencv(tmp: Path, suffix: str, pixels, alpha, *, exif, icc, xmp, iptc, dpi, text, quality,
                  png_compression, consume) -> None:
    import cv2

    from ganrt.pipelines.metadata import insert_metadata

    if alpha is not None:
        colour = pixels[..., ::-1] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
        arr = np.dstack([colour, alpha])
    elif pixels.ndim == 3:
        arr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR, dst=pixels if consume else None)
    else:
        arr = pixels
    if suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
    elif suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444 if quality >= 90 else cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
    else:
        params = []
    carry_meta = (exif or icc or xmp or iptc or dpi or text) and suffix != ".bmp"
    raw = tmp.with_name(f"{tmp.name}.raw{suffix}") if carry_meta else tmp
    try:
        cv2_write(raw, arr, params)
        if carry_meta:
            insert_metadata(raw, tmp, exif=exif, icc=icc, xmp=xmp, iptc=iptc, dpi=dpi, text=text)
        elif dpi and suffix == ".bmp":
            density.bmp_set_dpi(tmp, dpi)
    finally:
        if carry_meta:
            raw.unlink(missing_ok=True)


def cv2_path_ok(path: Path) -> bool:
    """Whether OpenCV can take ``path`` (it needs a name that encodes as UTF-8)."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def cv2_write(path: Path, arr: np.ndarray, params: list[int]) -> None:
    """``cv2.imwrite``, or encode to memory and write with Python where OpenCV cannot take the path."""
    import cv2

    if cv2_path_ok(path):
        if not cv2.imwrite(str(path), arr, params):
            raise ImageWriteError(f"OpenCV could not encode a {path.suffix} file")
        return
    ok, buf = cv2.imencode(path.suffix, arr, params)
    if not ok:
        raise ImageWriteError(f"OpenCV could not encode a {path.suffix} file")
    with open(path, "wb") as fh:
        fh.write(memoryview(buf))


def cv2_read(path: Path, flags: int):
    """``cv2.imread`` for any path (decoded from the bytes read by Python); None when undecodable (the
    caller says why, in one line: OpenCV's own log is silenced)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    with quiet_opencv():
        return cv2.imdecode(data, flags)


def _tiff_page(pixels, alpha, icc, dpi) -> tuple[np.ndarray, dict]:
    """The samples and the tifffile options of one page: zlib-compressed, its ICC profile (34675) and density;
    no JSON description or software tag of tifffile's."""
    arr = pixels if alpha is None else np.dstack([pixels, alpha])
    kw: dict = {"photometric": "rgb" if pixels.ndim == 3 else "minisblack", "compression": "zlib",
                "compressionargs": {"level": 3}, "metadata": None, "software": False}
    if dpi:
        kw["resolution"], kw["resolutionunit"] = dpi, density.INCH
    if alpha is not None:
        kw["extrasamples"] = ("unassalpha",)
        if pixels.ndim == 2:
            kw["planarconfig"] = "contig"
    kw["extratags"] = [(34675, "B", len(icc), icc, True)] if icc else []
    return arr, kw


_BIGTIFF_FROM = 2**32 - 2**25  # bytes beyond which a classic TIFF's 32-bit offsets may not reach (tifffile's rule)


def _write_tiff(tmp: Path, pixels, alpha, *, exif, icc, xmp, iptc, dpi, pages=()) -> None:
    """A TIFF by tifffile: the first page with the ICC profile, XMP (700), the Photoshop resources that hold
    IPTC (34377) and the EXIF (``tiff_exif``); the later ``pages`` after it, each with its own ICC profile
    and density, numbered (PageNumber) and marked as pages of one document (NewSubfileType)."""
    import tifffile

    from ganrt.pipelines import tiff_exif

    arr, kw = _tiff_page(pixels, alpha, icc, dpi)
    if xmp:
        kw["extratags"].append((700, "B", len(xmp), xmp, True))
    if iptc and iptc.startswith(PHOTOSHOP_HEADER):
        resources = iptc[len(PHOTOSHOP_HEADER):]
        kw["extratags"].append((34377, "B", len(resources), resources, True))
    parsed = tiff_exif.parse(exif)
    kw["extratags"] += tiff_exif.ifd0_tags(parsed)
    written = [(arr, kw), *(_tiff_page(p.pixels, p.alpha, p.icc, p.dpi) for p in pages)]
    if pages:
        for number, (_, page_kw) in enumerate(written):
            page_kw["subfiletype"] = 2  # a page of a multi-page document
            page_kw["extratags"].append((297, "H", 2, (number, len(written)), True))
    with tifffile.TiffWriter(tmp, bigtiff=sum(a.nbytes for a, _ in written) > _BIGTIFF_FROM) as tif:
        for page_arr, page_kw in written:
            tif.write(page_arr, **page_kw)
    tiff_exif.append_sub_ifds(tmp, parsed)


def _write_jp2(tmp: Path, pixels, alpha, *, exif, icc, xmp, iptc, dpi) -> None:
    """Lossless JPEG 2000: Pillow for 8-bit and 16-bit gray, OpenCV for 16-bit colour or gray+alpha (Pillow
    has no such modes); then the ICC profile, which neither writes, goes into the header, and the EXIF, XMP
    and IPTC into their boxes."""
    from PIL import Image

    from ganrt.pipelines import jp2_boxes

    if pixels.dtype == np.uint8 or (alpha is None and pixels.ndim == 2):
        if alpha is not None:
            img = Image.fromarray(np.dstack([pixels, alpha]), "RGBA" if pixels.ndim == 3 else "LA")
        else:
            img = Image.fromarray(pixels)  # RGB, L or I;16
        img.save(tmp, format="JPEG2000")  # reversible wavelet, one layer at full rate: lossless
    else:
        import cv2

        arr = pixels[..., ::-1] if pixels.ndim == 3 else pixels
        arr = np.ascontiguousarray(arr if alpha is None else np.dstack([arr, alpha]))
        if min(arr.shape[:2]) < 32:
            raise ImageWriteError("OpenCV writes 16-bit colour JPEG 2000 from 32 px a side; this image is "
                                  f"{arr.shape[1]}x{arr.shape[0]}: use --format png or tiff")
        if not cv2_path_ok(tmp):
            raise ImageWriteError("OpenCV writes 16-bit colour JPEG 2000 only to UTF-8 paths; use --format tiff")
        with quiet_opencv():
            written = cv2.imwrite(str(tmp), arr, [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, 1000])  # lossless
        if not written:
            raise ImageWriteError("OpenCV could not encode a 16-bit JPEG 2000 file")
    boxes = {jp2_boxes.EXIF_UUID: bare_exif(exif) if exif else None,
             jp2_boxes.XMP_UUID: xmp, jp2_boxes.IPTC_UUID: iim_of_photoshop(iptc)}
    if icc or dpi or any(boxes.values()):
        data = tmp.read_bytes()
        data = jp2_boxes.with_icc(data, icc) if icc else data
        data = jp2_boxes.with_resolution(data, density.jp2_resc(dpi)) if dpi else data
        tmp.write_bytes(jp2_boxes.with_uuid_boxes(data, boxes))


def _write_pillow(tmp: Path, fmt: str, pixels, alpha, *, exif, icc, xmp, options: dict) -> None:
    from PIL import Image

    if alpha is not None:
        img = Image.fromarray(np.dstack([pixels, alpha]), "RGBA" if pixels.ndim == 3 else "LA")
    else:
        img = Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L")
    kw = dict(options)
    if icc:
        kw["icc_profile"] = icc
    if exif:
        kw["exif"] = exif
    if xmp:
        kw["xmp"] = xmp
    try:
        img.save(tmp, format=fmt, **kw)
    except ValueError as exc:  # Pillow's encoders say what they refuse this way
        raise ImageWriteError(f"the {fmt} encoder refused the image ({exc})") from None
