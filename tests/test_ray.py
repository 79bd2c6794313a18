"""--ray: the same outputs, reports and exit codes as a single-process run; killed actors and drivers lose nothing.

Real Ray (``ray[data]`` from the test extra), real engines and real files: a
local head with two CPUs started once for the module (the tests join it with
``--ray ADDRESS``), and one embedded ``--ray`` run that starts its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import wait_for

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.ray, pytest.mark.slow]

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32"]
TIMINGS = {"seconds", "images_per_s", "megapixels_per_s"}


@pytest.fixture(scope="module")
def cluster():
    """A local Ray head with 2 CPUs, as `ray start --head` gives an operator; its address."""
    import re

    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    ray_bin = Path(sys.executable).with_name("ray")
    started = subprocess.run([str(ray_bin), "start", "--head", "--num-cpus", "2", "--port", "0",
                              "--include-dashboard", "false", "--disable-usage-stats"],
                             env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr[-2000:]
    yield re.search(r"--address='([^']+)'", started.stdout + started.stderr).group(1)
    subprocess.run([str(ray_bin), "stop", "--force"], env=env, capture_output=True, timeout=120)


def ganrt(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganrt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def make_archive(root: Path, count: int, size: int, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / (f"roll{i % 2}" if i % 3 else "")
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((size, size + 4 * (i % 3)), Image.BICUBIC).save(folder / f"scan {i:02d}.png")
    return root


def outputs(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*.png") if not p.name.startswith(".")}


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def engine_actors() -> list:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if cmd.startswith("ray::MapWorker(MapBatches(EngineActor))"):
            found.append(proc)
    return found


def ended(proc) -> str:
    """Why the moment a test waits for did not come: the job ended first (its exit code and the end of
    what it printed), or it was still running when the wait ran out."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
        return "the job was still running when the wait ran out"
    out, err = proc.communicate()
    return f"the job ended first (exit {proc.returncode}): {str(out)[-1000:]} {str(err)[-2000:]}"


