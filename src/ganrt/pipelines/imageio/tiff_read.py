"""TIFFs beyond what one Pillow decode gives: each page's stated orientation, the later pages of a multi-page
TIFF, deep planar and CMYK samples by tifffile, and layouts Pillow cannot open at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrt.errors import ImageReadError, from_os_error
from ganrt.pipelines.imageio import density
from ganrt.pipelines.imageio.decoded import EXIF_ORIENTATION, DecodedImage, matching_icc, orient, upright_xmp
from ganrt.pipelines.imageio.header import is_16bit, is_gray
from ganrt.pipelines.imageio.samples import decode_16bit, pil_to_arrays, to_16bit
from ganrt.pipelines.notes import note


# NewSubfileType bits of a TIFF page that is not a page of the document: a reduced-resolution copy (a
# preview or pyramid level) or a transparency mask
_NOT_A_PAGE = 0b101


def tiff_turns(img, path: Path) -> tuple[tuple[int, ...], bytes | None]:
    """The orientation each page of a TIFF states (``tiff_orientation``), and, where one is not 1, the file's
    bytes with every page stated upright, for the decoders; ((), None) for other formats."""
    if img.format != "TIFF":
        return (), None
    from ganrt.pipelines.imageio import tiff_orientation

    turns = tiff_orientation.orientations(path)
    if all(turn == 1 for turn in turns):
        return turns, None
    try:
        return turns, tiff_orientation.unturned(path)
    except OSError as exc:
        raise from_os_error(exc, f"reading {path}") from None


def later_pages(path: Path, img, max_pixels: int, turns: tuple[int, ...] = (),
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
            gray = is_gray(img)
            if deep_tiff_for_tifffile(img):
                pixels, alpha = tifffile_pixels(path, img, index)
            elif is_16bit(img):
                if data is None:  # read once for all the deep pages, not once per page
                    data = path.read_bytes()
                pixels, alpha = decode_16bit(path, gray=gray, page=index, data=data)
            else:
                img.load()
                pixels, alpha = pil_to_arrays(img)
        except (ImageReadError, OSError, SyntaxError, ValueError, EOFError) as exc:
            note(path.name, f"{where} cannot be read ({exc}): left out")
            continue
        orientation = turns[index] if index < len(turns) else img.tag_v2.get(EXIF_ORIENTATION, 1)
        if orientation in range(2, 9):
            pixels = orient(pixels, orientation)
            alpha = orient(alpha, orientation) if alpha is not None else None
        # the page's own tags: Pillow's ``info`` keeps the profile and density of the pages before it
        tags = img.tag_v2
        icc = matching_icc(tags.get(34675), gray=pixels.ndim == 2, name=f"{path.name} ({where})")
        dpi = density.dpi_of(None, {t: tags[t] for t in density.TIFF_TAGS if t in tags}, orientation)
        pages.append(DecodedImage(pixels, alpha, icc=icc, dpi=dpi))
    return tuple(pages)


def tifffile_arrays(page, name: str) -> tuple[np.ndarray, np.ndarray | None]:
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


def read_tiff_fallback(path: Path, max_pixels: int) -> DecodedImage:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            h, w = page.shape[:2] if page.planarconfig == 1 else page.shape[1:3]
            if h * w > max_pixels:
                raise ImageReadError(f"header declares {w}x{h} = {w * h:,} pixels, more than --max-pixels {max_pixels:,}")
            pixels, alpha = tifffile_arrays(page, path.name)
            turn = page.tags.get(EXIF_ORIENTATION)  # tifffile decodes as stored
            turn = int(turn.value) if turn is not None and turn.value in range(2, 9) else 1
            pixels = orient(pixels, turn)
            alpha = orient(alpha, turn) if alpha is not None else None
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
    return DecodedImage(pixels, alpha, None, matching_icc(icc, gray=pixels.ndim == 2, name=path.name), xmp, dpi=dpi)


def deep_tiff_for_tifffile(img) -> bool:
    """A TIFF deeper than 8 bits that OpenCV cannot decode: separate planes (Pillow decodes those to 8 bits,
    OpenCV to garbage) or CMYK (OpenCV refuses 16-bit CMYK)."""
    if img.format != "TIFF":
        return False
    bits = img.tag_v2.get(258, 8)
    deep = max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return deep and (img.tag_v2.get(284) == 2 or img.tag_v2.get(262) == 5)


def tifffile_pixels(path: Path, img, page: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """A deep TIFF's samples (of its ``page``, where ``img`` stands) by tifffile, at their depth; by Pillow,
    at 8 bits and with a warning, where tifffile lacks the file's codec (LZW and JPEG need imagecodecs)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return tifffile_arrays(tif.pages[page], path.name)
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types
        note(path.name, f"its 16-bit samples are read at 8 bits ({exc})")
        return pil_to_arrays(img)
