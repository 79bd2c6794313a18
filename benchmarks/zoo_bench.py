"""`ganrt bench` rows for the built-in models, grouped by use, and the fastest per use on this CPU.

Runs the real command (``ganrt bench -m MODEL --size 128x128 --device cpu --json …``) for each
model on every CPU backend available here (torch, ONNX Runtime, OpenVINO), and compares models of
one use at the same output scale by output megapixels per second on their fastest backend:

- photos, ×4: RealESRGAN_x4plus, RealSR_DF2K_x4, SPAN-x4-ch48
- anime, ×4: RealESRGAN_x4plus_anime_6B, realesr-animevideov3, RealCUGAN-se-4x-conservative
- video and anime, ×2: SPAN-x2-ch48, RealCUGAN-se-2x-conservative, RealCUGAN-pro-2x-conservative
  (``realesr-animevideov3-x2`` is the ×4 network resized: its row is realesr-animevideov3's)

Writes ``results/zoo_bench.{json,md}``.

    python benchmarks/zoo_bench.py [--size 128x128]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write  # noqa: E402

USES = {
    "photos ×4": ["RealESRGAN_x4plus", "RealSR_DF2K_x4", "SPAN-x4-ch48"],
    "anime ×4": ["RealESRGAN_x4plus_anime_6B", "realesr-animevideov3", "RealCUGAN-se-4x-conservative"],
    "video/anime ×2": ["SPAN-x2-ch48", "RealCUGAN-se-2x-conservative", "RealCUGAN-pro-2x-conservative"],
}


def bench(model: str, size: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run([sys.executable, "-m", "ganrt", "bench", "-m", model, "--size", size, "--device", "cpu",
                        "--iterations", "3", "--duration-s", "1", "--json", str(out), "-q"], check=True)
        return json.loads(out.read_text())["rows"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="128x128")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    rows, best = [], []
    for use, models in USES.items():
        fastest = None
        for model in models:
            from ganrt.models.registry import get_builtin

            scale = get_builtin(model).scale
            for row in bench(model, args.size):
                if row["status"] != "ok":
                    rows.append({"use": use, "model": model, "backend": row["backend"], "status": row["reason"]})
                    continue
                out_mp_s = h * w * scale * scale / 1e6 / (row["median_ms"] / 1000)
                rows.append({"use": use, "model": model, "backend": row["backend"], "status": "ok",
                             "p50_ms": round(row["median_ms"], 1), "out_MP_per_s": round(out_mp_s, 4),
                             "peak_MB": round(row["peak_memory_mb"]), "first_s": round(row["first_run_s"], 2)})
                print(rows[-1], flush=True)
                if fastest is None or out_mp_s > fastest["out_MP_per_s"]:
                    fastest = rows[-1]
        best.append(f"{use}: {fastest['model']} on {fastest['backend']} ({fastest['out_MP_per_s']} output MP/s)")
    write("zoo_bench", rows, ["use", "model", "backend", "status", "p50_ms", "out_MP_per_s", "peak_MB", "first_s"],
          f"Built-in models by use, `ganrt bench` at {args.size} input, CPU, fp32",
          "Output megapixels per second on the model's own scale (×4 or ×2). Fastest per use: " + "; ".join(best)
          + ". Real-CUGAN's SE blocks average over the whole input: tiled runs of large images differ from "
          "whole-image runs (see the README).")


if __name__ == "__main__":
    main()