def test_embedded_ray_gives_the_single_process_outputs_report_and_exit_code(tmp_path, cluster):
    """--ray with no address starts its own local Ray, also beside a cluster already running here."""
    src = make_archive(tmp_path / "in", 6, 48)
    (src / "roll1" / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    page = Image.open(src / "roll1" / "scan 01.png")
    page.save(src / "roll1" / "two pages.gif", save_all=True, append_images=[page.rotate(90)])  # a warning row
    page.save(src / "roll1" / "two pages.tif", save_all=True, append_images=[page.rotate(90)])  # both restored
    alone = ganrt("restore", src, tmp_path / "alone", *FAST, "--report", tmp_path / "alone.json", "-q")
    on_ray = ganrt("restore", src, tmp_path / "ray", *FAST, "--report", tmp_path / "ray.json", "-q",
                   "--ray", "--ray-actors", "2")
    assert alone.returncode == on_ray.returncode == 1, on_ray.stderr  # one input failed, in both
    assert on_ray.stderr.splitlines() == alone.stderr.splitlines() == [
        "failed: roll1/torn.jpg: corrupt or truncated image (Truncated File Read)"]  # no Ray noise on the terminal
    a, b = json.loads((tmp_path / "alone.json").read_text()), json.loads((tmp_path / "ray.json").read_text())
    assert {k: v for k, v in a.items() if k not in TIMINGS} == {k: v for k, v in b.items() if k not in TIMINGS}
    assert a["restored"] == 8
    assert a["warnings"] == [{"path": "roll1/two pages.gif", "note": "holds 2 pages/frames; only the first is restored"}]
    want, got = outputs(tmp_path / "alone"), outputs(tmp_path / "ray")
    assert sorted(want) == sorted(got) and len(want) == 7
    for rel in want:
        assert np.abs(pixels(want[rel]) - pixels(got[rel])).max() <= 1, rel
    with Image.open(tmp_path / "alone/roll1/two pages.tif") as one, Image.open(tmp_path / "ray/roll1/two pages.tif") as two:
        assert one.n_frames == two.n_frames == 2
        for index in range(2):
            one.seek(index), two.seek(index)
            assert np.abs(np.asarray(one).astype(int) - np.asarray(two)).max() <= 1, index
    again = ganrt("restore", src, tmp_path / "ray", *FAST, "-q", "--ray", cluster, "--ray-actors", "2")
    assert again.returncode == 1  # the torn file still fails; nothing else is redone (on the cluster, this time)
    assert {rel: p.stat().st_mtime_ns for rel, p in outputs(tmp_path / "ray").items()} == \
        {rel: p.stat().st_mtime_ns for rel, p in got.items()}


def test_a_killed_actor_is_replaced_and_the_job_finishes_complete(tmp_path, cluster):
    src = make_archive(tmp_path / "in", 16, 192)
    dst = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "ganrt", "restore", src, dst, *FAST, "-q", "--ray", cluster,
                             "--ray-actors", "2", "--report", tmp_path / "r.json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: len(outputs(dst)) >= 1 and len(engine_actors()) == 2, 180, proc), ended(proc)
    victim = engine_actors()[0]
    victim.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["restored"] == 16 and report["failed"] == 0
    got = outputs(dst)
    assert len(got) == 16
    for path in got.values():
        assert pixels(path).std() > 5  # real pictures, none empty or half-written


def test_a_killed_driver_is_resumed_by_rerunning_and_each_image_is_written_once(tmp_path, cluster):
    src = make_archive(tmp_path / "in", 16, 192, seed=5)
    dst = tmp_path / "out"
    cmd = [sys.executable, "-m", "ganrt", "restore", str(src), str(dst), *FAST, "-q", "--ray", cluster,
           "--ray-actors", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert wait_for(lambda: len(outputs(dst)) >= 3, 180, proc), ended(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert wait_for(lambda: not engine_actors(), 60), "the killed driver's actors outlived it"
    before = {rel: (p.stat().st_ino, p.stat().st_mtime_ns) for rel, p in outputs(dst).items()}
    assert 3 <= len(before) < 16
    rerun = subprocess.run([*cmd, "--report", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["skipped_done"] == len(before) and report["restored"] == 16 - len(before)
    after = outputs(dst)
    assert len(after) == 16 and not [p for p in dst.rglob(".*") if "ganrt-tmp" in p.name]  # no half-written file
    for rel, stamp in before.items():  # written once: what the killed run wrote is kept, not redone
        assert (after[rel].stat().st_ino, after[rel].stat().st_mtime_ns) == stamp, rel
    alone = ganrt("restore", src, tmp_path / "alone", *FAST, "-q")
    assert alone.returncode == 0
    for rel, path in outputs(tmp_path / "alone").items():
        assert np.abs(pixels(path) - pixels(after[rel])).max() <= 1, rel


def test_video_on_ray_keeps_every_frame_and_the_audio(tmp_path, cluster):
    """A 10-bit clip: its 16-bit frames travel to the actors and come back written 10-bit."""
    from test_video import make_video, rgb48_frames

    from ganrt.pipelines.video.ffmpeg import audio_seconds, count_video_packets, probe

    src = make_video(tmp_path / "clip.mkv", seconds=9, size="48x32", pix_fmt="yuv420p10le")  # three segments
    alone = ganrt("video", src, tmp_path / "alone.mkv", *FAST, "-q")
    on_ray = ganrt("video", src, tmp_path / "ray.mkv", *FAST, "-q", "--ray", cluster, "--ray-actors", "2")
    assert alone.returncode == on_ray.returncode == 0, on_ray.stderr
    assert on_ray.stderr == ""
    assert count_video_packets(tmp_path / "ray.mkv") == count_video_packets(src) == 90
    assert abs(audio_seconds(tmp_path / "ray.mkv") - audio_seconds(tmp_path / "alone.mkv")) < 1e-3
    assert probe(tmp_path / "ray.mkv").pix_fmt == probe(tmp_path / "alone.mkv").pix_fmt == "yuv420p10le"
    got, want = rgb48_frames(tmp_path / "ray.mkv"), rgb48_frames(tmp_path / "alone.mkv")
    assert len(got) == len(want) == 90
    assert np.abs(got.astype(int) - want).max() <= 257  # one 8-bit level
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # work folder removed


def test_ray_options_are_checked_before_any_work(tmp_path):
    photo = make_archive(tmp_path / "in", 1, 32) / "scan 00.png"
    one = ganrt("restore", photo, tmp_path / "x.png", *FAST, "--ray")
    assert one.returncode == 2 and one.stderr.strip() == \
        "error: --ray runs folders (one image runs here, on this machine)"
    actors = ganrt("restore", tmp_path / "in", tmp_path / "out", *FAST, "--ray-actors", "2")
    assert actors.returncode == 2 and "--ray-actors needs --ray" in actors.stderr
    nowhere = ganrt("restore", tmp_path / "in", tmp_path / "out", *FAST, "-q", "--ray", "127.0.0.1:1", timeout=300)
    assert nowhere.returncode == 2 and len(nowhere.stderr.strip().splitlines()) == 1, nowhere.stderr
    assert "cannot start or join the Ray cluster at 127.0.0.1:1" in nowhere.stderr
    assert not (tmp_path / "out").exists() or not outputs(tmp_path / "out")


def test_repair_on_ray_gives_the_same_photos_masks_and_report(tmp_path, cluster):
    from ganrt.pipelines.repair.damage import synthetic_damage

    src = tmp_path / "scans"
    src.mkdir()
    rng = np.random.default_rng(11)
    base = np.asarray(Image.open(make_archive(tmp_path / "clean", 1, 160) / "scan 00.png").convert("RGB"))
    for i in range(3):
        damaged = synthetic_damage(np.roll(base, 17 * i, axis=1), rng)
        Image.fromarray(damaged[0] if isinstance(damaged, tuple) else damaged).save(src / f"photo{i}.png")
    common = ["-q", "--save-masks"]
    alone = ganrt("repair", src, tmp_path / "alone", *common, "--report", tmp_path / "alone.json")
    on_ray = ganrt("repair", src, tmp_path / "ray", *common, "--report", tmp_path / "ray.json", "--ray", cluster,
                   "--ray-actors", "2")
    assert alone.returncode == on_ray.returncode == 0, on_ray.stderr
    a, b = json.loads((tmp_path / "alone.json").read_text()), json.loads((tmp_path / "ray.json").read_text())
    assert {k: v for k, v in a.items() if k not in TIMINGS} == {k: v for k, v in b.items() if k not in TIMINGS}
    assert sum(b["settings"]["masks"].values()) == 3 and b["settings"]["damaged_megapixels"] > 0
    want, got = outputs(tmp_path / "alone"), outputs(tmp_path / "ray")
    assert sorted(want) == sorted(got) and len(want) == 6  # three photos, three masks
    for rel in want:
        assert np.array_equal(pixels(want[rel]), pixels(got[rel])), rel


def test_sigterm_under_ray_stops_cleanly_with_143(tmp_path, cluster):
    src = make_archive(tmp_path / "in", 16, 192, seed=9)
    dst = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "ganrt", "restore", str(src), str(dst), *FAST, "--ray", cluster,
                             "--ray-actors", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: len(outputs(dst)) >= 2, 180, proc), ended(proc)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert "terminated after" in err and "rerun the same command to resume" in err and "Traceback" not in err
