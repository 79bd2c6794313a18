"""The engine's lead in the whole command: ganrt end to end against the peers' whole scripts, side by side.

For real photos at 160×120, 320×240 and 640×480 (compact and x4plus), in one
run (``--models`` to pick):

- ``ganrt restore IN OUT`` with default settings, whole process (fresh
  interpreter, warm cache: what a user's second run costs), best of 3;
- a plain script with the ``ncnn`` package running the same model's original
  files in fp32, whole process (import, load, one extract, write the PNG);
- a plain PyTorch script on the same weights (import torch, build, forward,
  write), whole process — upstream's way;
- in process, the restore stage (``infer_stage``: tiling, conversions,
  borders) against the bare engine call on the same image (no padding).

    python benchmarks/whole_command.py
    python benchmarks/whole_command.py --stage-only --models RealESRGAN_x4plus --sizes 640x480

``--stage-only`` measures the in-process part alone (minutes, not an hour, for
x4plus) into results/whole_command_stage.md, with the tiles the policy picked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import RESULTS, write  # noqa: E402

CASES = [("realesr-animevideov3", (120, 160)), ("realesr-animevideov3", (240, 320)),
         ("realesr-animevideov3", (480, 640)), ("RealESRGAN_x4plus", (120, 160)), ("RealESRGAN_x4plus", (240, 320)),
         ("RealESRGAN_x4plus", (480, 640))]

NCNN_SCRIPT = """
import sys, numpy as np, ncnn
from PIL import Image
net = ncnn.Net(); net.opt.use_vulkan_compute = False; net.opt.num_threads = 2
net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
net.load_param(sys.argv[1]); net.load_model(sys.argv[2])
x = np.ascontiguousarray(np.asarray(Image.open(sys.argv[3]).convert("RGB")).transpose(2, 0, 1), np.float32) / 255
ex = net.create_extractor(); ex.input("data", ncnn.Mat(x)); _, out = ex.extract("output")
y = np.clip(np.array(out), 0, 1).transpose(1, 2, 0)
Image.fromarray(np.rint(y * 255).astype(np.uint8)).save(sys.argv[4])
"""

TORCH_SCRIPT = """
import sys, torch, numpy as np
from PIL import Image
from spandrel import ModelLoader
model = ModelLoader().load_from_file(sys.argv[1]).model.eval()
x = torch.from_numpy(np.asarray(Image.open(sys.argv[2]).convert("RGB")).transpose(2, 0, 1).copy()).float()[None] / 255
with torch.inference_mode():
    y = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
Image.fromarray(np.rint(y * 255).astype(np.uint8)).save(sys.argv[3])
"""


def wall(cmd: list[str], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def photo(h: int, w: int) -> np.ndarray:
    """A real photograph at w × h (scikit-image's coffee, 600 × 400, resized)."""
    from PIL import Image
    from skimage import data

    return np.ascontiguousarray(np.asarray(Image.fromarray(data.coffee()).resize((w, h), Image.LANCZOS)))


def in_process(name: str, img: np.ndarray) -> tuple[float, float, str, int]:
    """(restore stage s, bare engine s, engine, the policy's tile) — medians of 3 after a warm-up."""
    from ganrt.runtime.engine_choice import choose_engine
    from ganrt.pipelines.imageio.decoded import DecodedImage
    from ganrt.pipelines.restore import Prepared, RestoreSettings, infer_stage

    choice = choose_engine(name, "auto", "auto", "auto", "auto")
    settings = RestoreSettings(tile=choice.tile)
    prepared = Prepared(Path("x"), DecodedImage(img), img)
    x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], np.float32) / 255
    with choice.open() as engine:
        infer_stage(engine, prepared, settings)
        stage, bare = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            infer_stage(engine, prepared, settings)
            stage.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            engine.infer(x)
            bare.append(time.perf_counter() - t0)
        tile = settings.tile.for_engine(engine, *img.shape[:2])
        return float(np.median(stage)), float(np.median(bare)), engine.describe(), tile


