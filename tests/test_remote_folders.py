"""Folders as fsspec URLs: `ganrt restore s3://… s3://…` gives what the local folders give.

A real S3 endpoint (moto's server) on this machine, real engines, real photos; the commands run as
a user runs them, in their own processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from s3_store import bucket, s3_endpoint, upload_folder  # noqa: F401 - fixtures

from ganrt.pipelines.imageio.read import read_image

pytest.importorskip("s3fs")

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32"]
TIMINGS = {"seconds", "images_per_s", "megapixels_per_s"}


def ganrt(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganrt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def make_archive(root: Path, photos) -> Path:
    """Photos in two folders, one with alpha, a torn JPEG and a text file."""
    (root / "roll 1").mkdir(parents=True)
    names = sorted(photos)
    for i, name in enumerate(names):
        folder = root / ("roll 1" if i % 2 else "")
        Image.fromarray(photos[name]).save(folder / f"{name}.jpg", quality=92)
    rgba = np.dstack([photos[names[0]], np.full(photos[names[0]].shape[:2], 200, np.uint8)])
    Image.fromarray(rgba).save(root / "roll 1" / "cutout.png")
    (root / "roll 1" / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (root / "notes.txt").write_text("inventory\n")
    (root / "roll 1" / "@eaDir" / "cutout.png").mkdir(parents=True)  # a NAS's thumbnails and a Mac's companion
    Image.fromarray(photos[names[0]]).save(root / "roll 1" / "@eaDir" / "cutout.png" / "SYNOPHOTO_THUMB_M.png")
    (root / "roll 1" / "._cutout.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (root / "roll 1" / f"{names[1]}.jpg.xmp").write_bytes(SIDECAR)  # digiKam's captions, beside the photo
    return root


SIDECAR = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>Brighton'
           b'</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>')


def decoded(data: bytes) -> np.ndarray:
    import io

    return np.asarray(Image.open(io.BytesIO(data))).astype(int)


def remote_files(fs, url: str) -> dict[str, dict]:
    """The files under ``url`` but the job state's copy."""
    root = url.removeprefix("s3://")
    return {k[len(root) + 1:]: v for k, v in fs.find(root, detail=True).items()
            if not k.endswith("/.ganrt-state.sqlite")}


def without_timings(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in TIMINGS}


