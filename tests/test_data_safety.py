"""Data safety: no original destroyed, no output lost, no wrong pixels written silently.

Each test is one of the defects a hostile tester found, typed as a user would type it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_builder import snapshot
from conftest import cli, one_line, wait_for
from ganrt.pipelines.imageio.read import read_image

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]


def rgba(path: Path, photo: np.ndarray, size=(20, 24)) -> Path:
    h, w = size
    arr = np.dstack([photo[:h, :w], np.full((h, w), 200, np.uint8)])
    arr[:4, :4, 3] = 0
    if path.suffix == ".bmp":  # a 32-bit BMP with an alpha mask, as OpenCV writes it
        import cv2

        cv2.imwrite(str(path), arr[..., [2, 1, 0, 3]])
    else:
        Image.fromarray(arr, "RGBA").save(path)
    return path


def rgb(path: Path, photo: np.ndarray, size=(18, 22), **save) -> Path:
    h, w = size
    Image.fromarray(np.ascontiguousarray(photo[:h, :w])).save(path, **save)
    return path


@pytest.fixture()
def photo(photos):
    return photos["astronaut_77x131"]


# --- high: an original or an output is lost --------------------------------------------------------

def test_single_file_alpha_fallback_never_lands_on_the_input(tmp_path, photo):
    src = rgba(tmp_path / "photo.png", photo)
    before = src.read_bytes()
    line = one_line(cli("restore", src, tmp_path / "photo.jpg", *FAST), 2)
    assert "photo.png" in line and "input" in line
    assert src.read_bytes() == before and not (tmp_path / "photo.jpg").exists()
    ok = cli("restore", src, tmp_path / "copy.jpg", *FAST[:-1])  # not quiet: the fallback is said
    assert ok.exit_code == 0 and "writing PNG instead" in ok.output
    assert Image.open(tmp_path / "copy.png").mode == "RGBA" and src.read_bytes() == before


def test_frames_dir_never_replaces_input_frames(tmp_path, photo):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        rgb(frames / f"frame_{i + 1:06d}.png", photo[i:], size=(16, 16))
    before = snapshot(frames)
    line = one_line(cli("video", frames, "--frames-dir", frames, *FAST), 2)
    assert "input folder" in line
    assert one_line(cli("video", frames, "--frames-dir", frames, "--overwrite", *FAST), 2)
    assert snapshot(frames) == before
    # a folder of someone else's numbered frames is not replaced without --overwrite
    other = tmp_path / "other"
    other.mkdir()
    (other / "frame_000001.png").write_bytes(b"a frame from another project")
    assert "did not write" in one_line(cli("video", frames, "--frames-dir", other, *FAST), 2)
    assert (other / "frame_000001.png").read_bytes() == b"a frame from another project"
    done = cli("video", frames, "--frames-dir", other, "--overwrite", *FAST)
    assert done.exit_code == 0, done.output
    assert Image.open(other / "frame_000001.png").size == (64, 64)
    # a rerun into the folder this job wrote is fine without --overwrite
    assert cli("video", frames, "--frames-dir", other, *FAST).exit_code == 0


def outputs_of(dst: Path) -> set[str]:
    return {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file() and not p.name.startswith(".ganrt")}


def state_rows(dst: Path) -> dict[str, str]:
    with sqlite3.connect(dst / ".ganrt-state.sqlite") as db:
        return dict(db.execute("SELECT rel, output FROM images WHERE status='done'").fetchall())


def test_rgba_bmp_beside_png_gets_its_own_output(tmp_path, photo):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgba(src / "a.bmp", photo)
    rgb(src / "a.png", photo[5:])
    result = cli("restore", src, dst, *FAST)
    assert result.exit_code == 0, result.output
    assert outputs_of(dst) == {"a.png", "a.bmp.png"}
    assert state_rows(dst) == {"a.png": "a.png", "a.bmp": "a.bmp.png"}
    assert Image.open(dst / "a.bmp.png").mode == "RGBA" and Image.open(dst / "a.png").mode == "RGB"


def test_alpha_fallback_respects_foreign_files(tmp_path, photo):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    dst.mkdir()
    rgba(src / "pic.png", photo)
    rgb(src / "other.png", photo)
    (dst / "pic.png").write_bytes(b"the user's own file")
    result = cli("restore", src, dst, "--format", "jpg", "--report", tmp_path / "r.json", *FAST)
    assert result.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["path"] for f in report["failures"]] == ["pic.png"] and "--overwrite" in report["failures"][0]["reason"]
    assert (dst / "pic.png").read_bytes() == b"the user's own file" and (dst / "other.jpg").is_file()


def test_colliding_names_each_get_one_output(tmp_path, photo):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgb(src / "a.jpg", photo, quality=95)
    rgb(src / "a.png", photo[3:])
    rgb(src / "a.jpg.png", photo[6:])
    dry = cli("restore", src, dst, "--format", "png", "--dry-run", *FAST[:-1])
    assert dry.exit_code == 0
    targets = [ln.split("→")[1].strip() for ln in dry.output.splitlines() if "→" in ln]
    assert sorted(targets) == ["a.jpg.png", "a.jpg~2.png", "a.png"]
    assert cli("restore", src, dst, "--format", "png", *FAST).exit_code == 0
    assert outputs_of(dst) == {"a.png", "a.jpg.png", "a.jpg~2.png"}
    assert sorted(state_rows(dst).values()) == ["a.jpg.png", "a.jpg~2.png", "a.png"]
    again = cli("restore", src, dst, "--format", "png", "--report", tmp_path / "r.json", *FAST)
    assert again.exit_code == 0 and json.loads((tmp_path / "r.json").read_text())["skipped_done"] == 3


def test_a_second_input_folder_never_writes_over_the_first_ones_outputs(tmp_path, photo):
    """Box 2's IMG_0001.jpg restored into box 1's output folder would replace box 1's IMG_0001.jpg (the job
    state knows photos by name): refused, whole, before any work, dry run too; --overwrite allows it. Box 1
    moved or remounted elsewhere (its old path gone) is the same archive: it resumes."""
    box1, box2, dst = tmp_path / "box1", tmp_path / "box2", tmp_path / "restored"
    box1.mkdir()
    box2.mkdir()
    rgb(box1 / "IMG_0001.jpg", photo, quality=95)
    rgb(box1 / "IMG_0002.jpg", photo[4:], quality=95)
    rgb(box2 / "IMG_0001.jpg", photo[::-1], quality=95)
    assert cli("restore", box1, dst, *FAST).exit_code == 0
    first = photos_in(dst)
    for extra in ((), ("--dry-run",)):
        line = one_line(cli("restore", box2, dst, *FAST, *extra), 2)
        assert line == f"error: {dst} holds the outputs of another input folder, {box1}; give {box2} an output " \
                       "folder of its own (or --overwrite to replace outputs of the same names)"
    assert photos_in(dst) == first
    moved = box1.rename(tmp_path / "box1 on the new drive")
    again = cli("restore", moved, dst, "--report", tmp_path / "r.json", *FAST)
    assert again.exit_code == 0 and json.loads((tmp_path / "r.json").read_text())["skipped_done"] == 2
    assert photos_in(dst) == first
    assert cli("restore", box2, dst, "--overwrite", *FAST).exit_code == 0
    now = photos_in(dst)
    assert now["IMG_0001.jpg"] != first["IMG_0001.jpg"] and now["IMG_0002.jpg"] == first["IMG_0002.jpg"]


def test_the_input_folder_under_another_spelling_is_the_same_input(tmp_path):
    """On a drive that ignores letter case, ~/Scans and ~/scans are one folder; so are a folder and its
    bind mount: the job state compares the folders, not the spellings."""
    from ganrt.errors import UsageError
    from ganrt.pipelines.archive.state import JobState

    box = tmp_path / "box"
    box.mkdir()
    with JobState(tmp_path / "out") as state:
        state.claim_input(f"{box}/.", overwrite=False)  # a spelling resolve() would not give
        state._db.execute("INSERT INTO images VALUES ('a.jpg', 1, 1, 'fp', 'done', 'a.jpg', NULL, 0)")
        state.claim_input(str(box), overwrite=False)
        (tmp_path / "other").mkdir()
        with pytest.raises(UsageError, match="holds the outputs of another input folder"):
            state.claim_input(str(tmp_path / "other"), overwrite=False)


def photos_in(root: Path) -> dict[str, bytes]:
    return {rel: data for rel, data in snapshot(root).items() if not rel.startswith(".")}


def test_names_differing_in_case_get_two_outputs_where_the_output_drive_folds_case(tmp_path, photo):
    """A Linux archive holding IMG.JPG and img.jpg, restored onto exFAT/NTFS/APFS (one name there): the
    second is written as img~2.jpg, not over the first. This machine's file systems keep case, so the
    plan is told to fold it, as its probe of such a drive would."""
    from ganrt.pipelines.archive.walk import discover
    from ganrt.pipelines.archive.state import JobState
    from ganrt.pipelines.archive.plan import OutputPlan, folder_outputs, ignores_case

    src, dst = tmp_path / "in", tmp_path / "out"
    (src / "Roll").mkdir(parents=True)
    for name in ("IMG.JPG", "img.jpg", "Roll/a.png", "Roll/A.png"):
        rgb(src / name, photo)
    dst.mkdir()
    assert not ignores_case(dst) and os.listdir(dst) == []  # the probe leaves nothing behind
    found = discover(src, dst)
    with JobState(dst) as state:
        plan = OutputPlan(input_root=found.src_root, output_root=found.dst_root, owns=state.owns, fold_case=True)
        todo, _skipped, failures, _stale, _kept = folder_outputs(found, state, "fp", plan, resume=True)
        assert failures == []
        assert sorted(t.dst.relative_to(found.dst_root).as_posix() for t in todo) == [
            "IMG.JPG", "Roll/A.png", "Roll/a~2.png", "img~2.jpg"]
        kept = OutputPlan(input_root=found.src_root, output_root=found.dst_root, owns=state.owns)
        assert not kept.fold_case and sorted(t.dst.name for t in folder_outputs(found, state, "fp", kept,
                                                                             resume=True)[0]) == \
            ["A.png", "IMG.JPG", "a.png", "img.jpg"]


def test_report_and_preview_never_replace_inputs(tmp_path, photo):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgb(src / "img01.png", photo)
    tif = src / "img03.tif"
    Image.fromarray(photo[:16, :16]).save(tif)
    before = snapshot(src)
    for extra in (["--report", src / "img03.json"], ["--preview", src / "sheet.png"], ["--report", tif]):
        line = one_line(cli("restore", src, dst, *extra, *FAST), 2)
        assert "input" in line or ".json" in line
    assert snapshot(src) == before
    # a report of an earlier run is replaced without --overwrite; a foreign file is not
    report = tmp_path / "report.json"
    assert cli("restore", src, dst, "--report", report, *FAST).exit_code == 0
    assert cli("restore", src, dst, "--report", report, *FAST).exit_code == 0
    big = json.loads(report.read_text())  # a report rewritten since (megabytes of it): the user's now, kept
    big["failures"] = [{"path": f"roll {i}/scan {i}.tif", "reason": "corrupt or truncated image"} for i in range(40000)]
    report.write_text(json.dumps(big, indent=2))
    assert report.stat().st_size > 2 << 20
    assert "already exists" in one_line(cli("restore", src, dst, "--report", report, *FAST), 2)
    assert cli("restore", src, dst, "--report", report, "--overwrite", *FAST).exit_code == 0
    sheet = tmp_path / "report.csv"  # a spreadsheet of the failed and ignored files, replaced on a rerun too
    (src / "torn, 1962.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (src / "été.txt").write_text("inventory")
    for _ in range(2):
        assert cli("restore", src, dst, "--report", sheet, *FAST).exit_code == 1
    assert sheet.read_bytes().decode("utf-8-sig").splitlines() == [
        "path,outcome,reason", '"torn, 1962.png",failed,not an image (unrecognised file contents)',
        "été.txt,ignored,not an image file type"]
    assert sheet.read_bytes().startswith(b"\xef\xbb\xbf")  # the mark Excel reads UTF-8 names by
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    assert "already exists" in one_line(cli("restore", src, dst, "--report", notes, *FAST), 2)
    assert notes.read_text() == '{"mine": true}'
    table = tmp_path / "inventory.csv"
    table.write_text("path,box,shelf\n")
    assert "already exists" in one_line(cli("restore", src, dst, "--report", table, *FAST), 2)
    assert table.read_text() == "path,box,shelf\n"


# --- medium: wrong or partial results that look like success ----------------------------------------

def damage(path: Path, dest: Path) -> Path:
    data = bytearray(path.read_bytes())
    at = len(data) // 3
    data[at:at + 1500] = bytes((b * 7 + 13) % 256 for b in data[at:at + 1500])
    dest.write_bytes(bytes(data))
    return dest


def test_corrupt_stretch_in_a_video_is_decoded_past_not_truncated(tmp_path):
    from test_video import make_video

    from ganrt.pipelines.video.ffmpeg import audio_seconds, count_video_packets

    damaged = damage(make_video(tmp_path / "clip.mp4", seconds=1.84, fps=25, size="48x32"), tmp_path / "bad.mp4")
    out = tmp_path / "out.mkv"
    result = cli("video", damaged, out, *FAST[:-1])
    assert result.exit_code == 0, result.output
    assert count_video_packets(out) == 46  # every frame of the 1.84 s, not the 15 OpenCV could read
    assert "decoding error" in result.output
    assert abs(audio_seconds(out) - audio_seconds(damaged)) < 0.05  # the audio the damage left, all of it


def test_a_video_that_cannot_be_decoded_to_its_end_fails_loudly(tmp_path):
    from test_video import make_video

    damaged = damage(make_video(tmp_path / "clip.mkv", seconds=1.84, fps=25, size="48x32"), tmp_path / "bad.mkv")
    out = tmp_path / "out.mkv"
    line = one_line(cli("video", damaged, out, *FAST), 1)  # its clusters are broken: ffmpeg stops early
    assert "damaged" in line and "of its 46 frames" in line
    assert not out.exists()


def test_variable_frame_rate_fills_the_timeline(tmp_path):
    from ganrt.pipelines.video.ffmpeg import audio_seconds, count_video_packets, ffmpeg_exe

    src = tmp_path / "vfr.mkv"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=48x32:rate=25:duration=2.02", "-f", "lavfi", "-i", "sine=d=2.02",
                    "-vf", "select='not(between(n,10,30))'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(src)], check=True)
    assert count_video_packets(src) == 30  # 30 frames over 2.02 s, with a 0.84 s gap
    out = tmp_path / "out.mkv"
    assert cli("video", src, out, *FAST).exit_code == 0
    assert abs(count_video_packets(out) / 25 - audio_seconds(out)) < 0.05  # video as long as its audio


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime", "torch"])
def test_corrupted_cache_files_are_rebuilt_not_trusted(tmp_path, monkeypatch, photo, backend):
    monkeypatch.setenv("GANRT_CACHE", str(tmp_path / "cache"))
    src = rgb(tmp_path / "p.png", photo, size=(24, 32))
    args = ["-m", "realesr-animevideov3", "--backend", backend, "--device", "cpu", "--precision", "fp32", "-q"]
    assert cli("restore", src, tmp_path / "ref.png", *args).exit_code == 0
    cache = tmp_path / "cache"
    targets = {"openvino": "openvino/*.blob", "onnxruntime": "onnx/*.onnx", "torch": "models/*.safetensors"}
    (victim,) = cache.glob(targets[backend])
    data = bytearray(victim.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(255 - b for b in data[mid:mid + 4096])  # 4 KB flipped, same size
    victim.write_bytes(bytes(data))
    result = cli("restore", src, tmp_path / "again.png", *args[:-1])
    assert result.exit_code == 0 and "rebuilding" in result.output
    ref, again = np.asarray(Image.open(tmp_path / "ref.png")), np.asarray(Image.open(tmp_path / "again.png"))
    assert np.abs(ref.astype(int) - again).max() <= 1
    if backend == "onnxruntime":  # a truncated graph is rebuilt too
        victim.write_bytes(victim.read_bytes()[:1000])
        assert cli("restore", src, tmp_path / "third.png", *args).exit_code == 0


def test_a_wrong_shaped_guard_file_is_measured_again(tmp_path, monkeypatch):
    from ganrt.runtime.choice import _guard_path, _read_verdicts

    monkeypatch.setenv("GANRT_CACHE", str(tmp_path / "cache"))
    path = _guard_path()
    for content in ('["not", "a", "mapping"]', '{"k": 3}', '{"k": {"ok": "yes"}}', "{trunc"):
        path.write_text(content)
        assert _read_verdicts(path) == {}


def test_one_bad_entry_never_stops_the_archive(tmp_path, photo):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgb(src / "good.png", photo)
    raw = os.fsencode(src) + b"/caf\xe9.png"  # Latin-1 name: not valid UTF-8
    rgb(Path(os.fsdecode(raw)), photo[4:])
    os.symlink("loop.jpg", src / "loop.jpg")  # a link to itself
    fd = os.open(src, os.O_RDONLY)  # a folder deeper than PATH_MAX (4096), made one level at a time
    for _ in range(22):
        os.mkdir("d" * 200, dir_fd=fd)
        nxt = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    result = cli("restore", src, dst, "--report", tmp_path / "r.json", *FAST)
    assert "internal error" not in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["restored"] == 2  # good.png and the Latin-1 name
    reasons = {f["path"]: f["reason"] for f in report["failures"]}
    assert "link loop" in reasons["loop.jpg"]
    assert any("longer than" in r for r in reasons.values())
    assert (dst / "good.png").is_file() and os.path.exists(os.fsencode(dst) + b"/caf\xe9.png")
    assert result.exit_code == 1


def test_output_folder_that_is_not_utf8_is_written(tmp_path, photo):
    src = rgb(tmp_path / "p.png", photo)
    folder = os.fsencode(tmp_path) + b"/r\xe9sultats"
    os.mkdir(folder)
    code = ("import sys; from ganrt.cli import main; sys.argv = ['ganrt', 'restore', sys.argv[1], sys.argv[2]] "
            "+ sys.argv[3:]; main()")
    out = subprocess.run([sys.executable, "-c", code, str(src), os.fsdecode(folder + b"/out.jpg"), *FAST],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr  # was a segfault (139) inside OpenCV
    assert os.listdir(folder) == [b"out.jpg"]  # no temporary leftovers
    assert Image.open(os.fsdecode(folder + b"/out.jpg")).size == (88, 72)


@pytest.mark.parametrize("value", ["10000", "-1", "0"])
def test_threads_are_bounded(tmp_path, photo, value):
    src = rgb(tmp_path / "p.png", photo)
    assert "--threads" in one_line(cli("restore", src, tmp_path / "o.png", "--threads", value, *FAST), 2)


def test_model_files_are_not_trusted_for_size(tmp_path, photo, load):
    import torch

    src = rgb(tmp_path / "p.png", photo)
    huge = torch.zeros(1).expand(64, 64, 3, 3000)  # stride 0: 37 M values stored in 4 bytes
    crafted = tmp_path / "crafted.pth"
    torch.save({"body.0.weight": huge, "body.0.bias": torch.zeros(64)}, crafted)
    assert crafted.stat().st_size < 4000
    line = one_line(cli("restore", src, tmp_path / "o.png", "-m", crafted), 1)
    assert "claims" in line and "crafted" in line
    state = {k: v.clone() for k, v in load("realesr-animevideov3").module.state_dict().items()}
    last = max(int(k.split(".")[1]) for k in state)  # the last conv: 3·scale² outputs, here ×20
    state[f"body.{last}.weight"] = state[f"body.{last}.weight"][:3].repeat(400, 1, 1, 1)
    state[f"body.{last}.bias"] = state[f"body.{last}.bias"][:3].repeat(400)
    wide = tmp_path / "x20.pth"
    torch.save(state, wide)
    assert "sane upscaling factor" in one_line(cli("restore", src, tmp_path / "o.png", "-m", wide), 1)


# --- low: each a promise ------------------------------------------------------------------------

def test_user_caused_conditions_get_their_own_line(tmp_path, photo):
    src = rgb(tmp_path / "p.png", photo)
    folder = tmp_path / "in"
    folder.mkdir()
    rgb(folder / "a.png", photo)
    # a damaged job-state database
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / ".ganrt-state.sqlite").write_bytes(b"this is not a database" * 100)
    assert "damaged" in one_line(cli("restore", folder, dst, *FAST), 2)
    # an output path that is a folder (folder mode: that image fails with the reason)
    dst2 = tmp_path / "out2"
    (dst2 / "a.png").mkdir(parents=True)
    result = cli("restore", folder, dst2, "--report", tmp_path / "r.json", *FAST)
    assert result.exit_code == 1 and "is a folder" in json.loads((tmp_path / "r.json").read_text())["failures"][0]["reason"]
    # an over-long file name
    line = one_line(cli("restore", src, tmp_path / ("x" * 300 + ".png"), *FAST), 2)
    assert "too long" in line
    # a read-only output folder (a file where the folder should be: unwritable even for root)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    assert "error:" in one_line(cli("restore", src, blocker / "o.png", *FAST), 2)


def test_disk_full_is_named():
    from ganrt.errors import ResourceError, from_os_error

    with pytest.raises(OSError) as info, open("/dev/full", "wb") as fh:
        fh.write(b"x")
        fh.flush()
    err = from_os_error(info.value, "writing out/a.png")
    assert isinstance(err, ResourceError) and "disk full" in str(err) and err.exit_code == 3


def test_read_only_cache_falls_back_with_a_warning(tmp_path, monkeypatch, photo):
    blocker = tmp_path / "cache-file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GANRT_CACHE", str(blocker))
    src = rgb(tmp_path / "p.png", photo)
    result = cli("restore", src, tmp_path / "o.png", *FAST[:-1])
    assert result.exit_code == 0 and "cannot be written" in result.output


def test_cmyk_profile_is_not_copied_onto_rgb(tmp_path, photo, caplog):
    from archive_builder import SRGB_ICC

    cmyk_icc = SRGB_ICC[:16] + b"CMYK" + SRGB_ICC[20:]  # the header's colour space field
    src = tmp_path / "scan.jpg"
    Image.fromarray(photo[:20, :20]).convert("CMYK").save(src, icc_profile=cmyk_icc)
    result = cli("restore", src, tmp_path / "o.jpg", *FAST[:-1])
    assert result.exit_code == 0 and "CMYK" in result.output
    assert Image.open(tmp_path / "o.jpg").info.get("icc_profile") is None


def test_a_lab_scan_is_colour_without_an_alpha_channel(tmp_path, photo):
    """A CIELAB TIFF (Pillow's mode "LAB", bands L, A, B) is colour to restore, not colour plus alpha: it
    goes into a JPEG as asked, opaque, and its colours are the photo's."""
    src = tmp_path / "lab.tif"
    Image.fromarray(photo[:16, :20]).convert("LAB").save(src)
    result = cli("restore", src, tmp_path / "lab.jpg", *FAST)
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "lab.jpg")
    assert out.mode == "RGB" and out.size == (80, 64)
    small = np.asarray(out.resize((20, 16), Image.BOX)).astype(int)
    assert np.abs(small - photo[:16, :20]).mean() < 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.jpg", "lab.tif"]


