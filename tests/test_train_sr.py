"""Super-resolution GANs trained here: SRGAN from scratch, ESRGAN fine-tuning; the result loads everywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from conftest import cli, one_line, wait_for

TINY = ["--scale", "2", "--crop", "32", "--batch", "4", "--blocks", "2", "--width", "16", "--val-count", "1"]


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory) -> Path:
    """Real photos (scikit-image's bundled pictures), shrunk so tests stay quick."""
    from skimage import data

    folder = tmp_path_factory.mktemp("hr")
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        img.thumbnail((160, 160))
        img.save(folder / f"{name}.png")
    return folder


def test_srgan_trains_validates_and_loads_everywhere(photos_dir, tmp_path):
    run = tmp_path / "srgan"
    result = cli("train", "srgan", "--data", photos_dir, "--max-steps", "12", "--pretrain-steps", "11",
                 "--val-every", "6", "--checkpoint-every", "6", "--run", run, *TINY)
    assert result.exit_code == 0, result.output
    assert "no --perceptual-weights" in result.output  # said once at the start
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_psnr_y" in r]
    assert [r["step"] for r in val] == [6, 12] and all(r["val_psnr_y"] > 15 and 0 < r["val_ssim_y"] <= 1 for r in val)
    losses = [r for r in rows if "loss_pixel" in r]
    assert [r["step"] for r in losses] == [10, 12]
    assert "loss_adv" not in losses[0] and {"loss_adv", "loss_d"} <= set(losses[1])  # pre-training, then GAN
    strip = np.asarray(Image.open(run / "samples" / "latest.png"))
    assert strip.ndim == 3 and strip.shape[1] > 2 * strip.shape[0]  # LR | SR | HR
    assert (run / "generator-best.safetensors").is_file()
    from ganrt.models import load_model

    model = load_model(str(run))
    assert (model.kind, model.arch, model.scale) == ("super-resolution", "SRResNet", 2)
    src = tmp_path / "held_out.png"
    Image.fromarray(np.asarray(Image.open(photos_dir / "coffee.png"))[:40, :48]).save(src)
    for backend in ("torch", "onnxruntime", "openvino"):
        out = tmp_path / f"restored-{backend}.png"
        done = cli("restore", src, out, "-m", run, "--backend", backend, "-p", "fp32", "-q")
        assert done.exit_code == 0, done.output
        assert Image.open(out).size == (96, 80)
    a, b = (np.asarray(Image.open(tmp_path / f"restored-{k}.png")).astype(int) for k in ("torch", "onnxruntime"))
    assert np.abs(a - b).max() <= 1
    exported = cli("export", run, "-o", tmp_path / "srgan.onnx")
    assert exported.exit_code == 0 and exported.output.count("→ ok") == 2, exported.output


@pytest.mark.slow
def test_srgan_resume_after_a_kill_gives_the_same_weights(photos_dir, tmp_path):
    args = ["train", "srgan", "--data", photos_dir, "--max-steps", "16", "--pretrain-steps", "8",
            "--val-every", "8", "--checkpoint-every", "4", *TINY]
    straight = tmp_path / "straight"
    assert cli(*args, "--run", straight, "-q").exit_code == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ganrt", *args, "--run", str(killed), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (killed / "checkpoints" / "step-0000008.pt").exists(), 120, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert cli("train", "srgan", "--run", killed, "--resume", "-q").exit_code == 0
    a, b = load_file(str(straight / "generator.safetensors")), load_file(str(killed / "generator.safetensors"))
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_esrgan_fine_tuning_stays_close_and_loads_through_spandrel(photos_dir, tmp_path, load):
    import torch

    run = tmp_path / "esrgan"
    result = cli("train", "esrgan", "--data", photos_dir, "--init", "RealESRGAN_x4plus_anime_6B", "--crop", "64",
                 "--batch", "1", "--max-steps", "3", "--val-every", "3", "--val-count", "1", "--run", run, "-q")
    assert result.exit_code == 0, result.output
    from spandrel import ModelLoader

    tuned = ModelLoader().load_from_file(str(run / "generator.safetensors"))  # chaiNNer's loader opens it
    assert tuned.architecture.name == "ESRGAN" and tuned.scale == 4
    x = torch.from_numpy(np.asarray(Image.open(photos_dir / "chelsea.png"))[:40, :40].transpose(2, 0, 1)[None]
                         .astype(np.float32) / 255)
    with torch.inference_mode():
        before = load("RealESRGAN_x4plus_anime_6B").module(x).clamp(0, 1).numpy()
        after = tuned.model.eval()(x).clamp(0, 1).numpy()
    from ganrt.quality import psnr

    assert psnr(after, before) > 30  # a few steps of fine-tuning move the model, but do not break it


def test_bad_sr_inputs_are_one_line(photos_dir, tmp_path):
    import torch

    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(small / "tiny.png")
    base = ["train", "srgan", "--max-steps", "2", "-q"]
    assert "smaller than --crop 96" in one_line(cli(*base, "--data", small, "--run", tmp_path / "r1"), 2)
    import shutil

    mixed = tmp_path / "mixed"  # photos and a thumbnail: the thumbnail is left out, not the run refused
    shutil.copytree(photos_dir, mixed)
    shutil.copy(small / "tiny.png", mixed / "tiny.png")
    (mixed / "@eaDir" / "tiny.png").mkdir(parents=True)  # a NAS's thumbnail cache: not training data at all
    shutil.copy(small / "tiny.png", mixed / "@eaDir" / "tiny.png" / "SYNOPHOTO_THUMB_S.png")
    ok = cli("train", "srgan", "--data", str(mixed), "--max-steps", "1", "--run",
                             str(tmp_path / "mixed-run"), *TINY)
    assert ok.exit_code == 0, ok.output
    assert "left out 1 image(s) smaller than --crop 32: tiny.png (30×40)" in " ".join(ok.output.split())
    wrong = tmp_path / "vgg.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, wrong)
    line = one_line(cli(*base, "--data", photos_dir, "--perceptual-weights", wrong, "--run", tmp_path / "r2", *TINY), 2)
    assert "VGG19 layout" in line
    line = one_line(cli("train", "esrgan", "--data", photos_dir, "--init", "realesr-animevideov3", "--crop", "64",
                        "--max-steps", "1", "--run", tmp_path / "r3", "-q"), 2)
    assert "RRDB" in line
    assert "--degrade" in one_line(cli(*base, "--data", photos_dir, "--degrade", "jpeg", "--run", tmp_path / "r4",
                                       *TINY), 2)


def test_perceptual_loss_with_torchvision_layout_weights(photos_dir, tmp_path):
    import torch
    import torchvision

    vgg = torchvision.models.vgg19(weights=None)
    weights = tmp_path / "vgg19-features.pth"
    torch.save({k: v for k, v in vgg.state_dict().items() if k.startswith("features.")}, weights)
    run = tmp_path / "perceptual"
    result = cli("train", "srgan", "--data", photos_dir, "--max-steps", "2", "--pretrain-steps", "1",
                 "--perceptual-weights", weights, "--val-every", "2", "--run", run, *TINY)
    assert result.exit_code == 0 and "no --perceptual-weights" not in result.output, result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "loss_pixel" in line]
    assert "loss_perceptual" in rows[-1] and np.isfinite(rows[-1]["loss_perceptual"])


def test_realesrgan_degradation_is_seeded_and_shaped():
    from ganrt.train.degrade import degrade

    hr = np.asarray(Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)))
    a = degrade(hr, 4, "realesrgan", np.random.default_rng(3))
    b = degrade(hr, 4, "realesrgan", np.random.default_rng(3))
    c = degrade(hr, 4, "realesrgan", np.random.default_rng(4))
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
