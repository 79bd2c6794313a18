"""The command line: fast help, model listing, one-image restore, one clear line on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import cli, one_line



def run(*args):
    return cli(*args)


def test_help_does_not_import_heavy_packages():
    code = ("import sys; from ganrt.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'cv2', 'openvino', 'tensorrt', 'spandrel') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    mod = subprocess.run([sys.executable, "-m", "ganrt", "--help"], capture_output=True, text=True)
    assert mod.returncode == 0 and "restore" in mod.stdout


def test_a_command_builds_only_itself():
    """`ganrt restore …` imports restore's module alone, and parses exactly as the whole app does."""
    code = ("import sys; from ganrt.cli import main; sys.argv = ['ganrt'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            "print(sorted(m for m in sys.modules if m.endswith('_cmd')), code, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, "restore", "--help"], capture_output=True, text=True)
    assert out.stderr.strip() == "['ganrt.cli.restore_cmd'] 0", out.stderr
    assert out.stdout == run("restore", "--help").stdout
    wrong = subprocess.run([sys.executable, "-c", code, "restore"], capture_output=True, text=True)
    assert wrong.stderr.splitlines() == ["error: missing argument 'input' (see `ganrt restore --help`)",
                                         "['ganrt.cli.restore_cmd'] 2"], wrong.stderr
    unknown = subprocess.run([sys.executable, "-c", code, "restorr"], capture_output=True, text=True)
    assert "did you mean 'restore'?" in unknown.stderr.lower() and unknown.stderr.strip().endswith(" 2")
    train = subprocess.run([sys.executable, "-c", code, "train", "--help"], capture_output=True, text=True)
    assert "esrgan" in train.stdout and "['ganrt.cli.train_cmd'] 0" in train.stderr


def test_models_json_lists_the_builtins():
    result = run("models", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    names = {r["name"] for r in rows}
    assert {"RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B", "realesr-animevideov3", "RealSR_DF2K_x4",
            "SPAN-x2-ch48", "SPAN-x4-ch48", "RealCUGAN-se-2x-conservative", "RealCUGAN-pro-3x-denoise3x"} <= names
    for r in rows:
        assert r["scale"] in (2, 3, 4) and r["arch"] in ("RRDBNet", "SRVGGNetCompact", "SPAN", "RealCUGAN")
        assert r["installed"] and r["params"] > 300_000 and r["license"]
    table = run("models")
    assert table.exit_code == 0 and "realesr-animevideov3" in table.stdout


def test_info_for_builtin_and_file(tmp_path, load):
    import torch

    result = run("info", "realesr-animevideov3", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["params"] == 621_424 and data["license"].startswith("BSD-3-Clause")
    path = tmp_path / "mine.pth"
    torch.save(load("realesr-animevideov3").module.state_dict(), path)
    result = run("info", path, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["scale"] == 4


@pytest.fixture()
def photo_file(tmp_path, photos):
    path = tmp_path / "in put.jpg"
    Image.fromarray(photos["astronaut_77x131"]).save(path, quality=92)
    return path


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_restore_one_image(tmp_path, photo_file, backend):
    out = tmp_path / "out.png"
    result = run("restore", photo_file, out, "--model", "realesr-animevideov3", "--backend", backend,
                 "--device", "cpu", "--precision", "fp32", "-q")
    assert result.exit_code == 0, result.output
    img = np.asarray(Image.open(out))
    assert img.shape == (77 * 4, 131 * 4, 3) and img.dtype == np.uint8
    assert img.std() > 20  # a real picture, not a flat or black frame
    assert [p.name for p in tmp_path.iterdir() if "ganrt-tmp" in p.name] == []


def test_restore_outscale(tmp_path, photo_file):
    out = tmp_path / "out.jpg"
    result = run("restore", photo_file, out, "-m", "realesr-animevideov3", "--outscale", "2", "--tile", "32", "-q")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (131 * 2, 77 * 2)


def test_bad_inputs_end_in_one_line(tmp_path, photo_file):
    missing = one_line(run("restore", tmp_path / "nope.jpg", tmp_path / "o.png", "-m", "realesr-animevideov3"))
    assert "not found" in missing
    text = tmp_path / "notes.jpg"
    text.write_text("these are not pixels")
    line = one_line(run("restore", text, tmp_path / "o.png", "-m", "realesr-animevideov3"))
    assert "not an image" in line
    assert not (tmp_path / "o.png").exists()
    line = one_line(run("restore", photo_file, tmp_path / "o.png", "-m", "RealESRGAN_x8"), 2)
    assert "unknown model" in line
    line = one_line(run("restore", photo_file, tmp_path / "o.png", "-m", "realesr-animevideov3",
                              "--backend", "magic"), 2)
    assert "--backend" in line


def test_pickle_payload_via_cli(tmp_path, photo_file):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "model.pth"
    evil.write_bytes(b"\x80\x04\x95" + b"\x00" * 8 + f"cos\nsystem\n(Vtouch {marker}\ntR.".encode())
    # a protocol-0 style payload too, written by hand
    evil2 = tmp_path / "model2.pth"
    evil2.write_bytes(f"cos\nsystem\n(Vtouch {marker}\ntR.".encode())
    for path in (evil, evil2):
        result = run("restore", photo_file, tmp_path / "o.png", "--model", path)
        line = one_line(result)
        assert "refused" in line or "cannot read" in line
    # the whole process says one line: torch's unpickler warns about the file first, and that is not shown
    whole = subprocess.run([sys.executable, "-m", "ganrt", "restore", str(photo_file), str(tmp_path / "o.png"),
                            "--model", str(evil)], capture_output=True, text=True)
    assert whole.returncode == 1 and len(whole.stderr.strip().splitlines()) == 1, whole.stderr
    assert whole.stderr.startswith("error: refused to load model.pth")
    assert not marker.exists()
    assert os.listdir(tmp_path).count("o.png") == 0