@pytest.mark.slow
def test_s3_folders_restore_resume_and_refuse_as_local_folders_do(tmp_path, photos, bucket):
    url, fs = bucket
    src = make_archive(tmp_path / "in", photos)
    upload_folder(fs, src, f"{url}/scans")
    local = ganrt("restore", src, tmp_path / "local", *FAST, "--format", "jpg", "--report", tmp_path / "l.json", "-q")
    remote = ganrt("restore", f"{url}/scans", f"{url}/restored", *FAST, "--format", "jpg",
                   "--report", tmp_path / "r.json", "-q")
    assert local.returncode == remote.returncode == 1, remote.stderr  # the torn JPEG, in both
    assert remote.stderr.splitlines() == local.stderr.splitlines() == [
        "failed: roll 1/torn.jpg: corrupt or truncated image (Truncated File Read)"]
    want = json.loads((tmp_path / "l.json").read_text())
    got = json.loads((tmp_path / "r.json").read_text())
    assert without_timings(got) == without_timings(want) and got["restored"] == 4
    assert [i["path"] for i in got["ignored_files"]] == ["notes.txt", "roll 1/._cutout.png",
                                                         "roll 1/@eaDir", "roll 1/chelsea_45x59.jpg.xmp"]
    made = remote_files(fs, f"{url}/restored")
    expected = {p.relative_to(tmp_path / "local").as_posix(): p for p in (tmp_path / "local").rglob("*.*")
                if not p.name.startswith(".")}
    assert sorted(made) == sorted(expected)
    assert "roll 1/cutout.png" in made  # alpha seen in the remote header: PNG, as locally
    for rel, path in expected.items():
        assert np.abs(decoded(fs.cat(f"{url.removeprefix('s3://')}/restored/{rel}")) - decoded(path.read_bytes())).max() <= 1
    captioned = "roll 1/chelsea_45x59.jpg"  # the sidecar's captions, fetched with the photo
    assert b"<rdf:li>Brighton</rdf:li>" in read_image(tmp_path / "local" / captioned).xmp
    (tmp_path / "captioned.jpg").write_bytes(fs.cat(f"{url.removeprefix('s3://')}/restored/{captioned}"))
    assert b"<rdf:li>Brighton</rdf:li>" in read_image(tmp_path / "captioned.jpg").xmp

    again = ganrt("restore", f"{url}/scans", f"{url}/restored", *FAST, "--format", "jpg",
                  "--report", tmp_path / "again.json", "-q")
    assert again.returncode == 1
    report = json.loads((tmp_path / "again.json").read_text())
    assert (report["skipped_done"], report["restored"]) == (4, 0)
    assert {k: v["LastModified"] for k, v in remote_files(fs, f"{url}/restored").items()} == \
        {k: v["LastModified"] for k, v in made.items()}  # nothing uploaded twice
    fs.pipe(f"{url.removeprefix('s3://')}/scans/{captioned}.xmp", SIDECAR.replace(b"Brighton", b"Hove"))
    edited = ganrt("restore", f"{url}/scans", f"{url}/restored", *FAST, "--format", "jpg",
                   "--report", tmp_path / "edited.json", "-q")
    report = json.loads((tmp_path / "edited.json").read_text())
    assert edited.returncode == 1 and (report["skipped_done"], report["restored"]) == (3, 1)  # the edited caption
    (tmp_path / "captioned.jpg").write_bytes(fs.cat(f"{url.removeprefix('s3://')}/restored/{captioned}"))
    assert b"<rdf:li>Hove</rdf:li>" in read_image(tmp_path / "captioned.jpg").xmp
    made = remote_files(fs, f"{url}/restored")

    down = ganrt("restore", f"{url}/scans", tmp_path / "down", *FAST, "--format", "jpg", "-q")
    assert down.returncode == 1
    originals = remote_files(fs, f"{url}/scans")
    for rel, path in expected.items():
        assert np.abs(decoded((tmp_path / "down" / rel).read_bytes()) - decoded(path.read_bytes())).max() <= 1
        original = originals[rel if rel in originals else rel.removesuffix(".png") + ".png"]
        # dated as the original in the store (whole seconds there), as a local folder's outputs are
        assert abs((tmp_path / "down" / rel).stat().st_mtime - original["LastModified"].timestamp()) < 1, rel

    from ganrt.pipelines.archive.listing import STATE_COPY_NAME
    from ganrt.pipelines.archive.urls import Mirror

    stand_in = Mirror.of(f"{url}/restored", "outputs").local
    shutil.rmtree(stand_in)  # another machine: no job state of its own, only the copy in the OUTPUT
    moved = ganrt("restore", f"{url}/scans", f"{url}/restored", *FAST, "--format", "jpg",
                  "--report", tmp_path / "moved.json", "-q")
    assert moved.returncode == 1, moved.stderr
    report = json.loads((tmp_path / "moved.json").read_text())
    assert (report["skipped_done"], report["restored"]) == (4, 0)
    assert {k: v["LastModified"] for k, v in remote_files(fs, f"{url}/restored").items()} == \
        {k: v["LastModified"] for k, v in made.items()}

    shutil.rmtree(stand_in)
    fs.rm(f"{url.removeprefix('s3://')}/restored/{STATE_COPY_NAME}")  # no job state anywhere: outputs are the user's
    lost = ganrt("restore", f"{url}/scans", f"{url}/restored", *FAST, "--format", "jpg", "-q")
    assert lost.returncode == 1
    assert f"failed: astronaut_77x131.jpg: {url}/restored/astronaut_77x131.jpg already exists and was not written by this job; " \
           "use --overwrite to replace it" in lost.stderr.splitlines()
    assert remote_files(fs, f"{url}/restored")["astronaut_77x131.jpg"]["LastModified"] == made["astronaut_77x131.jpg"]["LastModified"]


