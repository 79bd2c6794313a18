"""Photo archives: mirrored, faithful, resumable, never touching the originals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_builder import SRGB_ICC, build_archive, snapshot
from conftest import cli
from ganrt.pipelines.imageio.read import read_image

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32",
        "--tile", "0"]


def restore(src, dst, *extra):
    return cli("restore", str(src), str(dst), *FAST, *map(str, extra))


def expected_output(rel: str) -> str:
    return rel  # --format same keeps names, suffix letter case included


def outputs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".ganrt-state")}


@pytest.fixture()
def archive(tmp_path, photos):
    src = tmp_path / "archive"
    kinds = build_archive(src, photos)
    return src, kinds


def test_archive_run(archive, tmp_path):
    src, kinds = archive
    before = snapshot(src)
    dst = tmp_path / "restored"
    result = restore(src, dst, "--report", tmp_path / "report.json", "--preview", tmp_path / "sheet.png")
    assert result.exit_code == 1, result.output  # some inputs failed, all others processed
    good = {rel for rel, kind in kinds.items() if kind not in ("bad", "ignored")}
    assert outputs(dst) == {expected_output(rel) for rel in good}
    for rel in good:
        out = read_image(dst / expected_output(rel))
        inp = read_image(src / rel)
        assert (out.height, out.width) == (inp.height * 4, inp.width * 4), rel
        assert out.pixels.std() > 5, rel  # a picture, not a flat or black frame
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["restored"] == len(good) and report["failed"] == 5 and report["ignored"] == 2
    reasons = {f["path"]: f["reason"] for f in report["failures"]}
    assert "truncated" in reasons["bad/truncated.jpg"] and "truncated" in reasons["bad/truncated.png"]
    assert "empty" in reasons["bad/empty.png"]
    assert "not an image" in reasons["bad/notes.jpg"]
    assert "--max-pixels" in reasons["bad/bomb.png"]
    assert report["images_per_s"] > 0 and report["megapixels_per_s"] > 0
    assert snapshot(src) == before  # inputs byte-identical
    assert not [p for p in dst.rglob("*") if "ganrt-tmp" in p.name]
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.width > 200 and sheet.height > 100


def test_faithful_images(archive, tmp_path):
    src, _ = archive
    dst = tmp_path / "out"
    restore(src, dst)
    # EXIF orientation applied, tag reset, other EXIF kept
    rot_in = Image.open(src / "scans/rotated.jpg")
    rot_out = Image.open(dst / "scans/rotated.jpg")
    assert rot_in.size == (44, 36) and rot_out.size == (36 * 4, 44 * 4)
    assert rot_out.getexif().get(0x0112, 1) == 1 and rot_out.getexif().get(0x010F) == "ArchiveScanner 3000"
    # ICC carried over where the format holds it
    for rel in ("scans/tagged.jpg", "scans/tagged.webp"):
        assert Image.open(dst / rel).info.get("icc_profile") == SRGB_ICC, rel
    # alpha kept, upscaled smoothly, transparent stays transparent, no dark fringe at the edge
    logo = read_image(dst / "scans/logo.png")
    assert logo.alpha is not None and logo.alpha.shape == logo.pixels.shape[:2]
    assert logo.alpha[:16].max() == 0 and logo.alpha[60:100, 80:140].min() == 255
    edge_alpha = logo.alpha[28:36, 60:140]  # the top edge of the opaque rectangle (input rows 8..)
    assert 0 < edge_alpha.mean() < 255  # a smooth ramp, not a hard 0/255 step
    import cv2

    visible = (logo.alpha >= 64).astype(np.uint8)
    ring = (visible & ~cv2.erode(visible, np.ones((17, 17), np.uint8))).astype(bool)  # within 8 px of the edge
    assert ring.sum() > 200
    edge_luma = logo.pixels[ring].mean(axis=1)
    assert np.percentile(edge_luma, 5) > 150, "dark fringe: transparent black bled into the visible edge"
    opaque = read_image(dst / "scans/opaque.png")
    assert opaque.alpha is not None and (opaque.alpha == 255).all()
    # 16-bit in, 16-bit out, from full precision
    for rel in ("scans/deep.tif", "scans/deep16.png"):
        deep = read_image(dst / rel)
        assert deep.pixels.dtype == np.uint16, rel
        assert len(np.unique(deep.pixels % 257)) > 50, rel  # not 8-bit values scaled up
    # grayscale in, grayscale out
    assert Image.open(dst / "scans/grey.jpg").mode == "L"


def test_phone_photos_heic_and_avif_are_restored_upright_in_their_own_format(tmp_path, photos):
    """A phone's HEIC (stored sideways: EXIF orientation 6, which the encoder also writes as the container's
    rotation), an AVIF with transparency, and a HEIC saved under a .jpg name (as some exports do) are read,
    restored and written back, upright, with their EXIF and ICC profile; they were "not an image" before."""
    pytest.importorskip("pillow_heif")  # a ganrt dependency; absent only on hand-made environments
    from archive_builder import exif_bytes
    from ganrt.quality import psnr

    a = photos["chelsea_45x59"]
    src = tmp_path / "phone"
    src.mkdir()
    Image.fromarray(a).save(src / "IMG_0001.HEIC", format="HEIF", quality=95, exif=exif_bytes(orientation=6),
                            icc_profile=SRGB_ICC)
    rgba = np.dstack([a, np.full(a.shape[:2], 255, np.uint8)])
    rgba[:12, :, 3] = 0  # a transparent band at the top
    Image.fromarray(rgba, "RGBA").save(src / "sticker.avif", quality=95)
    Image.fromarray(a).save(src / "export.jpg", format="HEIF", quality=95)
    dst = tmp_path / "out"
    result = restore(src, dst, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["restored"] == 3
    heic = Image.open(dst / "IMG_0001.HEIC")  # Pillow opens it now that ganrt registered pillow-heif
    assert heic.format == "HEIF" and heic.size == (45 * 4, 59 * 4)  # turned upright: 59 wide becomes 59 high
    assert heic.getexif().get(0x0112, 1) == 1 and heic.getexif().get(0x010F) == "ArchiveScanner 3000"
    assert heic.info.get("icc_profile") == SRGB_ICC
    upright = np.ascontiguousarray(np.rot90(a, -1))  # EXIF 6: turn 90° clockwise to view
    small = np.asarray(heic.convert("RGB").resize((45, 59), Image.BICUBIC))
    assert psnr(small / 255.0, upright / 255.0) > 24  # the picture itself, the right way up
    sticker = read_image(dst / "sticker.avif")
    assert Image.open(dst / "sticker.avif").format == "AVIF" and sticker.alpha is not None
    assert sticker.alpha[:40].max() < 16 and sticker.alpha[60:].min() > 240
    assert Image.open(dst / "export.jpg").format == "JPEG"  # the name says JPEG, so JPEG is written
    single = tmp_path / "one.heic"
    assert restore(src / "export.jpg", single, "--format", "heic").exit_code == 0
    assert Image.open(single).format == "HEIF"
    doctor = cli("doctor", "--json")  # says which library reads them
    formats = json.loads(doctor.stdout)["media"]["image formats"]  # notices of slow first steps go to stderr
    assert formats["heic"].startswith("pillow-heif ") and formats["avif"].startswith("avif ")


CAPTION = "Grandma Rose at Brighton beach, summer 1962"
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
       f'tiff:Orientation="6"><dc:description><rdf:Alt><rdf:li xml:lang="x-default">{CAPTION}</rdf:li></rdf:Alt>'
       '</dc:description><dc:subject><rdf:Bag><rdf:li>family</rdf:li><rdf:li>Rose</rdf:li></rdf:Bag></dc:subject>'
       '</rdf:Description></rdf:RDF></x:xmpmeta>').encode()


def iptc_app13(caption: str) -> bytes:
    """A JPEG APP13 payload as Photoshop and Photo Mechanic write it: an 8BIM IPTC-IIM resource holding a
    caption (2:120) and a keyword (2:25)."""
    import struct

    iim = b"".join(b"\x1c\x02" + bytes([tag]) + struct.pack(">H", len(v)) + v
                   for tag, v in ((120, caption.encode()), (25, b"family")))
    iim += b"\x00" * (len(iim) % 2)
    return b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iim)) + iim


def test_captions_and_keywords_travel_with_the_photo(tmp_path, photos):
    """XMP (what Lightroom, digiKam and darktable write: captions, keywords, people) and a JPEG's IPTC-IIM
    block are carried into the restored photo in every format that holds them, as EXIF and ICC already
    were; the XMP orientation is reset with the EXIF one, since the pixels are turned upright."""
    import tifffile
    from PIL import PngImagePlugin

    from archive_builder import exif_bytes
    from ganrt.pipelines.imageio.metadata import jpeg_metadata_segments, png_chunk

    a = photos["chelsea_45x59"]
    src = tmp_path / "album"
    src.mkdir()
    plain = src / "plain.jpg"
    Image.fromarray(a).save(plain, quality=90, exif=exif_bytes(orientation=6))
    data = plain.read_bytes()  # the IPTC block goes in as the tools put it: an APP13 segment after APP1
    (src / "rose.jpg").write_bytes(data[:2] + jpeg_metadata_segments(None, None, XMP, iptc_app13(CAPTION)) + data[2:])
    plain.unlink()
    png_info = PngImagePlugin.PngInfo()
    png_info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    Image.fromarray(a).save(src / "rose.png", pnginfo=png_info)
    tifffile.imwrite(src / "rose.tif", a, photometric="rgb", extratags=[(700, "B", len(XMP), XMP, True)])
    Image.fromarray(a).save(src / "late.png")  # some tools put the XMP after the pixels
    png = (src / "late.png").read_bytes()
    end = png.index(b"IEND") - 4
    xmp_chunk = png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)
    (src / "late.png").write_bytes(png[:end] + xmp_chunk + png[end:])
    dst = tmp_path / "out"
    assert restore(src, dst).exit_code == 0
    for name in ("rose.jpg", "rose.png", "rose.tif", "late.png"):
        xmp = read_image(dst / name).xmp
        assert xmp is not None and CAPTION.encode() in xmp and b"<rdf:li>Rose</rdf:li>" in xmp, name
    jpeg = Image.open(dst / "rose.jpg")
    assert jpeg.size == (45 * 4, 59 * 4) and jpeg.getexif().get(0x0112) == 1  # turned upright, EXIF says so
    assert b'tiff:Orientation="1"' in jpeg.info["xmp"]  # and so does the XMP
    assert [d for m, d in jpeg.applist if m == "APP13"] == [iptc_app13(CAPTION)]
    assert restore(src / "rose.jpg", tmp_path / "rose.png", "--format", "png").exit_code == 0
    assert CAPTION.encode() in read_image(tmp_path / "rose.png").xmp


def test_captions_in_xmp_sidecars_travel_with_the_photo_and_edits_to_them_redo_it(tmp_path, photos):
    """digiKam ("sidecar files only", for read-only archives) and darktable keep captions in
    IMG.jpg.xmp, Lightroom and Bridge in IMG.xmp: the restored photo carries the sidecar's XMP (which
    those tools read before the photo's own), turned as the sidecar says."""
    a = photos["chelsea_45x59"]
    src = tmp_path / "album"
    src.mkdir()
    Image.fromarray(a).save(src / "digikam.jpg", quality=90)
    (src / "digikam.jpg.xmp").write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + XMP + b"\n")
    Image.fromarray(a).save(src / "lightroom.png")
    (src / "lightroom.xmp").write_bytes(XMP.replace(b'tiff:Orientation="6"', b""))
    Image.fromarray(a).save(src / "alone.png")
    (src / "broken.png.xmp").write_text("not xmp at all")
    Image.fromarray(a).save(src / "broken.png")
    dst = tmp_path / "out"
    first = restore(src, dst, "--report", tmp_path / "r.json")
    assert first.exit_code == 0, first.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ignored_files"] == [
        {"path": "broken.png.xmp", "reason": "XMP sidecar of broken.png (its captions go into that output)"},
        {"path": "digikam.jpg.xmp", "reason": "XMP sidecar of digikam.jpg (its captions go into that output)"},
        {"path": "lightroom.xmp", "reason": "XMP sidecar of lightroom.png (its captions go into that output)"}]
    for name in ("digikam.jpg", "lightroom.png"):
        xmp = read_image(dst / name).xmp
        assert xmp.startswith(b"<x:xmpmeta") and CAPTION.encode() in xmp, name
    assert Image.open(dst / "digikam.jpg").size == (45 * 4, 59 * 4)  # turned as the sidecar says
    assert b'tiff:Orientation="1"' in read_image(dst / "digikam.jpg").xmp
    assert Image.open(dst / "lightroom.png").size == (59 * 4, 45 * 4)
    assert read_image(dst / "alone.png").xmp is None and read_image(dst / "broken.png").xmp is None
    assert "broken.png.xmp holds no XMP packet" in " ".join(first.output.split())
    (src / "lightroom.xmp").write_bytes(XMP.replace(CAPTION.encode(), b"Rose, 1963 (corrected)"))
    os.utime(src / "lightroom.xmp", ns=(0, (src / "lightroom.png").stat().st_mtime_ns + 10**9))
    again = restore(src, dst, "--report", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert again.exit_code == 0 and (report["restored"], report["skipped_done"]) == (1, 3)
    assert b"Rose, 1963 (corrected)" in read_image(dst / "lightroom.png").xmp


def test_camera_dates_place_and_captions_stay_in_tiff_and_jpeg2000_masters(tmp_path, photos):
    """TIFF and JPEG 2000, the archival masters' formats, keep what a JPEG keeps: the EXIF (camera, author,
    the date taken in the Exif sub-IFD, the GPS position; UTF-8 text byte for byte), the XMP and the IPTC
    captions, written where
    exiftool and Exiv2 look (TIFF: first IFD, sub-IFDs, tags 700 and 34377; JP2: uuid boxes) and read
    back from there. A TIFF's EXIF is its descriptive tags only: not its strip offsets, not Photoshop's
    layers, which would not fit a JPEG's EXIF segment."""
    import tifffile

    from ganrt.pipelines.imageio.metadata import jpeg_metadata_segments

    from ganrt.pipelines.imageio.tiff_exif import exif_tobytes

    def as_read(text: str) -> str:  # UTF-8 text, as exiftool writes it, as Pillow reads it (Latin-1)
        return text.encode().decode("latin-1")

    exif = Image.Exif()
    exif[0x010F], exif[0x013B], exif[0x0112] = "Nikon", as_read("Grand-père Joe"), 6
    exif[0x8769] = {0x9003: "1962:07:14 15:30:00", 0xA434: as_read("Nikkor 50 mm ƒ/1.4")}  # date taken, lens
    exif[0x8825] = {1: "N", 2: (50.0, 49.0, 12.0)}  # Brighton
    scan = tmp_path / "plain.jpg"
    Image.fromarray(photos["chelsea_45x59"]).save(scan, quality=90, exif=exif_tobytes(exif))
    data = scan.read_bytes()
    assert "Grand-père Joe".encode() in data and "ƒ/1.4".encode() in data
    scan.write_bytes(data[:2] + jpeg_metadata_segments(None, None, XMP, iptc_app13(CAPTION)) + data[2:])

    def facts(path: Path):
        image = read_image(path)
        got = Image.Exif()
        got.load(image.exif)
        taken = got.get_ifd(0x8769)
        return (got.get(0x010F), got.get(0x013B), got.get(0x0112), taken.get(0x9003), taken.get(0xA434),
                got.get_ifd(0x8825).get(2), CAPTION.encode() in (image.xmp or b""), image.iptc, image.pixels.shape)

    want = ("Nikon", as_read("Grand-père Joe"), 1, "1962:07:14 15:30:00", as_read("Nikkor 50 mm ƒ/1.4"),
            (50.0, 49.0, 12.0), True, iptc_app13(CAPTION), (59 * 4, 45 * 4, 3))  # the UTF-8 bytes, not '?'
    assert facts(scan)[:-1] == want[:-1]  # what the scan holds, as ganrt reads it
    for fmt, suffix in (("tiff", ".tif"), ("jp2", ".jp2")):
        master = tmp_path / f"master{suffix}"
        assert restore(scan, master, "--format", fmt).exit_code == 0
        assert facts(master) == want, fmt
        again = tmp_path / f"from-{fmt}.jpg"  # and out of the master again, into a JPEG
        assert restore(master, again, "--outscale", "1").exit_code == 0
        assert facts(again) == want, fmt
    with tifffile.TiffFile(tmp_path / "master.tif") as tif:  # where exiftool reads them
        page = tif.pages[0]
        assert page.tags["ExifTag"].value["DateTimeOriginal"] == "1962:07:14 15:30:00"
        assert page.tags["GPSTag"].value["GPSLatitudeRef"] == "N" and page.tags["Make"].value == "Nikon"
        assert "ImageDescription" not in page.tags and "Software" not in page.tags  # no tifffile JSON or name
    photoshop = tmp_path / "layers.tif"  # a TIFF from Photoshop: its layers are 200 KB of the first IFD
    tifffile.imwrite(photoshop, photos["coffee_61x93"], photometric="rgb", software="Adobe Photoshop 25.0",
                     extratags=[(315, "s", 0, "Grandpa Joe", True), (37724, "B", 200_000, bytes(200_000), True)])
    assert restore(photoshop, tmp_path / "layers.jpg").exit_code == 0
    kept = Image.open(tmp_path / "layers.jpg").getexif()
    assert kept.get(0x013B) == "Grandpa Joe" and kept.get(0x0131) == "Adobe Photoshop 25.0"
    assert 37724 not in kept and 0x0111 not in kept  # no layers, no strip offsets


def test_an_upscaled_scan_keeps_its_print_size_in_every_format(tmp_path, photos):
    """A 300 dpi scan upscaled 4× is written at 1200 dpi, in each format's own field (PNG pHYs, JFIF, TIFF
    tags in inches or centimetres, BMP header, JPEG 2000 resc, EXIF for WebP) and in every copy the file
    carries (EXIF, XMP, Photoshop's resolution resource); a rotated photo's axes swap; a photo that states no
    density gets none. The EXIF and XMP sizes a camera wrote say the output's size, not the scan's."""
    import struct

    import tifffile

    from ganrt.pipelines.imageio import jp2_boxes

    pixels = photos["chelsea_45x59"]  # 59 wide, 45 high
    src, dst = tmp_path / "scans", tmp_path / "out"
    src.mkdir()
    img = Image.fromarray(pixels)
    img.save(src / "print.png", dpi=(300, 300))
    img.save(src / "print.bmp", dpi=(300, 300))
    tifffile.imwrite(src / "print.tif", pixels, photometric="rgb", resolution=(300 / 2.54, 150 / 2.54),
                     resolutionunit=3)  # per centimetre, and not square
    img.save(src / "raw.jp2")
    (src / "print.jp2").write_bytes(jp2_boxes.with_resolution((src / "raw.jp2").read_bytes(),
                                                              struct.pack(">HHHHbb", 1500, 127, 1500, 127, 3, 3)))
    (src / "raw.jp2").unlink()
    exif = Image.Exif()
    exif[282], exif[283], exif[296] = 300, 300, 2
    img.save(src / "print.webp", exif=exif.tobytes(), lossless=True)
    xmp = XMP.replace(b'tiff:Orientation="6"', b'tiff:XResolution="300/1" tiff:YResolution="300/1" '
                      b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:PixelXDimension="59" '
                      b'exif:PixelYDimension="45"')
    camera = Image.Exif()
    camera[282], camera[283], camera[296] = 300, 300, 2
    camera[0x8769] = {0xA002: 59, 0xA003: 45, 0x9003: "1962:07:14 15:30:00"}  # PixelX/YDimension, date taken
    resolution = b"8BIM\x03\xed\x00\x00" + struct.pack(">I", 16) + struct.pack(">IHHIHH", 300 << 16, 1, 1,
                                                                                   300 << 16, 1, 1)
    img.save(src / "print.jpg", dpi=(300, 300), exif=camera.tobytes(), xmp=xmp, quality=95)
    data = (src / "print.jpg").read_bytes()
    app13 = iptc_app13(CAPTION) + resolution
    (src / "print.jpg").write_bytes(data[:20] + b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13 + data[20:])
    turned = Image.Exif()
    turned[282], turned[283], turned[296], turned[274] = 300, 600, 2, 6  # EXIF only; a quarter turn
    img.save(src / "turned.jpg", exif=turned.tobytes())
    img.save(src / "unstated.png")
    assert restore(src, dst, "-q").exit_code == 0

    def dpi(name: str) -> tuple[float, float] | None:
        d = Image.open(dst / name).info.get("dpi")
        return None if d is None else tuple(round(float(v), 1) for v in d)

    for name in ("print.png", "print.bmp", "print.jp2", "print.jpg"):
        assert dpi(name) == (1200.0, 1200.0), name
    assert dpi("print.tif") == (1200.0, 600.0)
    assert Image.open(dst / "print.tif").getexif()[296] == 2  # now per inch
    for name in ("print.webp", "print.jpg"):  # the EXIF's copy
        written = Image.open(dst / name).getexif()
        assert (written[282], written[283], written[296]) == (1200, 1200, 2), name
    jpeg = Image.open(dst / "print.jpg")
    assert b'tiff:XResolution="1200/1"' in jpeg.info["xmp"] and b'tiff:YResolution="1200/1"' in jpeg.info["xmp"]
    assert b'exif:PixelXDimension="236" exif:PixelYDimension="180"' in jpeg.info["xmp"]
    taken = jpeg.getexif().get_ifd(0x8769)
    assert (taken[0xA002], taken[0xA003], taken[0x9003]) == (236, 180, "1962:07:14 15:30:00")
    written_app13 = dict(jpeg.applist)["APP13"]
    at = written_app13.index(b"8BIM\x03\xed") + 12
    assert struct.unpack_from(">I", written_app13, at)[0] == struct.unpack_from(">I", written_app13, at + 8)[0] \
        == 1200 << 16  # what Photoshop reads first
    assert CAPTION.encode() in written_app13
    upright = Image.open(dst / "turned.jpg")
    assert upright.size == (45 * 4, 59 * 4) and dpi("turned.jpg") == (2400.0, 1200.0)
    assert dpi("unstated.png") is None  # no 72 dpi made up
    for fmt, suffix in (("jp2", ".jp2"), ("webp", ".webp"), ("tiff", ".tif")):  # a change of format keeps it too
        out = tmp_path / f"half{suffix}"
        assert restore(src / "print.png", out, "--outscale", "2", "--format", fmt).exit_code == 0
        got = read_image(out).dpi
        assert got is not None and abs(got[0] - 600) < 0.1 and abs(got[1] - 600) < 0.1, (fmt, got)


def test_a_scans_title_author_and_comment_travel_with_it(tmp_path, photos):
    """The text chunks of a PNG scan (tEXt, zTXt, iTXt in UTF-8) come back as such in a PNG output, and in
    the EXIF tags that mean the same (ImageDescription, Artist, UserComment) in a JPEG or TIFF, UTF-8
    byte for byte (a JPEG keeps the comment as its COM segment); an EXIF that already says them keeps its
    own words. A JPEG's comment stays a comment in a JPEG and becomes a Comment chunk in a PNG."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Grandma Rose")
    info.add_text("Author", "Joe")
    info.add_itxt("Description", "Brighton beach, été 1962 — 🌊")
    info.add_text("Comment", "scan 0042", zip=True)
    scan = tmp_path / "scan.png"
    Image.fromarray(photos["chelsea_45x59"]).save(scan, pnginfo=info)
    want = {"Title": "Grandma Rose", "Author": "Joe", "Description": "Brighton beach, été 1962 — 🌊",
            "Comment": "scan 0042"}
    assert restore(scan, tmp_path / "out.png").exit_code == 0
    out = Image.open(tmp_path / "out.png")
    out.load()
    assert out.text == want
    for suffix in (".jpg", ".tif"):
        assert restore(scan, tmp_path / f"out{suffix}").exit_code == 0
        exif = Image.open(tmp_path / f"out{suffix}").getexif()
        assert exif[0x010E].encode("latin-1").decode("utf-8") == want["Description"]  # the UTF-8 bytes
        assert exif[0x013B] == "Joe"
        if suffix == ".jpg":  # a JPEG keeps a comment as a comment
            assert Image.open(tmp_path / "out.jpg").info["comment"] == b"scan 0042"
        else:
            assert exif.get_ifd(0x8769)[0x9286] == b"ASCII\x00\x00\x00scan 0042"
    named = Image.Exif()
    named[0x013B] = "Grandpa Joe"
    Image.fromarray(photos["chelsea_45x59"]).save(tmp_path / "named.png", pnginfo=info, exif=named.tobytes())
    assert restore(tmp_path / "named.png", tmp_path / "named.jpg").exit_code == 0
    assert Image.open(tmp_path / "named.jpg").getexif()[0x013B] == "Grandpa Joe"
    noted = tmp_path / "noted.jpg"  # a JPEG's comment (COM), where scanner software notes the scan
    Image.fromarray(photos["chelsea_45x59"]).save(noted, comment="Scanned 1998 by Dad — box 3".encode())
    assert restore(noted, tmp_path / "noted-out.jpg").exit_code == 0
    assert Image.open(tmp_path / "noted-out.jpg").info["comment"] == "Scanned 1998 by Dad — box 3".encode()
    assert restore(noted, tmp_path / "noted-out.png").exit_code == 0
    as_png = Image.open(tmp_path / "noted-out.png")
    as_png.load()
    assert as_png.text == {"Comment": "Scanned 1998 by Dad — box 3"}
    assert restore(noted, tmp_path / "noted-out.webp").exit_code == 0  # UTF-16 in the EXIF's own byte order
    exif = Image.open(tmp_path / "noted-out.webp").getexif()
    comment = exif.get_ifd(0x8769)[0x9286]
    assert comment[:8] == b"UNICODE\x00"
    assert comment[8:].decode("utf-16-le" if exif.endian == "<" else "utf-16-be") == "Scanned 1998 by Dad — box 3"


def test_old_and_scanner_formats_are_read_and_written_as_png(tmp_path, photos):
    """GIF (animated too: its first frame, with a warning), what SANE's scanimage writes (PPM, PGM, PBM; 16-
    and 12-bit PPM kept deep) and DOS-era Targa and PCX are restored, each into a PNG beside the others; a
    JPEG a browser saved as .jfif (or a camera as .jpe) into a .jpg."""
    import cv2

    src, dst = tmp_path / "old", tmp_path / "out"
    src.mkdir()
    rgb = photos["chelsea_45x59"]
    img = Image.fromarray(rgb)
    img.save(src / "web.gif")
    img.save(src / "anim.gif", save_all=True, append_images=[img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    img.convert("L").save(src / "gray.pgm")
    img.convert("1").save(src / "ink.pbm")
    img.save(src / "dos.tga")
    img.save(src / "paint.pcx")
    deep = rgb.astype(np.uint16) * 257 + 3  # low bits an 8-bit read would lose
    (src / "scan16.ppm").write_bytes(b"P6\n59 45\n65535\n" + deep.astype(">u2").tobytes())
    (src / "scan12.ppm").write_bytes(b"P6\n59 45\n4095\n" + (rgb.astype(np.uint16) * 16).astype(">u2").tobytes())
    img.save(src / "saved from chrome.jfif", format="JPEG", dpi=(72, 72))  # JPEGs under other names: .jpg
    img.save(src / "camera.JPE", format="JPEG")
    result = restore(src, dst)
    assert result.exit_code == 0, result.output
    assert "anim.gif: holds 2 pages/frames; only the first is restored" in " ".join(result.output.split())
    assert outputs(dst) == {"web.png", "anim.png", "gray.png", "ink.png", "dos.png", "paint.png", "scan16.png",
                            "scan12.png", "saved from chrome.jpg", "camera.jpg"}
    with Image.open(dst / "saved from chrome.jpg") as jfif:
        assert (jfif.format, jfif.size, jfif.info["dpi"]) == ("JPEG", (236, 180), (288, 288))
    for name in ("scan16.png", "scan12.png"):
        got = cv2.imread(str(dst / name), cv2.IMREAD_UNCHANGED)
        assert got.dtype == np.uint16 and got.shape == (180, 236, 3), name
        small = cv2.resize(got, (59, 45), interpolation=cv2.INTER_AREA)[..., ::-1].astype(float) / 257
        assert np.abs(small - rgb).mean() < 8, name
    assert read_image(src / "scan12.ppm").pixels.max() > 4095 * 8  # stretched to 16 bits, not left at 12


def test_the_report_names_every_output_that_lost_something_of_its_input(tmp_path, photos):
    """A two-page TIFF restored from its first page, a 16-bit scan written as an 8-bit JPEG, a photo whose
    sidecar holds no XMP: each is restored (exit 0), and the report says what each output lost, in JSON and
    in CSV; a rerun that skips them as done still lists them (the job state keeps the notes)."""
    import csv

    import tifffile

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgb = photos["chelsea_45x59"]
    Image.fromarray(rgb).save(src / "front and back.tif", save_all=True,
                              append_images=[Image.fromarray(rgb[::-1].copy())])
    tifffile.imwrite(src / "deep.tif", rgb.astype(np.uint16) * 257, photometric="rgb")
    Image.fromarray(rgb).save(src / "plain.png")
    (src / "plain.xmp").write_text("written by a tool that is not an XMP editor")
    result = restore(src, dst, "--format", "jpg", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert outputs(dst) == {"front and back.jpg", "deep.jpg", "plain.jpg"}
    want = [("deep.tif", ".jpg cannot hold 16-bit samples; writing 8-bit"),
            ("front and back.tif", "holds 2 pages/frames; only the first is restored"),
            ("plain.png", "its sidecar plain.xmp holds no XMP packet; the photo's own XMP is kept")]
    report = json.loads((tmp_path / "r.json").read_text())
    assert sorted((w["path"], w["note"]) for w in report["warnings"]) == want
    assert (report["restored"], report["restored_with_warnings"], report["failed"]) == (3, 3, 0)
    assert "outputs with warnings (see --report) │ 3" in result.output
    again = restore(src, dst, "--format", "jpg", "--report", tmp_path / "r.csv")
    assert again.exit_code == 0, again.output
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["path", "outcome", "reason"]
    assert sorted((path, why) for path, outcome, why in rows[1:] if outcome == "warning") == want
    assert (tmp_path / "r.csv").stat().st_size < 2000


def test_a_turned_tiff_is_read_upright_once(tmp_path, photos):
    """A TIFF that states its orientation (a scan turned in a photo manager, which sets the tag): every one of
    the 8, at 8 and 16 bits, gray and colour, uncompressed, zlib and LZW, comes out upright, turned once (a
    decoder that turns TIFFs itself must not have it turned twice); and a folder restore of one is upright."""
    import tifffile

    from ganrt.pipelines.imageio.decoded import orient

    rgb = photos["chelsea_45x59"]
    samples = [rgb, rgb[..., 1].copy(), rgb.astype(np.uint16) * 257 + 3, rgb[..., 0].astype(np.uint16) * 257]
    for orientation in range(1, 9):
        for arr in samples:
            for compression in (None, "zlib"):
                tifffile.imwrite(tmp_path / "t.tif", arr, photometric="rgb" if arr.ndim == 3 else "minisblack",
                                 compression=compression, metadata=None,
                                 extratags=[(274, "H", 1, orientation, True)])
                got = read_image(tmp_path / "t.tif").pixels
                assert np.array_equal(got, orient(arr, orientation)), (orientation, arr.dtype, arr.ndim, compression)
        exif = Image.Exif()
        exif[274] = orientation
        Image.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw", exif=exif)
        assert np.array_equal(read_image(tmp_path / "lzw.tif").pixels, orient(rgb, orientation)), orientation
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    tifffile.imwrite(src / "sideways.tif", rgb, photometric="rgb", metadata=None, extratags=[(274, "H", 1, 6, True)])
    assert restore(src, dst, "-q").exit_code == 0
    with Image.open(dst / "sideways.tif") as out:
        assert out.size == (180, 236) and out.getexif().get(274, 1) == 1
        upright = np.rot90(rgb, -1)
        assert np.abs(cv2_area(np.asarray(out), upright.shape[:2]) - upright).mean() < 8


def test_every_page_of_a_multi_page_tiff_is_restored_into_its_tiff(tmp_path, photos):
    """The front and the back of a print scanned into one TIFF: both pages are restored into the output TIFF,
    each at its own depth, upright and with its own density; the photo's EXIF stays with the first page; a
    reduced-resolution preview page is left out, and the report says so. Pillow's LZW pages too."""
    import tifffile

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    front, back = photos["chelsea_45x59"], photos["coffee_61x93"][:45, :59, 1].astype(np.uint16) * 257 + 3
    with tifffile.TiffWriter(src / "album.tif") as tif:
        tif.write(front, photometric="rgb", resolution=(300, 300), resolutionunit=2, metadata=None,
                  extratags=[(271, "s", 0, "Epson", True)])
        tif.write(back, photometric="minisblack", resolution=(150, 200), resolutionunit=2, metadata=None,
                  extratags=[(274, "H", 1, 6, True)])  # the back, written turned: its own orientation
        tif.write(front[::4, ::4], photometric="rgb", subfiletype=1, metadata=None)  # a preview, not a page
    lzw = [Image.fromarray(front), Image.fromarray(front[::-1].copy()).convert("L")]
    lzw[0].save(src / "lzw.tif", save_all=True, append_images=lzw[1:], compression="tiff_lzw")
    with tifffile.TiffWriter(src / "letter.tif") as tif:  # a second page that states no profile, no density
        tif.write(front, photometric="rgb", resolution=(300, 300), resolutionunit=2, metadata=None,
                  extratags=[(34675, "B", len(SRGB_ICC), SRGB_ICC, True)])
        tif.write(front[::-1], photometric="rgb", resolution=None, resolutionunit=1, metadata=None)
    result = restore(src, dst, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["warnings"] == [{"path": "album.tif",
                                   "note": "page 3 of 3 is a reduced-resolution preview or a mask: left out"}]
    with Image.open(dst / "album.tif") as out:
        assert out.n_frames == 2 and out.size == (236, 180) and out.getexif().get(271) == "Epson"
    with tifffile.TiffFile(dst / "album.tif") as out:
        first, second = (page.asarray() for page in out.pages)
        assert [page.tags[297].value for page in out.pages] == [(0, 2), (1, 2)]
        assert (out.pages[1].tags[282].value, out.pages[1].tags[283].value) == ((800, 1), (600, 1))
    assert first.dtype == np.uint8 and second.dtype == np.uint16 and second.shape == (236, 180)
    upright = np.rot90(back, -1).astype(float) / 257  # orientation 6: turned 90° clockwise to stand upright
    assert np.abs(cv2_area(second, upright.shape) / 257 - upright).mean() < 8
    with tifffile.TiffFile(dst / "letter.tif") as out:  # not the first page's, which Pillow carries over
        first, second = out.pages
        assert 34675 in first.tags and first.tags[282].value == (1200, 1)
        assert 34675 not in second.tags and second.tags.get(296).value == 1  # no unit: no density
    with Image.open(dst / "lzw.tif") as out:
        assert out.n_frames == 2
        out.seek(1)
        assert out.mode == "L" and np.abs(cv2_area(np.asarray(out), (45, 59)) - np.asarray(lzw[1])).mean() < 8


def cv2_area(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(image.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def test_resume_skips_done_and_redoes_what_changed(archive, tmp_path, photos):
    src, _ = archive
    dst = tmp_path / "out"
    scanned = 895_399_200_000_000_000  # 1998-05-17: the scans' dates, which the restored copies keep
    for path in src.rglob("*"):
        os.utime(path, ns=(scanned, scanned + (path.stat().st_size % 1000) * 10**9))
    first = restore(src, dst, "--report", tmp_path / "r1.json")
    assert first.exit_code == 1
    r1 = json.loads((tmp_path / "r1.json").read_text())
    assert (dst / "plain.jpg").stat().st_mtime_ns == (src / "plain.jpg").stat().st_mtime_ns
    assert (dst / "scans/deep16.png").stat().st_mtime_ns == \
        (src / "scans/deep16.png").stat().st_mtime_ns

    def stamps() -> dict:  # a rewrite is a new file (inode) renamed into place (status-change time)
        return {p: (p.stat().st_ino, p.stat().st_ctime_ns) for p in dst.rglob("*")
                if p.is_file() and "state" not in p.name}

    before = stamps()
    second = restore(src, dst, "--report", tmp_path / "r2.json")
    r2 = json.loads((tmp_path / "r2.json").read_text())
    assert second.exit_code == 1  # the bad files still fail (they are retried, not remembered as done)
    assert r2["restored"] == 0 and r2["skipped_done"] == r1["restored"] and r2["failed"] == 5
    assert stamps() == before  # nothing rewritten
    # a changed input is redone; a fixed bad file is retried and now succeeds
    Image.fromarray(photos["coffee_61x93"][:30, :30]).save(src / "plain.jpg", quality=90)
    Image.fromarray(photos["chelsea_45x59"]).save(src / "bad/truncated.jpg", quality=90)
    restore(src, dst, "--report", tmp_path / "r3.json")
    r3 = json.loads((tmp_path / "r3.json").read_text())
    assert r3["restored"] == 2 and r3["failed"] == 4
    assert Image.open(dst / "plain.jpg").size == (120, 120)
    # a change of settings redoes everything
    restore(src, dst, "--quality", "80", "--report", tmp_path / "r4.json")
    assert json.loads((tmp_path / "r4.json").read_text())["restored"] == r1["restored"] + 1
    # --no-resume redoes everything too, replacing the job's own outputs without --overwrite
    restore(src, dst, "--quality", "80", "--no-resume", "--report", tmp_path / "r5.json")
    assert json.loads((tmp_path / "r5.json").read_text())["restored"] == r1["restored"] + 1


def test_foreign_outputs_need_overwrite(archive, tmp_path):
    src, _ = archive
    dst = tmp_path / "out"
    (dst / "old").mkdir(parents=True)
    (dst / "old/scan.bmp").write_bytes(b"someone else's file")
    restore(src, dst, "--report", tmp_path / "r.json")
    reasons = {f["path"]: f["reason"] for f in json.loads((tmp_path / "r.json").read_text())["failures"]}
    assert "--overwrite" in reasons["old/scan.bmp"]
    assert (dst / "old/scan.bmp").read_bytes() == b"someone else's file"
    restore(src, dst, "--overwrite")
    assert read_image(dst / "old/scan.bmp").width == 52 * 4


def test_folder_rules(archive, tmp_path):
    src, _ = archive
    # OUTPUT_DIR inside INPUT_DIR: excluded from the walk, so a rerun does not restore its own outputs
    inner = src / "restored"
    restore(src, inner)
    again = restore(src, inner, "--report", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["restored"] == 0 and not any(f["path"].startswith("restored/") for f in report["failures"])
    assert again.exit_code == 1
    # the same folder, or INPUT_DIR inside OUTPUT_DIR: refused as usage errors
    for dst in (src, src.parent):
        bad = restore(src, dst)
        assert bad.exit_code == 2 and "error:" in bad.output


def test_links_out_of_the_archive_are_not_followed(tmp_path, photos):
    src = tmp_path / "archive"
    src.mkdir()
    outside = tmp_path / "private.jpg"
    Image.fromarray(photos["chelsea_45x59"]).save(outside)
    Image.fromarray(photos["chelsea_45x59"]).save(src / "inside.jpg")
    os.symlink(outside, src / "link.jpg")
    os.symlink(tmp_path, src / "loop")
    restore(src, tmp_path / "out", "--report", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["restored"] == 1
    assert {i["path"] for i in report["ignored_files"]} == {"link.jpg", "loop"}
    assert outputs(tmp_path / "out") == {"inside.jpg"}


APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)


def test_nas_thumbnails_recycle_bins_and_mac_companions_are_ignored_not_restored_or_failed(tmp_path, photos):
    src = tmp_path / "archive"
    photo = photos["chelsea_45x59"]
    for rel in ("roll/IMG_1.jpg", "roll/@eaDir/IMG_1.jpg/SYNOPHOTO_THUMB_XL.jpg", "#recycle/old.jpg",
                "$RECYCLE.BIN/S-1-5-21/$RAB12.jpg", ".Trash-1000/files/x.jpg", "__MACOSX/roll/IMG_2.jpg",
                "._IMG_1.jpg"):  # the last one a real JPEG that only looks like a companion
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(src / rel)
    (src / "roll" / "._IMG_1.jpg").write_bytes(APPLE_DOUBLE)
    result = restore(src, tmp_path / "out", "--report", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert result.exit_code == 0 and report["failures"] == [], result.output
    assert outputs(tmp_path / "out") == {"roll/IMG_1.jpg", "._IMG_1.jpg"}
    assert report["ignored_files"] == [
        {"path": "#recycle", "reason": "recycle bin (NAS)"},
        {"path": "$RECYCLE.BIN", "reason": "recycle bin"},
        {"path": ".Trash-1000", "reason": "recycle bin"},
        {"path": "__MACOSX", "reason": "macOS zip metadata (__MACOSX)"},
        {"path": "roll/._IMG_1.jpg", "reason": "macOS metadata file (AppleDouble ._ companion)"},
        {"path": "roll/@eaDir", "reason": "NAS thumbnail cache (Synology @eaDir)"}]
    thumbs = restore(src / "roll" / "@eaDir", tmp_path / "thumbs")  # asked for by name: walked
    assert thumbs.exit_code == 0 and outputs(tmp_path / "thumbs") == {"IMG_1.jpg/SYNOPHOTO_THUMB_XL.jpg"}


def test_relative_folders_as_in_the_readme(archive, tmp_path, monkeypatch):
    src, kinds = archive
    monkeypatch.chdir(src.parent)
    result = cli("restore", src.name, "restored", *FAST, "--report", "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["restored"] == sum(k not in ("bad", "ignored") for k in kinds.values()), result.output
    assert (tmp_path / "restored" / "plain.jpg").is_file()
    again = cli("restore", src.name, "restored", *FAST, "--report", "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["skipped_done"] == report["restored"], again.output


def test_dry_run_writes_nothing(archive, tmp_path):
    src, kinds = archive
    result = restore(src, tmp_path / "out", "--dry-run")
    assert result.exit_code == 0
    assert f"{sum(k != 'ignored' for k in kinds.values())} image(s) found" in result.output
    assert not (tmp_path / "out").exists()


def test_rgba_to_jpeg_switches_to_png(archive, tmp_path):
    src, _ = archive
    dst = tmp_path / "out"
    result = restore(src, dst, "--format", "jpg")
    assert (dst / "scans/logo.png").is_file() and not (dst / "scans/logo.jpg").exists()
    assert "cannot hold the alpha channel" in result.output
    assert (dst / "plain.jpg").is_file() and (dst / "1998/summer/beach day.jpg").is_file()
    # a rerun knows the PNG it wrote instead, and skips it
    again = restore(src, dst, "--format", "jpg", "--report", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["restored"] == 0 and again.exit_code == 1


def test_job_states_of_two_machines_merge_row_by_row_and_the_newer_row_wins(tmp_path):
    """What a remote OUTPUT's state copy relies on: merging another machine's state adds the rows this one
    lacks and replaces the older of two rows for one image; a dry run merges into memory, writing nothing."""
    import time

    from ganrt.pipelines.archive.tasks import Task
    from ganrt.pipelines.archive.state import DB_NAME, JobState

    def task(root: Path, name: str) -> Task:
        return Task(tmp_path / "in" / name, name, root / f"{name}.png", 100, 7)

    here, there = tmp_path / "here", tmp_path / "there"
    with JobState(there) as other:
        other.mark_done(task(there, "a"), "fp", there / "a.png")
        other.mark_started(task(there, "b"), "fp")
    time.sleep(0.01)
    with JobState(here) as state:
        state.mark_done(task(here, "b"), "fp", here / "b.png")  # newer than the other machine's "started"
        state.mark_failed(task(here, "c"), "fp", "torn")
    time.sleep(0.01)
    with JobState(there) as other:
        other.mark_done(task(there, "c"), "fp", there / "c.png")  # newer than this machine's failure
    copy = tmp_path / "copy.sqlite"
    with JobState(there) as other:
        other.snapshot(copy)
    with JobState(here, readonly=True) as look:
        assert look.merge_from(copy) == 2  # a added, c replaced
        assert {r: look.lookup(r).status for r in "abc"} == {"a": "done", "b": "done", "c": "done"}
    with JobState(here, readonly=True) as look:  # the dry run wrote nothing
        assert look.lookup("a") is None and look.lookup("c").status == "failed"
    with JobState(here) as state:
        assert state.merge_from(copy) == 2 and state.merge_from(copy) == 0
        assert state.lookup("b").status == "done" and state.lookup("c").output == "c.png"
    assert sorted(p.name for p in here.iterdir() if p.name.startswith(DB_NAME)) == [DB_NAME]


def test_a_failure_recorded_before_seeing_the_other_machines_state_does_not_take_its_outputs(tmp_path):
    """Machine A writes x and y (y's run killed after the write, before its record) and is killed before
    it pushes its state; machine B, not knowing them, records both as "exists, not written by this job".
    Merged either way, the job keeps A's outputs: x done, y started (adopted once its output is seen)."""
    import time

    from ganrt.pipelines.archive.tasks import Task
    from ganrt.pipelines.archive.state import JobState

    def task(root: Path, name: str, size: int = 100) -> Task:
        return Task(tmp_path / "in" / name, name, root / f"{name}.png", size, 7)

    a, b = tmp_path / "a", tmp_path / "b"
    with JobState(a) as state:
        state.mark_done(task(a, "x"), "fp", a / "x.png")
        state.mark_started(task(a, "y"), "fp")
        state.mark_done(task(a, "z"), "fp", a / "z.png")  # z's input then changes: a true new failure
    time.sleep(0.01)
    with JobState(b) as state:
        for name in "xy":
            state.mark_failed(task(b, name), "fp", f"{name}.png already exists and was not written by this job")
        state.mark_failed(task(b, "z", size=101), "fp", "torn")
    copy_a, copy_b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    for root, copy in ((a, copy_a), (b, copy_b)):
        with JobState(root) as state:
            state.snapshot(copy)

    with JobState(a) as state:  # A's rerun merges B's copy: its own rows stand, z's newer failure wins
        assert state.merge_from(copy_b) == 1
        assert [state.lookup(n).status for n in "xyz"] == ["done", "started", "failed"]
        assert state.owns(a / "x.png") and state.owns(a / "y.png") and state.owns(a / "z.png")
    with JobState(b) as state:  # B's rerun merges A's copy: A's outputs replace B's refusals
        assert state.merge_from(copy_a) == 2
        assert [state.lookup(n).status for n in "xyz"] == ["done", "started", "failed"]
        assert state.owns(b / "x.png") and state.owns(b / "y.png") and not state.owns(b / "z.png")
        assert state.lookup("x").output == "x.png" and state.lookup("z").reason == "torn"
