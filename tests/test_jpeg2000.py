"""JPEG 2000 (.jp2), the archival masters' format: read at full depth with its ICC profile, written
losslessly with both kept, through the same archive pipeline as every other format."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from archive_builder import SRGB_ICC
from conftest import cli
from ganrt.errors import ImageReadError
from ganrt.pipelines.imageio import jp2_boxes
from ganrt.pipelines.imageio.read import read_image
from ganrt.pipelines.imageio.samples import decode_16bit
from ganrt.pipelines.imageio.write import write_image

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32",
        "--tile", "0"]


def deep(photo: np.ndarray) -> np.ndarray:
    """A 16-bit version of a real photo, with low bits that 8-bit values scaled up never have."""
    rng = np.random.default_rng(0)
    return (photo.astype(np.uint16) * 257 + rng.integers(0, 200, photo.shape).astype(np.uint16)).astype(np.uint16)


def test_every_layout_round_trips_losslessly_with_its_icc_profile(tmp_path, photos):
    photo = photos["chelsea_45x59"]
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    alpha = np.linspace(0, 255, photo.shape[1], dtype=np.uint8)[None].repeat(photo.shape[0], 0)
    cases = {
        "rgb8": (photo, None, SRGB_ICC),
        "rgba8": (photo, alpha, SRGB_ICC),
        "gray8": (gray, None, None),
        "rgb16": (deep(photo), None, SRGB_ICC),  # OpenCV's encoder; Pillow has no 16-bit colour
        "rgba16": (deep(photo), alpha.astype(np.uint16) * 257, None),
        "gray16": (deep(gray), None, None),
    }
    for name, (pixels, a, icc) in cases.items():
        path = write_image(tmp_path / f"{name}.jp2", pixels.copy(), a, icc=icc)
        assert path.read_bytes()[4:8] == b"jP  ", name  # a JP2 file, not a bare codestream
        back = read_image(path)
        assert back.pixels.dtype == pixels.dtype and np.array_equal(back.pixels, pixels), name
        assert (back.alpha is None) == (a is None) and (a is None or np.array_equal(back.alpha, a)), name
        assert back.icc == icc, name
        assert jp2_boxes.header_facts(path) == (8 * pixels.itemsize, icc), name
        other = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # another reader takes the rewritten header
        assert other is not None and other.shape[:2] == pixels.shape[:2], name
    # damaged masters are failures with a reason, whichever library decodes them
    for name in ("rgb8", "rgb16"):
        whole = (tmp_path / f"{name}.jp2").read_bytes()
        (tmp_path / f"cut-{name}.jp2").write_bytes(whole[: len(whole) * 2 // 3])
        with pytest.raises(ImageReadError, match="corrupt or truncated"):
            read_image(tmp_path / f"cut-{name}.jp2")
    # a bare codestream's depth comes from its SIZ marker
    Image.fromarray(deep(gray)).save(tmp_path / "raw.j2k")
    assert jp2_boxes.header_facts(tmp_path / "raw.j2k") == (16, None)


def test_12_bit_samples_are_stretched_to_16_bits(tmp_path):
    """OpenCV hands 12-bit JPEG 2000 samples over as they are (0..4095) in a 16-bit array: left so, a
    16-bit output would be nearly black. The decoder stretches them by the depth the header gives."""
    twelve = np.array([[0, 1, 2048, 4095]], np.uint16).repeat(4, 0)
    cv2.imwrite(str(tmp_path / "twelve.png"), twelve)  # what OpenCV returns for a 12-bit file
    pixels, alpha = decode_16bit(tmp_path / "twelve.png", gray=True, bits=12)
    assert alpha is None and pixels[0].tolist() == [0, 16, 32776, 65535]


def test_restore_keeps_jpeg2000_masters_as_they_were_and_writes_jp2_on_request(tmp_path, photos):
    src, dst = tmp_path / "masters", tmp_path / "restored"
    src.mkdir()
    photo = photos["coffee_61x93"]
    write_image(src / "deep.jp2", deep(photo), icc=SRGB_ICC)
    write_image(src / "gray.jp2", cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))
    Image.fromarray(photos["chelsea_45x59"]).save(src / "plain.png")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    result = cli("restore", str(src), str(dst), *FAST, "--report", str(tmp_path / "r.json"), "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["restored"] == 3
    out = read_image(dst / "deep.jp2")
    assert out.pixels.shape == (61 * 4, 93 * 4, 3) and out.pixels.dtype == np.uint16 and out.icc == SRGB_ICC
    assert len(np.unique(out.pixels % 257)) > 50  # computed at 16 bits, not 8-bit values scaled up
    assert read_image(dst / "gray.jp2").pixels.shape == (61 * 4, 93 * 4)
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # the masters are untouched
    as_jp2 = cli("restore", str(src / "plain.png"), str(tmp_path / "plain.jp2"), *FAST, "-q")
    assert as_jp2.exit_code == 0, as_jp2.output
    png = read_image(dst / "plain.png").pixels
    assert np.array_equal(read_image(tmp_path / "plain.jp2").pixels, png)  # lossless: the PNG's pixels
    folder = cli("restore", str(src), str(tmp_path / "all"), *FAST, "--format", "jp2", "-q")
    assert folder.exit_code == 0, folder.output
    assert sorted(p.name for p in (tmp_path / "all").iterdir() if not p.name.startswith(".")) == \
        ["deep.jp2", "gray.jp2", "plain.jp2"]
