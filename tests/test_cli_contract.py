"""One CLI contract: the README's exit-code table, one `error:` line, upstream habits answered,
output paths that do what users expect, feedback on slow work, bounded caches."""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import cli, one_line, wait_for
from ganrt.cli import app
from ganrt.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[1]
FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]


@pytest.fixture()
def photo(tmp_path, photos) -> Path:
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.ascontiguousarray(photos["chelsea_45x59"][:20, :24])).save(path, quality=95)
    return path


@pytest.fixture()
def clip(tmp_path) -> Path:
    from test_video import make_video

    return make_video(tmp_path / "clip.mkv", seconds=1, size="32x24")


def cases(tmp: Path, photo: Path, clip: Path) -> list[tuple[list, int, str]]:
    (tmp / "model.xyz").write_text("weights?")
    (tmp / "notes.jpg").write_text("not pixels")
    (tmp / "empty").mkdir()
    return [
        (["restore", tmp / "missing.jpg", tmp / "o.png"], 2, "not found"),
        (["restore", photo], 2, "missing argument"),
        (["restore", photo, tmp / "o.png", "--quality", "high"], 2, "--quality"),
        (["restore", photo, tmp / "o.png", "--no-such-flag"], 2, "no such option"),
        (["restore", photo, tmp / "o.png", "-m", tmp / "model.xyz"], 2, "unsupported model file type"),
        (["restore", photo, tmp / "o.png", "-m", "RealESRGAN_x8"], 2, "unknown model"),
        (["restore", photo, tmp / "o.png", "--outscale", "0"], 2, "greater than 0"),
        (["restore", tmp / "empty", tmp / "out"], 2, "no images found"),
        (["restore", tmp / "notes.jpg", tmp / "o.png", *FAST], 1, "not an image"),
        (["restore", photo, tmp / "o.png", "--backend", "tensorrt"], 3, "tensorrt"),
        (["restore", photo, tmp / "o.png", "-d", "cuda:0"], 3, "no CUDA GPU"),
        (["video", clip, tmp / "o.mkv", "--start", "1.5", "--end", "1"], 2, "--end must be after --start"),
        (["video", clip, tmp / "o.mkv", "--fps", "nan"], 2, "--fps"),
        (["export", "realesr-animevideov3", "-o", tmp / "m.onnx", "--opset", "11"], 2, "opset"),
        (["cache", "--older-than", "3"], 2, "--clean"),
    ]


def test_every_command_follows_the_exit_code_table(tmp_path, photo, clip):
    for args, code, text in cases(tmp_path, photo, clip):
        result = cli(*args)
        assert result.exit_code == code, (args, result.output)
        assert text.lower() in one_line(result).lower(), (args, result.output)
    assert cli().exit_code == 0 and "Usage" in cli().output  # no command: the help, exit 0


def test_readme_states_the_exit_code_table():
    readme = (ROOT / "README.md").read_text()
    for code, _meaning in EXIT_CODES:
        assert re.search(rf"^\| `?{code}`? \|", readme, re.M), f"exit code {code} missing from the README table"


def signal_run(cmd: list[str], sig: int, ready) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(ready, 120, proc)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_signals_end_in_130_and_143_for_restore_and_video(tmp_path, photos):
    from test_video import make_video

    src = tmp_path / "in"
    src.mkdir()
    for i in range(40):
        Image.fromarray(np.ascontiguousarray(photos["astronaut_77x131"][:48, i:i + 60])).save(src / f"{i:02d}.png")
    base = [sys.executable, "-m", "ganrt"]
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        dst = tmp_path / f"out{code}"
        done = signal_run([*base, "restore", str(src), str(dst), *FAST], sig,
                          lambda dst=dst: len(list(dst.glob("*.png"))) >= 2)
        assert done.returncode == code, done.stderr
        assert ("terminated" if code == 143 else "interrupted") in done.stderr and "Traceback" not in done.stderr
    clip = make_video(tmp_path / "long.mkv", seconds=12, size="64x48")
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        out = tmp_path / f"up{code}.mkv"
        state = tmp_path / f".up{code}.mkv.ganrt-work" / "state.json"
        done = signal_run([*base, "video", str(clip), str(out), *FAST], sig,
                          lambda state=state: state.is_file() and '"0"' in state.read_text())
        assert done.returncode == code, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and "rerun the same command to resume" in last


def test_upstream_spellings_work_or_answer(tmp_path, photo):
    # Real-ESRGAN's -i/-o/-n/--fp32/--ext, the ncnn model name, and --suffix
    result = cli("restore", "-i", photo, "-o", tmp_path / "results", "-n", "realesr-animevideov3-x4", "--fp32",
                 "--ext", "png", "--suffix", "_out", "--backend", "onnxruntime", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "photo_out.png").is_file()
    for flag, hint in (("--face_enhance", "--face-model"), ("--tile_pad", "drop --tile_pad"), ("-dn", "pick a model")):
        assert hint in one_line(cli("restore", photo, tmp_path / "x.png", flag))
    result = cli("restore", photo, tmp_path / "y.png", "--no_resume", *FAST)  # underscores become hyphens
    assert result.exit_code == 0, result.output
    from ganrt.models.registry import find_builtin

    assert find_builtin("realesrgan-x4plus").name == "RealESRGAN_x4plus"
    assert find_builtin("realesrgan-x4plus-anime").name == "RealESRGAN_x4plus_anime_6B"


