"""Video, tried as a careless or hostile user would: file names that are not UTF-8 (possible on Linux, common
on old NAS shares) work end to end, and ffmpeg's complaints about them are one line, not a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ganrt.pipelines.video.ffmpeg import count_video_packets
from test_video import make_video

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]


def ganrt(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganrt", *args], capture_output=True, timeout=600)


def test_non_utf8_names_work_end_to_end(tmp_path):
    src = Path(os.fsdecode(bytes(tmp_path) + b"/holiday-\xe9t\xe9.mp4"))  # Latin-1 "été", as old shares hold it
    make_video(src, seconds=1.0, fps=5)
    out = Path(os.fsdecode(bytes(tmp_path) + b"/\xe9t\xe9-x4.mkv"))
    done = ganrt("video", str(src), str(out), *FAST)
    assert done.returncode == 0, done.stderr
    assert count_video_packets(out) == count_video_packets(src) == 5
    assert not [p for p in os.listdir(bytes(tmp_path)) if b"ganrt" in p]  # no work folder left behind


def test_ffmpeg_errors_about_such_names_are_one_line(tmp_path):
    src = Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe-clip.mp4"))
    make_video(src, seconds=0.6, fps=5)
    src.write_bytes(src.read_bytes()[:300])  # torn: ffmpeg names the file as it complains
    out = Path(os.fsdecode(bytes(tmp_path) + b"/\xff-out.mp4"))
    for _attempt in range(2):  # and again: a rerun meets the same, not a leftover work folder
        done = ganrt("video", str(src), str(out), *FAST)
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 1 and err.startswith("error: ") and len(err.splitlines()) == 1, err
        assert "internal error" not in err
    assert not out.exists()
    assert sorted(os.listdir(bytes(tmp_path))) == [os.fsencode(src.name)]  # nothing left behind
