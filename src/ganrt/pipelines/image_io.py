"""Read and write images faithfully: EXIF orientation, ICC profiles, alpha, 16-bit, grayscale.

Reading uses Pillow for the header (size check before any decoding, so a
decompression bomb is refused cheaply), for the metadata and for validation:
Pillow raises on truncated files, which OpenCV would otherwise half-decode
into a grey-filled picture. 8-bit pixels come from Pillow; 16-bit pixels come
from OpenCV, which keeps their full precision (Pillow reduces 16-bit RGB to 8).

Writing goes through ``ganrt.fsutil.atomic_path``: a temporary file in the
target folder renamed into place when complete. PNG, JPEG and BMP are encoded
by OpenCV straight from the array (no copy of a large output), with EXIF and
ICC inserted afterwards (``ganrt.pipelines.metadata``); TIFF by tifffile
(ICC kept, 16-bit kept; EXIF is not written to TIFF); WebP by Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrt.errors import ImageReadError, ImageWriteError
from ganrt.fsutil import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
DEFAULT_MAX_PIXELS = 200_000_000  # a 200 MP scan is plausible; a 50k×50k "image" is a bomb
EXIF_ORIENTATION = 0x0112
FORMAT_SUFFIX = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp"}


@dataclass
class DecodedImage:
    """Upright pixels plus what the output must carry over."""

    pixels: np.ndarray  # H×W×3 RGB or H×W grayscale; uint8 or uint16
    alpha: np.ndarray | None = None  # H×W, same dtype as pixels
    exif: bytes | None = None  # with the orientation tag reset to 1
    icc: bytes | None = None

    @property
    def gray(self) -> bool:
        return self.pixels.ndim == 2

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def _is_16bit(img) -> bool:
    if img.mode.startswith("I"):
        return True
    for tile in img.tile or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


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


def read_header(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Open ``path`` lazily with Pillow and check what its header declares. Returns the open image."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own check below gives the clearer message
    if not path.is_file():
        raise ImageReadError("file not found" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise ImageReadError("empty file (0 bytes)")
    try:
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


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode ``path`` upright, with its metadata. Raises ImageReadError with a reason."""
    path = Path(path)
    try:
        img = read_header(path, max_pixels)
    except ImageReadError as exc:
        if path.suffix.lower() in (".tif", ".tiff") and "not an image" in str(exc):
            return _read_tiff_fallback(path, max_pixels)  # layouts Pillow cannot open (16-bit gray+alpha…)
        raise
    with img:
        sixteen = _is_16bit(img)
        try:
            exif = img.getexif()
        except Exception:  # noqa: BLE001 - broken EXIF is not worth failing the image
            exif = None
        orientation = int(exif.get(EXIF_ORIENTATION, 1)) if exif else 1
        icc = img.info.get("icc_profile")
        try:
            img.load()  # full decode: raises on truncated or corrupt data
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"corrupt or truncated image data ({exc})") from None
        if sixteen:
            pixels, alpha = _decode_16bit(path)
        else:
            pixels, alpha = _pil_to_arrays(img)
    if orientation in range(2, 9):
        pixels = _orient(pixels, orientation)
        alpha = _orient(alpha, orientation) if alpha is not None else None
    exif_bytes = None
    if exif:
        exif[EXIF_ORIENTATION] = 1
        try:
            exif_bytes = exif.tobytes()
        except Exception:  # noqa: BLE001
            exif_bytes = None
    return DecodedImage(pixels, alpha, exif_bytes, icc)


def _read_tiff_fallback(path: Path, max_pixels: int) -> DecodedImage:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            h, w = page.shape[:2] if page.planarconfig == 1 else page.shape[1:3]
            if h * w > max_pixels:
                raise ImageReadError(f"header declares {w}x{h} = {w * h:,} pixels, more than --max-pixels {max_pixels:,}")
            arr = page.asarray()
            icc_tag = page.tags.get(34675)
            icc = bytes(icc_tag.value) if icc_tag is not None else None
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for bad files
        raise ImageReadError("not an image (unrecognised file contents)") from exc
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported TIFF sample type {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        return DecodedImage(np.ascontiguousarray(arr[..., :-1].squeeze(-1) if arr.shape[2] == 2 else arr[..., :3]),
                            np.ascontiguousarray(arr[..., -1]), None, icc)
    return DecodedImage(np.ascontiguousarray(arr), None, None, icc)


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
        img = img.convert("RGBA" if "A" in mode else "RGB")
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    return np.ascontiguousarray(arr), None


def _decode_16bit(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        raise ImageReadError("cannot decode 16-bit image data")
    if arr.dtype != np.uint16:
        arr = arr.astype(np.uint16) * 257 if arr.dtype == np.uint8 else np.clip(arr, 0, 65535).astype(np.uint16)
    if arr.ndim == 2:
        return arr, None
    if arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., 2::-1]), np.ascontiguousarray(arr[..., 3])
    if arr.shape[2] == 1:
        return np.ascontiguousarray(arr[..., 0]), None
    return np.ascontiguousarray(arr[..., ::-1]), None


