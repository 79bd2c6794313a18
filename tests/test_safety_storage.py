"""Storage, tried as a careless user meets it: a disk that fills during a folder run, or that is full before it
starts. Exit 3 and one line, never "internal error"; the report written (or a line saying why not); what was
finished is kept and a rerun resumes."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from conftest import cli, one_line

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]


def noisy_photos(folder, count: int, side: int = 160):
    """Photos that compress badly (their ×4 PNGs are about a megabyte each)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(folder / f"scan{i:02d}.png")
    return folder


def test_a_disk_that_fills_during_a_folder_run_ends_in_exit_3_with_the_report(tmp_path, full_disk):
    src = noisy_photos(tmp_path / "in", 24)
    report = tmp_path / "report.json"
    result = cli("restore", src, full_disk / "out", *FAST, "--report", report)
    line = one_line(result, 3)
    assert "disk full" in line and "report" in line and "internal error" not in line
    written = json.loads(report.read_text())
    assert written["restored"] >= 1 and written["failed"] >= 1
    assert all("disk full" in f["reason"] for f in written["failures"])
    kept = sorted(p.name for p in (full_disk / "out").glob("*.png"))
    assert len(kept) == written["restored"]  # whole files only: no half-written output under a real name
    for name in kept:
        assert Image.open(full_disk / "out" / name).size == (640, 640)


def test_a_disk_full_before_the_run_is_one_line_and_exit_3(tmp_path, full_disk):
    src = noisy_photos(tmp_path / "in", 2, 32)
    with open(full_disk / "filler", "wb") as fh:  # the whole disk taken
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
        except OSError:
            pass
    result = cli("restore", src, full_disk / "out", *FAST, "--report", tmp_path / "r.json")
    line = one_line(result, 3)
    assert "job state" in line and "free some space" in line
    assert not list(full_disk.rglob("*.png"))