def test_corrupt_model_files_are_called_what_they_are(tmp_path, photo, load):
    import torch

    html = tmp_path / "RealESRGAN_x4plus.pth"
    html.write_text("<!DOCTYPE html><html><head><title>Download</title></head><body>sign in</body></html>")
    assert "web page" in one_line(cli("restore", photo, tmp_path / "o.png", "-m", html))
    good = tmp_path / "good.pth"
    torch.save(load("realesr-animevideov3").module.state_dict(), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    line = one_line(cli("restore", photo, tmp_path / "o.png", "-m", cut))
    assert "truncated" in line and "arbitrary code" not in line


def test_output_paths_do_what_users_expect(tmp_path, photo, photos):
    # a folder name for one image, as upstream's -o results
    assert cli("restore", photo, tmp_path / "results_new", *FAST).exit_code == 0
    assert (tmp_path / "results_new" / "photo.jpg").is_file()
    # -f for one image into a folder; a file name that disagrees with -f is refused
    assert cli("restore", photo, tmp_path / "as_png", "-f", "png", *FAST).exit_code == 0
    assert (tmp_path / "as_png" / "photo.png").is_file()
    assert "--format" in one_line(cli("restore", photo, tmp_path / "o.jpg", "-f", "png", *FAST))
    # a file that exists is not replaced without --overwrite (single images too)
    precious = tmp_path / "precious.png"
    precious.write_bytes(b"irreplaceable")
    assert "--overwrite" in one_line(cli("restore", photo, precious, *FAST))
    assert precious.read_bytes() == b"irreplaceable"
    assert cli("restore", photo, precious, "--overwrite", *FAST).exit_code == 0
    # a folder input with an image-like OUTPUT is refused instead of making a folder called out_as.png
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(photo).save(folder / "a.jpg")
    assert "output folder" in one_line(cli("restore", folder, tmp_path / "out_as.png", *FAST))
    assert not (tmp_path / "out_as.png").exists()
    # a changed --format says that the earlier outputs stay
    assert cli("restore", folder, tmp_path / "out", *FAST).exit_code == 0
    again = cli("restore", folder, tmp_path / "out", "-f", "png", *FAST[:-1])
    assert again.exit_code == 0 and "earlier run with other settings" in again.output


def test_help_has_no_type_noise_and_every_flag_says_what_it_does():
    import typer

    group = typer.main.get_command(app)
    commands = [((name,), command) for name, command in group.commands.items()]
    commands += [((name, sub), c) for name, command in group.commands.items()
                 for sub, c in getattr(command, "commands", {}).items()]
    for names, command in commands:
        text = cli(*names, "--help").output
        assert "<bool>" not in text, names
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help and len(param.help) > 8, (names, param.opts)


def test_fp16_on_a_cpu_says_what_it_chose(tmp_path, photo):
    result = cli("restore", photo, tmp_path / "o.png", "-m", "realesr-animevideov3", "-p", "fp16")
    assert result.exit_code == 0, result.output
    assert "no fast path on a CPU" in result.output


def test_first_use_says_what_it_is_doing_and_quiet_silences_it(tmp_path, monkeypatch, photo):
    monkeypatch.setenv("GANRT_CACHE", str(tmp_path / "fresh-cache"))
    loud = cli("restore", photo, tmp_path / "a.png", "-m", "realesr-animevideov3", "--backend", "openvino")
    assert loud.exit_code == 0
    for step in ("converting the weights", "exporting", "compiling"):
        assert step in loud.output, loud.output
    monkeypatch.setenv("GANRT_CACHE", str(tmp_path / "fresh-cache-2"))
    quiet = cli("restore", photo, tmp_path / "b.png", "-m", "realesr-animevideov3", "--backend", "openvino", "-q")
    assert quiet.exit_code == 0 and quiet.output.strip() == ""


def test_export_quiet_prints_nothing(tmp_path):
    result = cli("export", "realesr-animevideov3", "-o", tmp_path / "m.onnx", "-q")
    assert result.exit_code == 0 and result.output.strip() == ""
    assert "--overwrite" in one_line(cli("export", "realesr-animevideov3", "-o", tmp_path / "m.onnx"))


def test_openvino_compiles_once_for_every_photo_size(tmp_path, monkeypatch, photos):
    monkeypatch.setenv("GANRT_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "scans"
    src.mkdir()
    base = photos["astronaut_77x131"]
    for i in range(20):  # 20 small scans, 20 different sizes
        Image.fromarray(np.ascontiguousarray(base[: 40 + i, : 52 + 2 * i])).save(src / f"scan{i:02d}.png")
    # one precision: on a bf16 CPU, auto also compiles fp32 once, for its fidelity check
    result = cli("restore", src, tmp_path / "out", "-m", "realesr-animevideov3", "--backend", "openvino",
                 "--precision", "fp32", "-q")
    assert result.exit_code == 0, result.output
    blobs = list((tmp_path / "cache" / "openvino").glob("*.blob"))
    assert len(blobs) == 1  # one compiled model serves every size
    usage = json.loads(cli("cache", "--json").output)
    openvino = next(k for k in usage["kinds"] if k["kind"] == "openvino")
    assert openvino["bytes"] < 300 << 20
    cleaned = json.loads(cli("cache", "--clean", "--kind", "openvino", "--json").output)
    assert cleaned["removed_files"] >= 1 and not list((tmp_path / "cache" / "openvino").glob("*.blob"))


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_machine_facts_come_from_one_low_module():
    src = ROOT / "src" / "ganrt"
    assert "ganrt.runtime.registry" not in imports_of(src / "runtime" / "choice.py")
    assert not any(m.startswith("ganrt.runtime") for m in imports_of(src / "export" / "trt_build.py"))
    assert not any(m.startswith("ganrt.bench") for m in imports_of(src / "runtime" / "choice.py"))
    assert not any(m.startswith("ganrt.") for m in imports_of(src / "machine.py"))
    for module in ("runtime/choice.py", "runtime/backends.py", "export/trt_build.py", "bench/machine.py"):
        assert "ganrt.machine" in imports_of(src / module), module
