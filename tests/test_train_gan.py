"""`ganrt train` (simple GAN, DCGAN) on the trainer core, and the result through every other command."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from conftest import cli, one_line, wait_for

SMALL = ["--width", "16", "--batch", "32", "--sample-every", "10", "--checkpoint-every", "10"]


@pytest.fixture(scope="module")
def trained(digit_gan) -> Path:
    """A DCGAN trained on the bundled digits (the first 1,500; see conftest): enough steps to draw digits."""
    return digit_gan[0]


def test_a_run_folder_holds_everything(trained):
    assert sorted(p.name for p in trained.iterdir()) == [".ganrt-run", ".ganrt-run.lock", "checkpoints", "config.toml",
                                                         "generator.safetensors", "losses.png", "metrics.jsonl",
                                                         "samples"]
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 250 and all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in rows)
    grid = np.asarray(Image.open(trained / "samples" / "latest.png"))
    assert grid.shape == (8 * 30 + 2, 8 * 30 + 2) and grid.std() > 30
    assert "max_steps = 250" in (trained / "config.toml").read_text()
    from ganrt.fsutil import FILE_MODE  # readable as any file the user writes (safetensors itself gives 0600)

    assert {p.stat().st_mode & 0o777 for p in trained.rglob("*") if p.is_file()} == {FILE_MODE}
    from ganrt.models import load_model

    model = load_model(str(trained))
    assert (model.kind, model.arch, model.noise_dim, model.image_size, model.value_range) == \
        ("generation", "DCGAN", 100, 28, (-1.0, 1.0))


def test_the_generator_beats_an_untrained_one_by_a_wide_margin(trained, load):
    from ganrt.models.archs.gan import DCGANGenerator, init_weights
    from ganrt.train.data import load_images
    from ganrt.train.quality import Judge

    import torch

    digits = load_images("digits", 28, 1)
    judge = Judge(digits.images, digits.labels)
    z = np.random.default_rng(5).standard_normal((256, 100)).astype(np.float32)

    def score(module):
        with torch.inference_mode():
            x = module.eval()(torch.from_numpy(z)).numpy()
        return judge.score(np.rint((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8))

    from ganrt.models import load_model

    mine = score(load_model(str(trained)).module)
    torch.manual_seed(0)
    untrained = DCGANGenerator(100, 28, 1, 64)
    init_weights(untrained)
    blank = score(untrained)
    real = judge.reference()
    assert judge.accuracy > 0.9
    assert mine.inception_like > 2.5 * blank.inception_like  # measured: ≈ 4 against ≈ 1.1 (real digits: ≈ 8)
    assert mine.class_entropy > 1.9  # many classes made, not one
    assert mine.histogram_distance < 0.5 * blank.histogram_distance
    assert mine.nn_distance > 0.5 * real.nn_distance  # not copies of the training set


@pytest.mark.slow
def test_resume_after_a_kill_gives_the_same_weights(tmp_path):
    args = ["train", "dcgan", "--data", "digits", "--max-steps", "40", *SMALL]
    straight = tmp_path / "straight"
    assert cli(*args, "--run", straight, "-q").exit_code == 0
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ganrt", *args, "--run", str(killed), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (killed / "checkpoints" / "step-0000020.pt").exists(), 120, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in (killed / "checkpoints").glob("*.pt"))
    assert done and done[-1] < "step-0000040.pt", done  # killed mid-way
    resumed = cli("train", "dcgan", "--run", killed, "--resume")
    assert resumed.exit_code == 0, resumed.output
    a, b = load_file(str(straight / "generator.safetensors")), load_file(str(killed / "generator.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # no step logged twice


@pytest.mark.slow
def test_ctrl_c_saves_the_state_and_exits_130(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganrt", "train", "gan", "--data", "digits", "--max-steps", "100000",
           "--width", "16", "--checkpoint-every", "100000", "--run", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (run / "metrics.jsonl").exists(), 120, proc, every=0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err.strip().splitlines()[-1]
    assert list((run / "checkpoints").glob("step-*.pt")) and (run / "generator.safetensors").is_file()


def test_generate_is_the_same_on_every_backend(trained, tmp_path):
    from ganrt.cli.generate_cmd import noise
    from ganrt.models import load_model
    from ganrt.runtime.registry import create_engine

    model = load_model(str(trained))
    z = noise(3, 9, 100)
    outs = {}
    for backend in ("torch", "onnxruntime", "openvino"):
        with create_engine(model, backend=backend, device="cpu", precision="fp32") as engine:
            outs[backend] = engine.infer(z)
    for backend in ("onnxruntime", "openvino"):
        assert np.abs(outs[backend] - outs["torch"]).max() <= 1e-4, backend
    grids = {}
    for backend in ("torch", "onnxruntime"):
        grid = tmp_path / f"{backend}.png"
        result = cli("generate", trained, "--count", "9", "--seed", "3", "--grid", grid, "--backend", backend, "-q")
        assert result.exit_code == 0, result.output
        grids[backend] = np.asarray(Image.open(grid)).astype(int)
    assert np.abs(grids["torch"] - grids["onnxruntime"]).max() <= 1
    folder = tmp_path / "walk"
    assert cli("generate", trained, "--interpolate", "5", "--out-dir", folder, "-q").exit_code == 0
    frames = [np.asarray(Image.open(p)).astype(float) for p in sorted(folder.glob("*.png"))]
    steps = [np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]
    assert len(frames) == 5 and max(steps) < 3 * np.abs(frames[0] - frames[-1]).mean()  # a walk, not jumps


def test_export_and_bench_a_trained_generator(trained, tmp_path):
    out = tmp_path / "g.onnx"
    result = cli("export", trained, "-o", out)
    assert result.exit_code == 0 and result.output.count("→ ok") == 2, result.output
    bench = cli("bench", "-m", trained, "--batch", "1", "--batch", "8", "--backend", "onnxruntime",
                "--duration-s", "0.2", "--iterations", "3", "--json", tmp_path / "b.json", "-q")
    assert bench.exit_code == 0, bench.output
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert [(r["shape"], r["batch"], r["status"]) for r in rows] == [("28x28", 1, "ok"), ("28x28", 8, "ok")]
    assert rows[1]["images_per_s"] > rows[0]["images_per_s"] > 0 and rows[0]["psnr_db"] > 100


def write_idx(path: Path, magic: int, array: np.ndarray) -> Path:
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())
    return path


def test_idx_files_train_and_bad_inputs_are_one_line(tmp_path, trained):
    images = write_idx(tmp_path / "train-images-idx3-ubyte", 0x803,
                       np.random.default_rng(0).integers(0, 255, (40, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", 0x801, np.arange(40, dtype=np.uint8) % 10)
    ok = cli("train", "gan", "--data", images, "--max-steps", "3", "--width", "8", "--batch", "8",
             "--run", tmp_path / "idx", "-q")
    assert ok.exit_code == 0, ok.output
    empty = tmp_path / "empty"
    empty.mkdir()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.jpg").write_text("not a picture")
    (notes / "b.txt").write_text("nor this")
    bad_magic = write_idx(tmp_path / "bad-idx", 0x1234, np.zeros((2, 2), np.uint8))
    base = ["train", "dcgan", "--max-steps", "2", "-q"]
    assert "empty" in one_line(cli(*base, "--data", empty, "--run", tmp_path / "r1"), 2)
    assert "readable image" in one_line(cli(*base, "--data", notes, "--run", tmp_path / "r2"), 2)
    assert "magic number" in one_line(cli(*base, "--data", bad_magic, "--run", tmp_path / "r3"), 2)
    # a run that failed before its first step leaves nothing that blocks the corrected command
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()
    mine = tmp_path / "my-runs"
    mine.mkdir()
    assert "fewer than one batch" in one_line(cli(*base, "--data", images, "--run", mine), 2)
    assert mine.is_dir() and not any(mine.iterdir())  # the user's own folder stays, empty
    fixed = cli(*base, "--data", images, "--run", mine, "--width", "8", "--batch", "8")
    assert fixed.exit_code == 0, fixed.output
    assert "is a dcgan run" in one_line(cli("train", "gan", "--run", trained, "--resume"), 2)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    assert "generation model" in one_line(cli("restore", photo, tmp_path / "o.png", "-m", trained), 2)
    assert "super-resolution model" in one_line(cli("generate", "realesr-animevideov3", "--grid",
                                                    tmp_path / "g.png"), 2)
    assert "--resume" in one_line(cli("train", "dcgan", "--data", "digits", "--run", trained), 2)