@pytest.mark.slow
def test_ray_workers_read_and_write_the_s3_folders(tmp_path, photos, bucket):
    pytest.importorskip("ray")
    url, fs = bucket
    src = make_archive(tmp_path / "in", photos)
    upload_folder(fs, src, f"{url}/scans")
    local = ganrt("restore", src, tmp_path / "local", *FAST, "-q")
    on_ray = ganrt("restore", f"{url}/scans", f"{url}/out", *FAST, "-q", "--ray", "--ray-actors", "2",
                   "--report", tmp_path / "r.json")
    assert on_ray.returncode == local.returncode == 1, on_ray.stderr
    assert on_ray.stderr.splitlines() == local.stderr.splitlines()
    made = remote_files(fs, f"{url}/out")
    expected = {p.relative_to(tmp_path / "local").as_posix(): p for p in (tmp_path / "local").rglob("*.*")
                if not p.name.startswith(".")}
    assert sorted(made) == sorted(expected) and len(made) == 4
    for rel, path in expected.items():
        assert np.abs(decoded(fs.cat(f"{url.removeprefix('s3://')}/out/{rel}")) - decoded(path.read_bytes())).max() <= 1
    again = ganrt("restore", f"{url}/scans", f"{url}/out", *FAST, "-q", "--ray", "--ray-actors", "2",
                  "--report", tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["skipped_done"] == 4


def test_url_mistakes_end_in_one_line(tmp_path, bucket):
    import importlib.util

    url, fs = bucket
    fs.pipe(f"{url.removeprefix('s3://')}/scans/a.png", (Path(__file__).parent.parent / "samples" / "rocket.jpg").read_bytes())
    cases = [
        (("zzz://x/y", tmp_path / "o"), "error: zzz://x/y: Protocol not known: zzz (fsspec does not know this scheme)"),
        ((f"{url}/scans", f"{url}/scans"), "error: OUTPUT is INPUT: originals are never overwritten; choose another folder"),
        ((f"{url}/scans", f"{url}/scans/..x", "--preview", tmp_path / "p.png"),
         "error: --preview reads the restored images back: it needs local (or NFS) folders, not URLs"),
        ((f"{url}/nothing", tmp_path / "o"), f"error: input folder not found: {url}/nothing"),
        (("s3://ganrt-no-such-bucket/x", tmp_path / "o"), "error: input folder not found: s3://ganrt-no-such-bucket/x"),
        ((Path(__file__).parent.parent / "samples" / "rocket.jpg", f"{url}/one"),
         "error: an fsspec URL OUTPUT needs a folder INPUT (one image: download it, or give a local OUTPUT)"),
    ]
    if importlib.util.find_spec("gcsfs") is None:
        cases.append((("gs://b/x", tmp_path / "o"), "error: gs://b/x: Please install gcsfs to access Google Storage"))
    for args, line in cases:
        got = ganrt("restore", *args, *FAST, "-q")
        assert (got.returncode, got.stderr.strip()) == (2, line), args
    got = ganrt("video", f"{url}/film.mkv", tmp_path / "film.mkv", "-q")
    assert (got.returncode, got.stderr.strip()) == (2, "error: ganrt video reads and writes local (or NFS) files: "
                                                       "fetch the video first (fsspec URLs are for image folders)")
    got = ganrt("repair", f"{url}/scans", tmp_path / "r", "--mask-dir", tmp_path, "-q")
    assert (got.returncode, got.stderr.strip()) == (2, "error: --mask-dir pairs masks with local (or NFS) photos; "
                                                       "INPUT is a URL")


def test_repair_between_s3_folders_writes_the_photos_and_masks_of_a_local_run(tmp_path, photos, bucket):
    url, fs = bucket
    src = make_archive(tmp_path / "in", photos)
    upload_folder(fs, src, f"{url}/scans")
    local = ganrt("repair", src, tmp_path / "local", "--save-masks", "--report", tmp_path / "l.json", "-q")
    remote = ganrt("repair", f"{url}/scans", f"{url}/fixed", "--save-masks", "--report", tmp_path / "r.json", "-q")
    assert local.returncode == remote.returncode == 1 and remote.stderr == local.stderr
    want, got = json.loads((tmp_path / "l.json").read_text()), json.loads((tmp_path / "r.json").read_text())
    assert without_timings(got) == without_timings(want)
    made = remote_files(fs, f"{url}/fixed")
    expected = {p.relative_to(tmp_path / "local").as_posix(): p for p in (tmp_path / "local").rglob("*.*")
                if not p.name.startswith(".")}
    assert sorted(made) == sorted(expected) and sum(".mask." in rel for rel in made) == 4
    for rel, path in expected.items():
        assert np.abs(decoded(fs.cat(f"{url.removeprefix('s3://')}/fixed/{rel}")) - decoded(path.read_bytes())).max() <= 1


def test_a_store_without_whole_file_uploads_gets_whole_files_and_no_dead_uploads(tmp_path, photos):
    """A store whose uploads can be seen half-done (ftp, sftp, webdav…; here fsspec's `local://`) gets
    each output under a temporary name, then moved: no temporary name is left, the outputs are a
    local run's. A rerun from another machine resumes from the job state's copy in the store, deletes
    what a killed upload left (an old temporary name) but not an upload that may still be running (a
    fresh one)."""
    import os
    import time

    from ganrt.fsutil import TMP_MARK
    from ganrt.pipelines.archive.listing import STATE_COPY_NAME
    from ganrt.pipelines.archive.urls import Mirror

    src = make_archive(tmp_path / "in", photos)
    store = tmp_path / "store"
    assert ganrt("restore", src, tmp_path / "local", *FAST, "-q").returncode == 1  # the torn JPEG
    first = ganrt("restore", src, f"local://{store}", *FAST, "-q")
    assert first.returncode == 1, first.stderr
    want = {p.relative_to(tmp_path / "local").as_posix(): p for p in (tmp_path / "local").rglob("*.*")
            if not p.name.startswith(".")}
    got = {p.relative_to(store).as_posix(): p for p in store.rglob("*") if p.is_file()}
    assert sorted(got) == sorted([*want, STATE_COPY_NAME])  # nothing under a temporary name
    for rel, path in want.items():
        assert np.abs(decoded(got[rel].read_bytes()) - decoded(path.read_bytes())).max() <= 1, rel

    dead = store / "roll 1" / f".cutout.1a2b3c4d{TMP_MARK}-4194304.png"  # killed between put and move
    dead.write_bytes(b"\x89PNG half")
    an_hour_ago = time.time() - 3600
    os.utime(dead, (an_hour_ago, an_hour_ago))
    running = store / f".astronaut_77x131.5e6f7a8b{TMP_MARK}-4194305.jpg"  # another machine's, in flight
    running.write_bytes(b"\xff\xd8 half")
    written = {rel: got[rel].stat().st_mtime_ns for rel in want}
    shutil.rmtree(Mirror.of(f"local://{store}", "outputs").local)  # rerun on another machine
    plan = ganrt("restore", src, f"local://{store}", *FAST, "--dry-run")
    assert plan.returncode == 0 and "4 already done, 1 to restore, 0 cannot be" in plan.stdout, plan.stdout
    again = ganrt("restore", src, f"local://{store}", *FAST, "--report", tmp_path / "again.json", "-q")
    assert again.returncode == 1, again.stderr
    report = json.loads((tmp_path / "again.json").read_text())
    assert (report["skipped_done"], report["restored"]) == (4, 0)
    assert not dead.exists() and running.exists()
    assert {rel: (store / rel).stat().st_mtime_ns for rel in want} == written


def test_a_rerun_sends_the_copy_what_a_killed_run_here_did_not(tmp_path):
    """A run killed before its last push leaves rows only on this machine; the next run here finds the
    copy behind and pushes it again, even with nothing new to do."""
    from ganrt.pipelines.archive.tasks import Task
    from ganrt.pipelines.archive.state import JobState
    from ganrt.pipelines.archive.listing import STATE_COPY_NAME, Listing, StateCopy
    from ganrt.pipelines.archive.urls import Mirror

    store = tmp_path / "store"
    store.mkdir()
    mirror = Mirror.of(f"local://{store}", "outputs")

    def task(name: str) -> Task:
        return Task(tmp_path / name, name, mirror.local / f"{name}.png", 1, 1)

    def opened() -> JobState:
        state = JobState(mirror.local)
        copy = StateCopy(Listing.of(mirror))
        copy.merge_into(state)
        state.copy = copy
        return state

    with opened() as state:
        state.mark_done(task("a"), "fp", task("a").dst)
    with JobState(mirror.local) as state:  # killed before it pushed: the copy never hears of b
        state.mark_done(task("b"), "fp", task("b").dst)
    seen = JobState(tmp_path / "elsewhere", readonly=True)
    seen.merge_from(store / STATE_COPY_NAME)
    assert seen.lookup("a") is not None and seen.lookup("b") is None
    with opened():
        pass  # nothing to do but open and close
    seen = JobState(tmp_path / "elsewhere", readonly=True)
    seen.merge_from(store / STATE_COPY_NAME)
    assert seen.lookup("b").status == "done"
