"""Write images faithfully and atomically, each format by the encoder that keeps most of it.

PNG, JPEG and BMP are encoded by OpenCV straight from the array (no copy of a large output), with EXIF and
ICC inserted afterwards (``metadata``); grayscale with alpha as a gray+alpha PNG of our own; TIFF by tifffile
(ICC, XMP, IPTC and 16-bit kept; EXIF by ``tiff_exif``); WebP and AVIF by Pillow; HEIC/HEIF by pillow-heif.
JPEG 2000 is written losslessly, by Pillow (8-bit, 16-bit gray) or OpenCV (16-bit colour), its ICC profile,
density, EXIF, XMP and IPTC handled by ``jp2_boxes``, which neither library writes. OpenCV is never handed a
path it cannot take (a folder name that is not UTF-8): it encodes to memory instead. The output states the
density of its own pixels (``density``) and the size it has (``retag``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganrt.errors import ImageWriteError, from_os_error
from ganrt.fsutil import atomic_path
from ganrt.pipelines.imageio import density, photo_text, retag
from ganrt.pipelines.imageio.decoded import DecodedImage
from ganrt.pipelines.imageio.formats import DENSITY_FIELD, HEIF_SUFFIXES, IMAGE_SUFFIXES, holds_16bit, holds_alpha, \
    holds_pages
from ganrt.pipelines.imageio.header import heif_registered
from ganrt.pipelines.imageio.packets import PHOTOSHOP_HEADER, bare_exif, iim_of_photoshop
from ganrt.pipelines.imageio.samples import cv2_path_ok, cv2_write, quiet_opencv, to_8bit


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
                if not heif_registered():
                    raise ImageWriteError("writing HEIC needs pillow-heif: pip install pillow-heif")
                _write_pillow(tmp, "HEIF", pixels, alpha, exif=exif, icc=icc, xmp=xmp,
                              options={"quality": quality, "chroma": 444 if quality >= 90 else 420})
            elif suffix == ".png" and alpha is not None and pixels.ndim == 2:
                from ganrt.pipelines.imageio.metadata import png_gray_alpha

                tmp.write_bytes(png_gray_alpha(pixels, alpha, exif=exif, icc=icc, xmp=xmp, dpi=dpi, text=text,
                                               level=max(1, png_compression)))
            else:
                _write_opencv(tmp, suffix, pixels, alpha, exif=exif, icc=icc, xmp=xmp, iptc=iptc, dpi=dpi, text=text,
                              quality=quality, png_compression=png_compression, consume=consume)
    except OSError as exc:
        raise from_os_error(exc, f"writing {path}") from None
    return path


def _write_opencv(tmp: Path, suffix: str, pixels, alpha, *, exif, icc, xmp, iptc, dpi, text, quality,
                  png_compression, consume) -> None:
    import cv2

    from ganrt.pipelines.imageio.metadata import insert_metadata

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

    from ganrt.pipelines.imageio import tiff_exif

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

    from ganrt.pipelines.imageio import jp2_boxes

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