def stage_only(picked: set[str], sizes: set[str]) -> None:
    from ganrt.runtime.tiling import DEFAULT_PAD, tile_shape

    rows = []
    for name, (h, w) in CASES:
        if (picked and name not in picked) or (sizes and f"{w}x{h}" not in sizes):
            continue
        stage, bare, engine, tile = in_process(name, photo(h, w))
        count, th, tw = tile_shape(h, w, tile, DEFAULT_PAD)
        rows.append({"model": name, "size": f"{w}x{h}", "ganrt_engine": engine, "stage_s": round(stage, 2),
                     "bare_engine_s": round(bare, 2), "stage_over_engine": round(stage / bare, 3),
                     "tiles": "whole" if count == 1 else f"{count} of {tw}x{th}",
                     "pixels_run_ratio": round(count * th * tw / (h * w), 3), "measured": time.strftime("%Y-%m-%d")})
        print(rows[-1], flush=True)
    write("whole_command_stage", rows, ["model", "size", "ganrt_engine", "stage_s", "bare_engine_s",
                                        "stage_over_engine", "tiles", "pixels_run_ratio", "measured"],
          "Restore stage against the bare engine call, in process (medians of 3 after a warm-up)",
          "stage: ganrt's restore stage (tiling, conversions) on the photo; bare: one engine call on the whole "
          "photo as float32 NCHW. pixels_run_ratio: pixels the engine ran ÷ the photo's.")


def main() -> None:
    import argparse

    from PIL import Image

    from ganrt.cache import cache_root
    from ganrt.models import load_model
    from ganrt.models.registry import get_builtin
    from ganrt.models.zoo import ncnn_files

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="comma-separated model names (default: all cases); the "
                        "other cases' rows of results/whole_command.json are kept")
    parser.add_argument("--sizes", default="", help="comma-separated WxH (default: every case's size)")
    parser.add_argument("--stage-only", action="store_true", help="only the restore stage against the bare engine")
    args = parser.parse_args()
    picked = {m for m in args.models.split(",") if m}
    sizes = {s for s in args.sizes.split(",") if s}
    if args.stage_only:
        stage_only(picked, sizes)
        return
    import compileall

    import ganrt

    # pip byte-compiles what it installs; a checkout run under PYTHONDONTWRITEBYTECODE=1 would
    # compile all of ganrt's modules again in every timed run (about 0.07 s each)
    compileall.compile_dir(Path(ganrt.__file__).parent, quiet=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "ncnn_run.py").write_text(NCNN_SCRIPT)
        (tmp / "torch_run.py").write_text(TORCH_SCRIPT)
        for name, (h, w) in CASES:
            if (picked and name not in picked) or (sizes and f"{w}x{h}" not in sizes):
                continue
            src = tmp / f"in_{h}x{w}.png"
            img = photo(h, w)
            Image.fromarray(img).save(src)
            load_model(name).module  # converted weights in the cache for the torch script
            weights = cache_root() / "models" / f"{name}.safetensors"
            param, binary = ncnn_files(get_builtin(name))
            ganrt_cmd = [sys.executable, "-m", "ganrt", "restore", str(src), str(tmp / "g.png"), "-m", name,
                         "--overwrite", "-q"]
            subprocess.run(ganrt_cmd, check=True)  # warm: compile and cache
            g = wall(ganrt_cmd)
            n = wall([sys.executable, str(tmp / "ncnn_run.py"), str(param), str(binary), str(src), str(tmp / "n.png")])
            t = wall([sys.executable, str(tmp / "torch_run.py"), str(weights), str(src), str(tmp / "t.png")], 2)
            stage, bare, engine, _tile = in_process(name, img)
            rows.append({"model": name, "size": f"{w}x{h}", "ganrt_command_s": round(g, 2), "ganrt_engine": engine,
                         "ncnn_script_s": round(n, 2), "torch_script_s": round(t, 2),
                         "vs_ncnn": round(n / g, 2), "vs_torch": round(t / g, 2),
                         "stage_s": round(stage, 3), "bare_engine_s": round(bare, 3),
                         "stage_over_engine": round(stage / bare, 3), "measured": time.strftime("%Y-%m-%d")})
            print(rows[-1], flush=True)
    if picked or sizes:  # keep the last run's rows of the cases not measured now
        last = RESULTS / "whole_command.json"
        now = {(r["model"], r["size"]) for r in rows}
        kept = [r for r in json.loads(last.read_text())["rows"] if (r["model"], r["size"]) not in now] \
            if last.exists() else []
        for r in kept:
            r.setdefault("measured", "2026-11-22")  # the first run's rows carry no date
        order = [f"{name} {w}x{h}" for name, (h, w) in CASES]
        rows = sorted(kept + rows, key=lambda r: order.index(f"{r['model']} {r['size']}"))
    write("whole_command", rows, ["model", "size", "ganrt_engine", "ganrt_command_s", "ncnn_script_s", "torch_script_s",
                                  "vs_ncnn", "vs_torch", "stage_over_engine", "measured"],
          "Whole commands, one photo each (fresh process, warm cache, best of 3)",
          "vs_ncnn / vs_torch: the peer script's wall time ÷ ganrt's (above 1: ganrt is faster). "
          "stage_over_engine: ganrt's restore stage (tiling, borders, conversions) ÷ the bare engine call.")


if __name__ == "__main__":
    main()