# --- writing ---------------------------------------------------------------------------

def output_suffix(src: Path, fmt: str) -> str:
    """The file suffix for output format ``fmt`` ('same' keeps the input's, letter case included)."""
    if fmt == "same":
        return src.suffix if src.suffix.lower() in IMAGE_SUFFIXES else ".png"
    try:
        return FORMAT_SUFFIX[fmt]
    except KeyError:
        raise ValueError(f"unknown output format {fmt!r}") from None


def holds_alpha(suffix: str) -> bool:
    return suffix in (".png", ".webp", ".tif", ".tiff")


def holds_16bit(suffix: str) -> bool:
    return suffix in (".png", ".tif", ".tiff")


def write_image(path: str | Path, pixels: np.ndarray, alpha: np.ndarray | None = None, *,
                exif: bytes | None = None, icc: bytes | None = None, quality: int = 95,
                png_compression: int = 1, consume: bool = False) -> Path:
    """Encode and write atomically. ``pixels``: H×W×3 RGB or H×W gray, uint8 or uint16.

    ``consume=True`` lets the writer reorder ``pixels`` in place (RGB→BGR for
    OpenCV) instead of copying them: the caller must not use the array after.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageWriteError(f"cannot write {suffix or 'extension-less'} files; use one of {', '.join(IMAGE_SUFFIXES)}")
    if alpha is not None and not holds_alpha(suffix):
        raise ImageWriteError(f"{suffix} cannot hold an alpha channel")
    if pixels.dtype == np.uint16 and not holds_16bit(suffix):
        pixels = to_8bit(pixels)
        alpha = to_8bit(alpha) if alpha is not None else None
        consume = True
    try:
        with atomic_path(path) as tmp:
            if suffix in (".tif", ".tiff"):
                _write_tiff(tmp, pixels, alpha, icc=icc)
            elif suffix == ".webp":
                _write_pillow(tmp, "WEBP", pixels, alpha, exif=exif, icc=icc,
                              options={"quality": quality, "lossless": quality >= 100, "exact": True})
            else:
                _write_opencv(tmp, suffix, pixels, alpha, exif=exif, icc=icc, quality=quality,
                              png_compression=png_compression, consume=consume)
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def to_8bit(arr: np.ndarray) -> np.ndarray:
    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _write_opencv(tmp: Path, suffix: str, pixels, alpha, *, exif, icc, quality, png_compression, consume) -> None:
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
    carry_meta = (exif or icc) and suffix != ".bmp"
    raw = tmp.with_name(f"{tmp.name}.raw{suffix}") if carry_meta else tmp
    try:
        if not cv2.imwrite(str(raw), arr, params):
            raise ImageWriteError(f"OpenCV could not encode a {suffix} file")
        if carry_meta:
            insert_metadata(raw, tmp, exif=exif, icc=icc)
    finally:
        if carry_meta:
            raw.unlink(missing_ok=True)


def _write_tiff(tmp: Path, pixels, alpha, *, icc) -> None:
    import tifffile

    arr = pixels if alpha is None else np.dstack([pixels, alpha])
    kw: dict = {"photometric": "rgb" if pixels.ndim == 3 else "minisblack", "compression": "zlib",
                "compressionargs": {"level": 3}}
    if alpha is not None:
        kw["extrasamples"] = ("unassalpha",)
        if pixels.ndim == 2:
            kw["planarconfig"] = "contig"
    if icc:
        kw["extratags"] = [(34675, "B", len(icc), icc, True)]
    tifffile.imwrite(tmp, arr, **kw)


def _write_pillow(tmp: Path, fmt: str, pixels, alpha, *, exif, icc, options: dict) -> None:
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
    img.save(tmp, format=fmt, **kw)
