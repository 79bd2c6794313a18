"""Training runs, tried as a careless or hostile user would: what the user owns stays, runs never restart
from zero in silence, one clear line with the README's exit code."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import cli, one_line

TINY = ["--max-steps", "4", "--batch", "8", "--width", "8", "--checkpoint-every", "2", "--sample-every", "2", "-q"]


def train(run: Path, *extra):
    return cli("train", "dcgan", "--data", "digits", "--run", run, *TINY, *extra)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A tiny DCGAN run, trained to its end (4 steps, checkpoints at 2 and 4)."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    result = train(run)
    assert result.exit_code == 0, result.output
    return run


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def listing(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def photos(folder: Path, count: int = 3) -> Path:
    from skimage import data

    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(data.astronaut()[i * 40:i * 40 + 64, :64]).save(folder / f"p{i}.png")
    return folder


def test_data_inside_the_run_is_refused_before_anything_is_deleted(tmp_path, finished):
    run = copy_run(finished, tmp_path / "run")
    data = photos(run / "photos")
    before = listing(run)
    line = one_line(cli("train", "dcgan", "--data", data, "--run", run, "--overwrite", *TINY), 2)
    assert "inside --run" in line
    assert listing(run) == before  # the photos, and the run, as they were
    # and the other way round: a run inside the data folder would train on its own samples
    line = one_line(cli("train", "dcgan", "--data", tmp_path, "--run", tmp_path / "inner", *TINY), 2)
    assert "inside --data" in line and not (tmp_path / "inner").exists()


def test_a_folder_with_a_config_toml_is_not_a_run_and_overwrite_deletes_nothing(tmp_path):
    site = tmp_path / "site"
    photos(site / "photos")
    (site / "config.toml").write_text('title = "my website"\n')
    (site / "notes.md").write_text("notes")
    before = listing(site)
    assert "already holds files" in one_line(train(site), 2)
    line = one_line(train(site, "--overwrite"), 2)
    assert "not a run ganrt made" in line and ".ganrt-run" in line
    assert listing(site) == before


def test_overwrite_deletes_only_what_the_run_made(tmp_path, finished):
    run = copy_run(finished, tmp_path / "run")
    (run / "notes.md").write_text("what I tried")
    (run / "samples" / "favourite.png").write_bytes((run / "samples" / "latest.png").read_bytes())
    result = train(run, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (run / "notes.md").read_text() == "what I tried" and (run / "samples" / "favourite.png").is_file()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # the new run's metrics alone


def test_resume_with_no_checkpoint_left_refuses_and_keeps_the_trained_generator(tmp_path, finished):
    run = copy_run(finished, tmp_path / "run")
    trained = (run / "generator.safetensors").read_bytes()
    for ckpt in (run / "checkpoints").iterdir():
        ckpt.unlink()
    line = one_line(train(run, "--resume", "--max-steps", "8"), 2)
    assert "nothing to resume from" in line and "checkpoints" in line
    assert (run / "generator.safetensors").read_bytes() == trained


def test_resume_with_every_checkpoint_damaged_refuses_in_one_line(tmp_path, finished):
    run = copy_run(finished, tmp_path / "run")
    metrics = (run / "metrics.jsonl").read_text()
    for ckpt in (run / "checkpoints").iterdir():
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    line = one_line(train(run, "--resume", "--max-steps", "8"), 1)
    assert "nothing to resume from" in line and "step-0000004.pt" in line and "step-0000002.pt" in line
    assert (run / "metrics.jsonl").read_text() == metrics  # no step written twice


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before_and_says_so(tmp_path, finished):
    run = copy_run(finished, tmp_path / "run")
    newest = run / "checkpoints" / "step-0000004.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    result = cli("train", "dcgan", "--run", run, "--resume", "--max-steps", "6")
    assert result.exit_code == 0, result.output
    assert "step-0000002.pt" in result.output and "step-0000004.pt" in result.output  # loudly
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 6


def test_a_refused_resume_leaves_config_toml_as_it_was(tmp_path, finished):
    run = copy_run(finished, tmp_path / "run")
    config = (run / "config.toml").read_text()
    line = one_line(train(run, "--resume", "--width", "16"), 2)
    assert "--width cannot change" in line
    assert (run / "config.toml").read_text() == config
    result = cli("train", "dcgan", "--run", run, "--resume", "--max-steps", "6", "-q")  # a plain resume still works
    assert result.exit_code == 0, result.output
    assert "max_steps = 6" in (run / "config.toml").read_text()


@pytest.mark.parametrize("edit, says", [
    ('batch = "abc"', "batch must be an integer"),
    ("lr = nan", "lr must be a finite number"),
    ("width = 0", "width must be between 1 and 1024"),
    ("seed = 1e400", "seed must be an integer"),
    ("amp = \"fast\"", "amp must be one of"),
])
def test_a_hand_edited_config_is_refused_in_one_line(tmp_path, finished, edit, says):
    run = copy_run(finished, tmp_path / "run")
    key = edit.split(" ")[0]
    lines = [edit if line.startswith(f"{key} =") else line for line in (run / "config.toml").read_text().splitlines()]
    (run / "config.toml").write_text("\n".join(lines) + "\n")
    before = listing(run)
    line = one_line(cli("train", "dcgan", "--run", run, "--resume", "-q"), 2)
    assert says in line and "config.toml" in line
    assert listing(run) == before


def test_two_trainings_never_share_a_run_folder(tmp_path, finished):
    run = copy_run(finished, tmp_path / "run")
    before = listing(run)
    with open(run / ".ganrt-run.lock", "a") as held:  # another `ganrt train` is in this folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert "another ganrt train" in one_line(train(run, "--resume", "--max-steps", "8"), 2)
        assert "another ganrt train" in one_line(train(run, "--overwrite"), 2)
    assert listing(run) == before


def test_a_decompression_bomb_in_the_data_is_left_out_not_decoded(tmp_path):
    data = photos(tmp_path / "data", 9)
    bomb = Image.new("L", (9000, 9000))  # 81 megapixels of zeros: about 80 KB as a PNG
    bomb.save(data / "bomb.png", optimize=True)
    result = cli("train", "dcgan", "--data", data, "--run", tmp_path / "run", *TINY[:-1])
    assert result.exit_code == 0, result.output
    assert "bomb.png" in result.output and "left out" in result.output


def test_a_missing_data_folder_is_said_before_torch_is_loaded(tmp_path):
    probe = ("import sys; from ganrt.cli import main; sys.argv = ['ganrt', 'train', 'dcgan', '--data', 'digitz', "
             f"'--run', {str(tmp_path / 'r')!r}]\ntry:\n    main()\nexcept SystemExit as e:\n"
             "    print('torch' in sys.modules, e.code)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "2"], out.stderr
    assert "digitz" in out.stderr and out.stderr.startswith("error: ")


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_ends_in_exit_3_and_keeps_the_last_good_one(full_disk):
    run = full_disk / "run"
    result = cli("train", "dcgan", "--data", "digits", "--run", run, "--max-steps", "30", "--checkpoint-every", "10",
                 "--sample-every", "10", "-q")
    line = one_line(result, 3)
    assert "disk is full" in line and "--resume" in line
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept and all(not p.startswith(".") for p in kept)  # no half-written file left under a real name
    import torch

    assert torch.load(run / "checkpoints" / kept[-1], weights_only=True)["step"] == int(kept[-1][5:12])
    assert np.isfinite(json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["loss_g"])


class _Payload:
    """A pickle that runs a command when it is loaded: what a hostile checkpoint holds."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_hostile_checkpoint_in_an_inpainting_run_is_refused_and_never_runs(tmp_path, digit_gan, photos):
    import pickle
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digit_gan[0], run)
    marker = tmp_path / "payload-ran"
    checkpoints = sorted((run / "checkpoints").glob("step-*.pt"))
    for ckpt in checkpoints:
        ckpt.write_bytes(pickle.dumps(_Payload(marker)))
    photo = tmp_path / "digit.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(photo)
    line = one_line(cli("repair", photo, tmp_path / "out.png", "--inpaint", run), 1)
    assert "nothing in them was run" in line and not marker.exists()
    assert not (tmp_path / "out.png").exists()
