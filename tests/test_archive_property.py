"""A property of every folder run: random folders of random names and formats (alpha, colliding stems,
files already in the output folder), a random --format, sometimes a kill -9 at a random moment, then
the same command again. Afterwards every input is byte-identical, every foreign file untouched,
every output written exactly once and decodable, and the report accounts for every input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from archive_builder import snapshot
from conftest import cli, wait_for
from ganrt.pipelines.imageio.read import read_image

ENGINE = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]
ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".bmp")

entries = st.lists(
    st.tuples(st.sampled_from(["", "sub/", "sub/deep/"]), st.sampled_from(["a", "b", "scan 1", "été", "a.jpg"]),
              st.sampled_from([".jpg", ".png", ".bmp", ".tif", ".webp", ".JPG"]), st.booleans()),
    min_size=1, max_size=7, unique_by=lambda e: (e[0] + e[1] + e[2]).lower())


def write_input(path: Path, pixels: np.ndarray, alpha: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if alpha and path.suffix.lower() in ALPHA_SUFFIXES:
        rgba = np.dstack([pixels, np.full(pixels.shape[:2], 180, np.uint8)])
        rgba[:3, :3, 3] = 0
        if path.suffix == ".bmp":
            import cv2

            cv2.imwrite(str(path), rgba[..., [2, 1, 0, 3]])
        else:
            Image.fromarray(rgba, "RGBA").save(path)
    else:
        Image.fromarray(pixels).save(path, format={".jpg": "JPEG", ".tif": "TIFF"}.get(path.suffix.lower()))


def kill_after(src: Path, dst: Path, fmt: str, outputs: int, foreign: set[str]) -> None:
    """Run the command in a process of its own and kill -9 it once ``outputs`` images are written."""
    cmd = [sys.executable, "-m", "ganrt", "restore", str(src), str(dst), "--format", fmt, *ENGINE]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def enough() -> bool:
        written = [p for p in dst.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and p.relative_to(dst).as_posix() not in foreign]
        return len(written) >= outputs and (dst / ".ganrt-state.sqlite").exists()

    wait_for(enough, 60, proc, every=0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def done_rows(dst: Path) -> dict[str, str]:
    if not (dst / ".ganrt-state.sqlite").exists():
        return {}
    with sqlite3.connect(dst / ".ganrt-state.sqlite") as db:
        try:
            return dict(db.execute("SELECT rel, output FROM images WHERE status='done'").fetchall())
        except sqlite3.OperationalError:  # killed before the table was made
            return {}


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(entries=entries, fmt=st.sampled_from(["same", "png", "jpg", "webp", "tiff"]),
       foreign=st.lists(st.sampled_from(["a.png", "a.jpg", "sub/b.png", "scan 1.jpg", "a.jpg.png"]),
                        max_size=2, unique=True),
       kill=st.one_of(st.none(), st.integers(0, 5)))
def test_random_archives_stay_safe(tmp_path_factory, photos, entries, fmt, foreign, kill):
    root = tmp_path_factory.mktemp("archive")
    src, dst = root / "in", root / "out"
    base = photos["coffee_61x93"]
    for i, (folder, stem, suffix, alpha) in enumerate(entries):
        write_input(src / f"{folder}{stem}{suffix}", np.ascontiguousarray(base[i:i + 24, i:i + 28]), alpha)
    for rel in foreign:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_bytes(f"someone else's {rel}".encode())
    inputs, foreign_files = snapshot(src), snapshot(dst)
    if kill is not None:
        kill_after(src, dst, fmt, kill, set(foreign_files))
    survived = {rel: (dst / out).stat().st_mtime_ns for rel, out in done_rows(dst).items() if (dst / out).is_file()}
    report = root / "report.json"
    result = cli("restore", str(src), str(dst), "--format", fmt, "--report", str(report), *ENGINE)
    assert result.exit_code in (0, 1), result.output
    assert snapshot(src) == inputs  # every input byte-identical
    assert {k: v for k, v in snapshot(dst).items() if k in foreign_files} == foreign_files  # untouched
    summary = json.loads(report.read_text())
    failed = {f["path"]: f["reason"] for f in summary["failures"]}
    assert summary["restored"] + summary["skipped_done"] + len(failed) == len(inputs)  # every input accounted
    assert all("already exists" in reason for reason in failed.values()), failed
    rows = done_rows(dst)
    assert set(rows) | set(failed) == set(inputs)
    assert len(set(rows.values())) == len(rows)  # one output per input, never shared
    made = {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()
            and not p.name.startswith(".ganrt")} - set(foreign_files)
    assert made == set(rows.values())  # nothing else written, nothing partial left
    for rel, out in rows.items():
        img = read_image(dst / out)
        assert (img.height, img.width) == (96, 112), out  # decodable, restored ×4
        if rel in survived:
            assert (dst / out).stat().st_mtime_ns == survived[rel], f"{out} was written twice"
    assert not [p for p in dst.rglob("*") if "ganrt-tmp" in p.name]
    assert os.listdir(src)  # the input folder is still there, untouched