def test_float_and_32_bit_tiffs_keep_their_picture(tmp_path, photo):
    """TIFFs of floating-point samples (0–1, as float images hold them, or 0–255) and of 32-bit integers are
    restored to 16-bit pictures of the photo, not the black (0–1 cut to integers) or white (32-bit values
    clipped) images they gave; NaN is black; floats far beyond 0–65535 (HDR) fail in one line."""
    import cv2
    import tifffile

    gray = photo[:16, :20].mean(axis=2)
    cases = {"unit.tif": (gray / 255).astype(np.float32), "byte-range.tif": gray.astype(np.float32),
             "half.tif": (photo[:16, :20] / 255.0).astype(np.float16),
             "wide.tif": (gray * 65793).astype(np.uint32)}  # 24-bit values in 32-bit samples
    for name, arr in cases.items():
        tifffile.imwrite(tmp_path / name, arr, photometric="rgb" if arr.ndim == 3 else "minisblack")
        out = tmp_path / f"{name}.png"
        result = cli("restore", tmp_path / name, out, *FAST)
        assert result.exit_code == 0, (name, result.output)
        got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert got.dtype == np.uint16, name
        small = cv2.resize(got, (20, 16), interpolation=cv2.INTER_AREA).astype(float) / 257
        want = photo[:16, :20][..., ::-1] if arr.ndim == 3 else gray  # OpenCV reads BGR
        assert np.abs(small - want).mean() < 12, name
    nan = np.full((16, 20), 0.5, np.float32)
    nan[:4] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", nan)
    assert cli("restore", tmp_path / "nan.tif", tmp_path / "nan.png", *FAST).exit_code == 0
    got = cv2.imread(str(tmp_path / "nan.png"), cv2.IMREAD_UNCHANGED)
    assert got[:8].mean() < got[-8:].mean() and abs(got[-8:].mean() / 65535 - 0.5) < 0.05
    tifffile.imwrite(tmp_path / "hdr.tif", np.full((16, 20), 1e5, np.float32))
    hdr = cli("restore", tmp_path / "hdr.tif", tmp_path / "hdr.png", *FAST)
    assert hdr.exit_code == 1 and "HDR" in hdr.output and "Traceback" not in hdr.output
    assert not (tmp_path / "hdr.png").exists()


