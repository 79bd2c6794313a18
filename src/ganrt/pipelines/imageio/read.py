"""Read images faithfully: upright, at their depth, with what their output must carry over.

Pillow reads the header first (the size is checked before any decoding, so a decompression bomb is refused
cheaply), then the metadata, and validates: Pillow raises on truncated files, which OpenCV would otherwise
half-decode into a grey-filled picture. 8-bit pixels come from Pillow; 16-bit pixels from OpenCV, which
keeps their full precision (Pillow reduces 16-bit RGB to 8).

Each format family has its reader (``READERS``), one class that says what differs for it:

- ``PillowFile``: JPEG, PNG, WebP, BMP, GIF, HEIC/HEIF (pillow-heif applies the file's own rotation and resets
  the EXIF orientation, so nothing is turned twice), AVIF, Targa, PCX;
- ``PnmFile``: what Linux scanners write; a 12-bit scan's samples are stretched to 16 bits;
- ``Jp2File``: JPEG 2000, whose depth, ICC profile, EXIF, XMP and IPTC Pillow does not read (``jp2_boxes``);
- ``TiffFile``: each page's stated orientation (``tiff_orientation``), deep planar and CMYK samples, the later
  pages of a multi-page TIFF (``tiff_read``).

The pixel density (dpi) comes from the format's own field or its EXIF. An ICC profile is only carried over
when it describes the output's colour model (RGB or gray): a CMYK profile on RGB pixels would make every
colour-managed viewer show wrong colours.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from ganrt.errors import ImageReadError
from ganrt.pipelines.imageio import density, jp2_boxes, photo_text, tiff_read
from ganrt.pipelines.imageio.decoded import (EXIF_ORIENTATION, DecodedImage, matching_icc, orient, upright_exif_bytes,
                                             upright_xmp)
from ganrt.pipelines.imageio.formats import DEFAULT_MAX_PIXELS
from ganrt.pipelines.imageio.header import is_16bit, is_gray, pnm_maxval, read_header
from ganrt.pipelines.imageio.packets import PHOTOSHOP_HEADER, photoshop_of_iim
from ganrt.pipelines.imageio.samples import decode_16bit, pil_to_arrays
from ganrt.pipelines.notes import note


class PillowFile:
    """An open image of the formats Pillow decodes (the default reader); ``data``: the file's bytes to decode
    instead of the file (a TIFF stated upright)."""

    def __init__(self, img, path: Path, data: bytes | None = None):
        self.img, self.path, self.data = img, path, data
        self.sixteen, self.gray = is_16bit(img), is_gray(img)  # before load(), which clears the tile list
        self.bits = 16
        self.turns: tuple[int, ...] = ()  # the orientation each page states, where the format states it there

    def exif(self):
        """The EXIF as a Pillow ``Exif`` (empty where there is none)."""
        return self.img.getexif()

    def icc(self) -> bytes | None:
        return self.img.info.get("icc_profile")

    def own_dpi(self):
        """The density the format's own field states, as Pillow read it."""
        return self.img.info.get("dpi")

    def load(self) -> None:
        """The full decode: raises on truncated or corrupt data."""
        try:
            self.img.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"corrupt or truncated image data ({exc})") from None

    def packets(self) -> tuple[bytes | None, bytes | None]:
        """(XMP, IPTC) after load(): a PNG's text chunks may follow its pixels. The XMP Pillow (or pillow-heif)
        found: JPEG APP1, PNG iTXt, WebP/AVIF/HEIF chunks, TIFF tag 700; the Photoshop resources (the IPTC-IIM
        captions older tools write) as a JPEG's APP13 holds them, from a JPEG's APP13 or a TIFF's tag 34377."""
        img = self.img
        raw = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
        if not raw and hasattr(img, "tag_v2"):
            raw = img.tag_v2.get(700)
        app13 = next((data for marker, data in getattr(img, "applist", None) or ()
                      if marker == "APP13" and data.startswith(PHOTOSHOP_HEADER)), None)
        if app13 is None and hasattr(img, "tag_v2") and isinstance(resources := img.tag_v2.get(34377), bytes):
            app13 = PHOTOSHOP_HEADER + resources
        return upright_xmp(raw), app13

    def pixels(self):
        """(pixels, alpha) as stored: 16-bit ones by OpenCV, the rest by Pillow."""
        if self.sixteen:
            return decode_16bit(self.path, gray=self.gray, bits=self.bits, data=self.data)
        return pil_to_arrays(self.img)

    def later_pages(self, max_pixels: int) -> tuple[DecodedImage, ...]:
        return ()


class JpegFile(PillowFile):
    def own_dpi(self):
        """Not the density Pillow takes from the EXIF where the JFIF header states none (it takes the horizontal
        figure for both axes): the EXIF's own, read with the orientation, is better."""
        return self.img.info.get("dpi") if self.img.info.get("jfif_unit") in (1, 2) else None


class PnmFile(PillowFile):
    def __init__(self, img, path: Path, data: bytes | None = None):
        super().__init__(img, path, data)
        if (maxval := pnm_maxval(img)) > 255:  # a 12-bit scan's PPM says 4095: stretched to 16 bits like 12-bit JP2
            self.bits = maxval.bit_length()


