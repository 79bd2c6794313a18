"""`ganrt bench`: honest statistics, every combination a row (never an abort), JSON/CSV/plot outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import cli
from ganrt.bench.runner import Bench, Combo, Method
from ganrt.bench.stats import summarize

QUICK = ["--warmup-ms", "20", "--duration-s", "0.2", "--iterations", "3"]


def test_statistics_match_their_definitions():
    rng = np.random.default_rng(0)
    seconds = rng.uniform(0.010, 0.050, size=101)
    s = summarize(seconds, batch=2, pixels_per_image=1000, streams=1)
    ms = seconds * 1e3
    assert s.count == 101
    assert s.mean_ms == pytest.approx(ms.mean())
    assert s.median_ms == pytest.approx(np.median(ms))
    for q, value in ((90, s.p90_ms), (95, s.p95_ms), (99, s.p99_ms)):
        assert value == pytest.approx(np.percentile(ms, q))
    assert s.min_ms <= s.median_ms <= s.p90_ms <= s.p95_ms <= s.p99_ms <= s.max_ms
    assert s.images_per_s == pytest.approx(2 / (ms.mean() / 1e3))  # batch images per mean latency
    assert s.megapixels_per_s == pytest.approx(s.images_per_s * 1000 / 1e6)
    assert summarize([0.1] * 4, batch=1, streams=3).images_per_s == pytest.approx(30.0)
    for bad in ([], [0.0, 0.1], [-1.0], [float("nan")]):
        with pytest.raises(ValueError):
            summarize(bad)


def test_a_combination_that_cannot_run_is_a_row(load):
    model = load("realesr-animevideov3")
    bench = Bench(model, Method(warmup_ms=10, duration_s=0.1, iterations=2))
    combos = [Combo("torch", "fp32", "cpu", 40, 48), Combo("onnxruntime", "bf16", "cpu", 40, 48),
              Combo("tensorrt", "fp16", "cuda", 40, 48), Combo("torch", "fp32", "cpu", 40, 48, streams=2),
              Combo("onnxruntime", "fp32", "cpu", 40, 48, batch=2)]
    rows = [bench.run(c) for c in combos]
    assert [r.status for r in rows] == ["ok", "unavailable", "unavailable", "unavailable", "ok"]
    assert all(r.reason for r in rows if r.status != "ok")

    def explode():
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    oom = bench.run(Combo("torch", "fp16", "cuda", 4000, 4000), factory=explode)
    assert oom.status == "out of memory" and "20.00 GiB" in oom.reason
    ok = rows[4]
    assert ok.iterations >= 2 and ok.psnr_db > 100 and ok.first_run_s > 0 and ok.peak_memory_mb > 0
    assert ok.images_per_s == pytest.approx(2 / (ok.mean_ms / 1e3))


def test_bench_json_for_the_compact_model_on_cpu(tmp_path):
    out, csv_out, plot = tmp_path / "bench.json", tmp_path / "bench.csv", tmp_path / "bench.png"
    result = cli("bench", "--model", "realesr-animevideov3", "--backend", "torch", "--backend",
                                 "onnxruntime", "--precision", "fp32", "--size", "48x64", "--batch", "1",
                                 "--batch", "2", *QUICK, "--json", str(out), "--csv", str(csv_out), "--plot", str(plot))
    assert result.exit_code == 0, result.output
    table_rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(table_rows) == 4 and not any("…" in line for line in table_rows)  # the table is whole when piped
    assert any(line.split("│")[1:3] == [" onnxruntime ", " fp32 "] for line in table_rows)
    data = json.loads(out.read_text())
    assert data["machine"]["cpu"] and data["machine"]["versions"]["torch"]
    rows = data["rows"]
    assert {(r["backend"], r["batch"]) for r in rows} == {("torch", 1), ("torch", 2), ("onnxruntime", 1), ("onnxruntime", 2)}
    for r in rows:
        assert r["status"] == "ok" and r["device"] == "cpu" and r["shape"] == "48x64"
        for key in ("mean_ms", "median_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "images_per_s",
                    "megapixels_per_s", "peak_memory_mb", "engine_size_mb", "first_run_s", "psnr_db"):
            assert r[key] is not None and r[key] > 0, key
        assert r["min_ms"] <= r["median_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["images_per_s"] == pytest.approx(r["batch"] / (r["mean_ms"] / 1e3), rel=1e-6)
        assert r["megapixels_per_s"] == pytest.approx(r["images_per_s"] * 48 * 64 / 1e6, rel=1e-6)
        assert r["psnr_db"] >= 60  # fp32 paths agree with the torch reference
    assert csv_out.read_text().startswith("# machine:") and plot.stat().st_size > 5000


def test_bench_usage_errors():
    result = cli("bench", "--backend", "magic")
    assert result.exit_code == 2 and result.output.startswith("error:")
    result = cli("bench", "--size", "wide")
    assert result.exit_code == 2


@pytest.mark.slow
def test_a_face_network_is_measured_at_its_own_size(tmp_path, random_gfpgan):
    """GFPGAN takes 512² faces only: bench measures it there (the default 720x1280 failed), and another
    --size is a usage error."""
    out = tmp_path / "bench.json"
    result = cli("bench", "--model", str(random_gfpgan), "--backend", "torch", "--precision", "fp32",
                                 "--warmup-ms", "0", "--duration-s", "0", "--iterations", "1", "--json", str(out))
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())["rows"]
    assert row["status"] == "ok" and row["shape"] == "512x512" and row["psnr_db"] >= 60
    wrong = cli("bench", "--model", str(random_gfpgan), "--size", "256x256")
    assert wrong.exit_code == 2 and "takes 512x512 images only" in wrong.output


def test_gpu_check_script_runs_end_to_end_on_cpu(tmp_path):
    """The GPU check script, in its CPU smoke mode, so it cannot rot where no GPU is lent."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parent.parent / "benchmarks" / "gpu_check.py"
    proc = subprocess.run([sys.executable, str(script), "--cpu-smoke", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {r["status"] for r in report["rows"]} == {"ok"}
    assert report["pipelines"]["video_end_to_end_fps"] > 0 and report["pipelines"]["archive_failed"] == 0
    assert report["pipelines"]["video10_end_to_end_fps"] > 0 and report["pipelines"]["video10_pix_fmt"] == "yuv420p10le"