def test_16_bit_tiffs_of_separate_planes_or_cmyk_stay_16_bit(tmp_path, photo):
    """RGB and alpha stored plane after plane (PlanarConfiguration 2), 16 bits each: Pillow decodes them to 8
    bits and OpenCV to garbage; they are read at 16 bits, and restored into a 16-bit PNG with their alpha.
    16-bit CMYK, which OpenCV refused as 'corrupt', is read and turned to RGB as Pillow turns 8-bit CMYK."""
    import cv2
    import tifffile

    colour = photo[:16, :20].astype(np.uint16) * 257 + 100  # low bits an 8-bit read would lose
    planes = np.concatenate([np.moveaxis(colour, -1, 0), np.full((1, 16, 20), 40000, np.uint16)])
    src = tmp_path / "planes.tif"
    tifffile.imwrite(src, planes, photometric="rgb", planarconfig="separate", extrasamples=("unassalpha",))
    decoded = read_image(src)
    assert np.array_equal(decoded.pixels, colour) and np.array_equal(decoded.alpha, np.full((16, 20), 40000))
    result = cli("restore", src, tmp_path / "out.png", *FAST)
    assert result.exit_code == 0, result.output
    got = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16 and got.shape == (64, 80, 4) and (got[..., 3] == 40000).all()
    small = cv2.resize(got[..., 2::-1], (20, 16), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(small - colour).mean() < 12 * 257
    ink = np.asarray(Image.fromarray(photo[:16, :20]).convert("CMYK")).astype(np.uint16) * 257  # prepress scans
    tifffile.imwrite(tmp_path / "ink.tif", ink, photometric="separated")
    assert np.array_equal(read_image(tmp_path / "ink.tif").pixels, photo[:16, :20].astype(np.uint16) * 257)
    assert cli("restore", tmp_path / "ink.tif", tmp_path / "ink.png", *FAST).exit_code == 0  # OpenCV refused it


def test_an_output_beyond_its_formats_size_limit_fails_before_any_work(tmp_path, photo):
    """A 4,100 px wide WebP upscaled ×4 would be 16,400 px wide, beyond WebP's 16,383: the image fails in one
    line that says so and what to do, before inference (it was an 'internal error' after it); a JPEG beyond
    65,500 px likewise (it was 'OpenCV could not encode'); the other images of the folder are restored."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.tile(photo[:8, :40], (1, 103, 1))[:, :4100]).save(src / "panorama.webp", lossless=True)
    rgb(src / "small.png", photo)
    result = cli("restore", src, tmp_path / "out", *FAST[:-1], "--report", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    assert ("failed: panorama.webp: the output would be 16400x32; .webp holds at most 16,383 pixels a side: use "
            "--format png or tiff, or a smaller --outscale") in " ".join(result.output.split())
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["small.png"]
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((4, 16400, 3), np.uint8)).save(wide)
    one = cli("restore", wide, tmp_path / "wide.jpg", *FAST)
    assert one.exit_code == 1 and "the output would be 65600x16; .jpg holds at most 65,500" in " ".join(one.output.split())
    assert "internal error" not in one.output and not (tmp_path / "wide.jpg").exists()
    assert cli("restore", src / "panorama.webp", tmp_path / "p.png", *FAST).exit_code == 0  # as PNG it fits


def test_multi_page_tiff_keeps_its_pages_and_gray_alpha_stays_gray_alpha(tmp_path, photo):
    pages = [Image.fromarray(photo[i:i + 16, :16]) for i in range(3)]
    tif = tmp_path / "pages.tif"
    pages[0].save(tif, save_all=True, append_images=pages[1:])
    result = cli("restore", tif, tmp_path / "o.tif", *FAST[:-1])
    assert result.exit_code == 0 and "only the first" not in result.output, result.output
    with Image.open(tmp_path / "o.tif") as out:
        assert (out.n_frames, out.size) == (3, (64, 64))
    as_png = cli("restore", tif, tmp_path / "o.png", *FAST[:-1])  # a PNG holds one page, and says so
    assert as_png.exit_code == 0 and "holds 3 pages/frames; only the first is restored" in as_png.output
    la = tmp_path / "la.png"
    Image.fromarray(np.dstack([photo[:16, :16, 0], np.full((16, 16), 128, np.uint8)]), "LA").save(la)
    assert cli("restore", la, tmp_path / "la_out.png", *FAST).exit_code == 0
    assert Image.open(tmp_path / "la_out.png").mode == "LA"


def test_frames_dir_resumes_after_a_kill_and_leaves_no_temp_files(tmp_path):
    import signal

    from test_video import make_video

    src = make_video(tmp_path / "clip.mkv", seconds=10, fps=10, size="32x24", audio=False)
    frames = tmp_path / "frames"
    cmd = [sys.executable, "-m", "ganrt", "video", str(src), "--frames-dir", str(frames), *FAST]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: len(list(frames.glob("frame_*.png"))) >= 45, 120, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = json.loads((frames / ".ganrt-work/state.json").read_text())
    assert state["done"].get("0") == 40  # the first 4-second segment survived
    resumed = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and "resuming" in resumed.stderr
    assert sorted(p.name for p in frames.iterdir() if p.name != ".ganrt-work") == \
        [f"frame_{i:06d}.png" for i in range(1, 101)]


def test_stale_temp_files_of_dead_runs_are_removed(tmp_path, photo):
    src = rgb(tmp_path / "p.png", photo)
    out = tmp_path / "out"
    out.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        dead = out / ".o.abc123.ganrt-tmp-999999999.png"  # no such process
        live = out / f".o.def456.ganrt-tmp-{sleeper.pid}.png"  # another run still writing
        dead.write_bytes(b"half")
        live.write_bytes(b"busy")
        assert cli("restore", src, out / "o.png", *FAST).exit_code == 0
        assert not dead.exists() and live.exists()
    finally:
        sleeper.kill()


def test_failed_video_runs_leave_no_work_folder_and_runs_do_not_share_one(tmp_path):
    from test_video import make_video

    from ganrt.pipelines.video.output import JobState

    src = make_video(tmp_path / "clip.mkv", seconds=1, size="32x24")
    out = tmp_path / "out.mkv"
    refused = cli("video", src, out, "--codec", "libx264", "--crf", "-5", *FAST)  # before any work
    assert "refuses these settings: Value -5" in one_line(refused, 2)
    frames = tmp_path / "frames"  # a frame folder whose fifth frame is of another size: fails mid-run
    frames.mkdir()
    for i in range(8):
        Image.fromarray(np.full((24, 32 if i != 4 else 30, 3), 30 * i, np.uint8)).save(frames / f"{i:03d}.png")
    assert "frame 004.png is 30x24" in one_line(cli("video", frames, out, *FAST), 1)
    assert not (tmp_path / ".out.mkv.ganrt-work").exists() and not out.exists()
    state, _ = JobState.open(tmp_path / ".out.mkv.ganrt-work", "x", 40)  # another run holds the output
    try:
        assert "another ganrt run" in one_line(cli("video", src, out, *FAST), 2)
    finally:
        state.close(remove=True)


def test_names_ffmpeg_could_misread_and_fifos(tmp_path):
    from test_video import make_video

    from ganrt.pipelines.video.ffmpeg import count_video_packets

    src = make_video(tmp_path / "concat:a.mkv", seconds=0.5, size="32x24")
    out = tmp_path / "http:out.mkv"
    assert cli("video", src, out, *FAST).exit_code == 0
    assert count_video_packets(out) == 5
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    assert "not a regular file" in one_line(cli("video", fifo, tmp_path / "o.mkv", *FAST), 2)
    model_fifo = tmp_path / "model.pth"
    os.mkfifo(model_fifo)
    src_img = rgb(tmp_path / "p.png", np.zeros((8, 8, 3), np.uint8))
    assert "not a regular file" in one_line(cli("restore", src_img, tmp_path / "o.png", "-m", model_fifo), 2)


def test_preview_of_a_strip_and_huge_outputs_and_big_exif(tmp_path, photo, caplog):
    from ganrt.errors import ResourceError
    from ganrt.pipelines.restore import check_memory_for_output

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.repeat(photo[:1, :, :], 1, axis=0)[:, :120].repeat(1, axis=1)).save(folder / "strip.png")
    sheet = tmp_path / "sheet.png"
    assert cli("restore", folder, tmp_path / "out", "--preview", sheet, *FAST).exit_code == 0
    assert Image.open(sheet).width <= 2 * 1600 + 10
    with pytest.raises(ResourceError, match="needs .* GB"):
        check_memory_for_output(100_000, 100_000, 4, 3, 1)
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000  # ImageDescription: more than one JPEG segment holds
    big = tmp_path / "big_exif.png"
    Image.fromarray(photo[:16, :16]).save(big, exif=exif.tobytes())
    result = cli("restore", big, tmp_path / "o.jpg", *FAST[:-1])
    assert result.exit_code == 0 and "without EXIF" in result.output


@pytest.mark.parametrize("flag,value", [("--fps", "nan"), ("--fps", "inf"), ("--outscale", "nan")])
def test_not_a_number_is_refused(tmp_path, flag, value):
    from test_video import make_video

    src = make_video(tmp_path / "clip.mkv", seconds=0.5, size="32x24")
    assert flag in one_line(cli("video", src, tmp_path / "o.mkv", flag, value, *FAST), 2)