class Jp2File(PillowFile):
    """JPEG 2000: Pillow decodes deep colour to 8 bits and reads no ICC profile, EXIF, XMP or IPTC; deep samples
    are decoded by OpenCV alone, which refuses damaged files (OpenJPEG's strict mode)."""

    def __init__(self, img, path: Path, data: bytes | None = None):
        super().__init__(img, path, data)
        bits, self._icc = jp2_boxes.header_facts(path)
        self._boxes = jp2_boxes.uuid_boxes(path)
        self.bits = bits or 8
        self.sixteen = self.bits > 8
        if self.bits > 16:
            raise ImageReadError(f"JPEG 2000 with {self.bits} bits per sample is not supported (16 at most)")

    def exif(self):
        box = self._boxes.get(jp2_boxes.EXIF_UUID)  # a TIFF structure
        if box is None:
            return super().exif()
        from PIL import Image

        found = Image.Exif()
        found.load(box)
        return found

    def icc(self) -> bytes | None:
        return self._icc

    def load(self) -> None:
        if not self.sixteen or self.img.mode == "LA":  # deep colour: OpenCV's decode is the check
            super().load()

    def packets(self) -> tuple[bytes | None, bytes | None]:
        iim = self._boxes.get(jp2_boxes.IPTC_UUID)
        return upright_xmp(self._boxes.get(jp2_boxes.XMP_UUID)), photoshop_of_iim(iim) if iim else None

    def pixels(self):
        if self.sixteen and self.img.mode == "LA":  # OpenCV takes no 2-channel JP2
            note(self.path.name, "16-bit gray+alpha JPEG 2000 is read at 8 bits")
            return pil_to_arrays(self.img)
        return super().pixels()


class TiffFile(PillowFile):
    """A TIFF, opened from its bytes stated upright where a page states an orientation (decoders differ in
    whether they turn a TIFF: ganrt turns it, once)."""

    def __init__(self, img, path: Path, data: bytes | None = None):
        super().__init__(img, path, data)
        self.by_tifffile = tiff_read.deep_tiff_for_tifffile(img)

    @classmethod
    def opened(cls, img, path: Path) -> TiffFile:
        turns, data = tiff_read.tiff_turns(img, path)
        if data is not None:
            from PIL import Image

            img.close()
            img = Image.open(io.BytesIO(data))
        found = cls(img, path, data)
        found.turns = turns
        return found

    def exif(self):
        from ganrt.pipelines.imageio.tiff_exif import descriptive_exif

        found = self.img.getexif()
        if found:
            descriptive_exif(found)  # a TIFF's descriptive tags and sub-IFDs only
        return found

    def pixels(self):
        if self.by_tifffile:
            return tiff_read.tifffile_pixels(self.path, self.img)
        return super().pixels()

    def later_pages(self, max_pixels: int) -> tuple[DecodedImage, ...]:
        return tiff_read.later_pages(self.path, self.img, max_pixels, self.turns, self.data)


READERS: dict[str, type[PillowFile]] = {"JPEG": JpegFile, "PPM": PnmFile, "JPEG2000": Jp2File}  # by Pillow's name


def opened(path: Path, max_pixels: int) -> PillowFile:
    """The reader of ``path``'s format, its header checked (a TIFF whose pages state an orientation reopened
    from its bytes stated upright)."""
    img = read_header(path, max_pixels)
    if img.format == "TIFF":
        return TiffFile.opened(img, path)
    return READERS.get(img.format, PillowFile)(img, path)


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, *,
               sidecar_xmp: bytes | None = None, every_page: bool = False) -> DecodedImage:
    """Decode ``path`` upright, with its metadata. Raises ImageReadError with a reason.

    ``sidecar_xmp``: the packet of the photo's XMP sidecar (``ganrt.pipelines.imageio.sidecar``), which stands
    for the photo's own XMP, and whose orientation, where it states one, stands for the EXIF's.
    ``every_page``: a multi-page TIFF's later pages are read too (``DecodedImage.pages``), for an output
    that holds them; otherwise only the first page is read, and the loss is noted."""
    path = Path(path)
    try:
        found = opened(path, max_pixels)
    except ImageReadError as exc:
        if path.suffix.lower() in (".tif", ".tiff") and "not an image" in str(exc):
            decoded = tiff_read.read_tiff_fallback(path, max_pixels)  # layouts Pillow cannot open (16-bit gray+alpha…)
            return replace(decoded, xmp=upright_xmp(sidecar_xmp)) if sidecar_xmp else decoded
        raise
    with found.img as img:
        frames = getattr(img, "n_frames", 1)
        read_pages = every_page and frames > 1 and img.format == "TIFF"
        if frames > 1 and not read_pages:
            note(path.name, f"holds {frames} pages/frames; only the first is restored")
        try:
            exif = found.exif()
        except Exception:  # noqa: BLE001 - broken EXIF is not worth failing the image
            exif = None
        orientation = found.turns[0] if found.turns else int(exif.get(EXIF_ORIENTATION, 1)) if exif else 1
        if sidecar_xmp:
            from ganrt.pipelines.imageio.sidecar import orientation as sidecar_orientation

            orientation = sidecar_orientation(sidecar_xmp) or orientation
        dpi = density.dpi_of(found.own_dpi(), exif, orientation)
        icc = found.icc()
        found.load()
        xmp, iptc = found.packets()
        if sidecar_xmp:
            xmp = upright_xmp(sidecar_xmp)
        text = photo_text.of_image(img)
        pixels, alpha = found.pixels()
        exif_bytes = upright_exif_bytes(exif)  # before another page is read: a TIFF's EXIF reads the page open
        pages = found.later_pages(max_pixels) if read_pages else ()
    if orientation in range(2, 9):
        pixels = orient(pixels, orientation)
        alpha = orient(alpha, orientation) if alpha is not None else None
    icc = matching_icc(icc, gray=pixels.ndim == 2, name=path.name)
    return DecodedImage(pixels, alpha, exif_bytes, icc, xmp, iptc, dpi, text, pages)
