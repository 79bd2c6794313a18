"""kill -9 and Ctrl-C in the middle of an archive run: nothing lost, nothing partial, nothing redone twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_builder import snapshot
from conftest import wait_for
from ganrt.pipelines.imageio.read import read_image

N_IMAGES = 48


@pytest.fixture()
def big_archive(tmp_path, photos):
    src = tmp_path / "archive"
    rng = np.random.default_rng(7)
    base = photos["astronaut_77x131"]
    for i in range(N_IMAGES):
        y, x = rng.integers(0, 20), rng.integers(0, 60)
        sub = src / f"roll{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(base[y:y + 56, x:x + 64]).save(sub / f"frame {i:03d}.png")
    (src / "roll0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return src


def command(src: Path, dst: Path) -> list[str]:
    return [sys.executable, "-m", "ganrt", "restore", str(src), str(dst), "-m", "realesr-animevideov3",
            "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "--tile", "0", "-q"]


def finished_outputs(dst: Path) -> list[Path]:
    return [p for p in dst.rglob("*.png") if not p.name.startswith(".")]


def start_and_interrupt(src: Path, dst: Path, sig: int, after: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command(src, dst), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(lambda: dst.is_dir() and len(finished_outputs(dst)) >= after, 120, proc)
    assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.communicate()}"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def check_complete(src: Path, dst: Path) -> None:
    expected = {p.relative_to(src).with_suffix(".png").as_posix() for p in src.rglob("frame*.png")}
    got = [p.relative_to(dst).as_posix() for p in finished_outputs(dst)]
    assert sorted(got) == sorted(expected)  # every image exactly once
    for rel in got:
        img = read_image(dst / rel)  # every output decodes completely
        assert (img.height, img.width) == (56 * 4, 64 * 4)
    assert not [p for p in dst.rglob("*") if "ganrt-tmp" in p.name]


def test_kill_9_then_rerun_finishes_everything_exactly_once(big_archive, tmp_path):
    src, dst = big_archive, tmp_path / "out"
    before = snapshot(src)
    killed = start_and_interrupt(src, dst, signal.SIGKILL, after=3)
    assert killed.returncode == -signal.SIGKILL
    done_at_kill = len(finished_outputs(dst))
    assert 3 <= done_at_kill < N_IMAGES
    for p in finished_outputs(dst):  # whatever is there is complete, never partial
        read_image(p)
    rerun = subprocess.run(command(src, dst), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 1, rerun.stderr  # the one broken input is reported, everything else done
    assert "broken.jpg" in rerun.stderr
    check_complete(src, dst)
    assert snapshot(src) == before


def test_ctrl_c_stops_cleanly_and_resumes(big_archive, tmp_path):
    src, dst = big_archive, tmp_path / "out"
    stopped = start_and_interrupt(src, dst, signal.SIGINT, after=2)
    assert stopped.returncode == 130, stopped.stderr
    assert "interrupted" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    partial = len(finished_outputs(dst))
    assert partial < N_IMAGES
    subprocess.run(command(src, dst), capture_output=True, text=True, timeout=300)
    check_complete(src, dst)
