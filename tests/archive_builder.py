"""Build a test archive of real photos in every shape an archivist's folder holds, plus bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int = 1, make: str = "ArchiveScanner 3000") -> bytes:
    ex = Image.Exif()
    ex[0x010F] = make
    ex[0x0112] = orientation
    return ex.tobytes()


def build_archive(root: Path, photos: dict[str, np.ndarray]) -> dict[str, str]:
    """Create the archive under ``root``. Returns {relative path: kind} for every file made."""
    a, b, c = photos["chelsea_45x59"], photos["coffee_61x93"][:40, :52], photos["astronaut_77x131"][:36, :44]
    kinds: dict[str, str] = {}

    def put(rel: str, kind: str, writer) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(path)
        kinds[rel] = kind

    put("plain.jpg", "rgb", lambda p: Image.fromarray(a).save(p, quality=90))
    put("1998/summer/beach day.PNG", "rgb", lambda p: Image.fromarray(b).save(p))
    put("1998/summer/été à la plage – 海.jpg", "unicode", lambda p: Image.fromarray(c).save(p, quality=90))
    rgba = np.zeros((*b.shape[:2], 4), np.uint8)  # transparent black background
    rgba[8:32, 10:42, :3] = (np.array([230, 200, 150]) + (b[8:32, 10:42] // 16 - 8)).clip(0, 255)  # a pale logo
    rgba[8:32, 10:42, 3] = 255
    put("scans/logo.png", "rgba", lambda p: Image.fromarray(rgba, "RGBA").save(p))
    opaque = np.dstack([a, np.full(a.shape[:2], 255, np.uint8)])
    put("scans/opaque.png", "rgba_opaque", lambda p: Image.fromarray(opaque, "RGBA").save(p))
    put("scans/deep.tif", "rgb16", lambda p: _write_16bit(p, b))
    put("scans/deep16.png", "rgb16", lambda p: _write_16bit(p, a))
    put("scans/grey.jpg", "gray", lambda p: Image.fromarray(a.mean(axis=2).astype(np.uint8)).save(p, quality=90))
    put("scans/rotated.jpg", "exif_rotated",
        lambda p: Image.fromarray(c).save(p, quality=90, exif=exif_bytes(orientation=6)))
    put("scans/tagged.jpg", "icc", lambda p: Image.fromarray(a).save(p, quality=90, icc_profile=SRGB_ICC,
                                                                  exif=exif_bytes()))
    put("scans/tagged.webp", "icc", lambda p: Image.fromarray(b).save(p, quality=90, icc_profile=SRGB_ICC))
    put("old/scan.bmp", "rgb", lambda p: Image.fromarray(b).save(p))
    # bad files
    good_jpeg = _encode(a, "JPEG")
    good_png = _encode(b, "PNG")
    put("bad/truncated.jpg", "bad", lambda p: p.write_bytes(good_jpeg[: len(good_jpeg) // 2]))
    put("bad/truncated.png", "bad", lambda p: p.write_bytes(good_png[: len(good_png) // 2]))
    put("bad/empty.png", "bad", lambda p: p.write_bytes(b""))
    put("bad/notes.jpg", "bad", lambda p: p.write_text("shopping list: milk, film, fixer\n"))
    put("bad/bomb.png", "bad", lambda p: p.write_bytes(_png_bomb(60000, 60000)))
    put("notes.txt", "ignored", lambda p: p.write_text("not a picture"))
    put("1998/index.html", "ignored", lambda p: p.write_text("<html></html>"))
    return kinds


def _encode(arr: np.ndarray, fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _write_16bit(path: Path, rgb8: np.ndarray) -> None:
    import cv2

    rgb16 = rgb8.astype(np.uint16) * 257 + np.arange(rgb8.shape[1], dtype=np.uint16)[None, :, None]
    assert cv2.imwrite(str(path), rgb16[..., ::-1])


def _png_bomb(w: int, h: int) -> bytes:
    """A valid PNG header declaring w×h pixels with a tiny, zero-filled IDAT (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes, to prove inputs were never touched."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
