"""Repair masks and job ownership, tried as a careless or hostile user would: a mask is never a photo or an output,
an ambiguous one is a failure row, an implausible one is warned, an edited one redoes its photo; `repair` never
replaces `restore`'s outputs in silence; a report file is ganrt's only when its job state says so."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from archive_builder import snapshot
from conftest import cli, one_line

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]


@pytest.fixture
def album(tmp_path, photos):
    """Two photos (48 × 64) and a mask for each: a scratch across a.png, a few specks on b.jpg."""
    src, masks = tmp_path / "in", tmp_path / "masks"
    src.mkdir()
    masks.mkdir()
    Image.fromarray(photos["astronaut_77x131"][:48, :64]).save(src / "a.png")
    Image.fromarray(photos["coffee_61x93"][:48, :64]).save(src / "b.jpg", quality=95)
    scratch = np.zeros((48, 64), np.uint8)
    scratch[20:23, :] = 255
    specks = np.zeros((48, 64), np.uint8)
    specks[5:8, 5:8] = specks[30:33, 40:43] = 255
    Image.fromarray(scratch).save(masks / "a.png")
    Image.fromarray(specks).save(masks / "b.png")
    return src, masks


def changed_pixels(before, after) -> float:
    """The share of pixels visibly changed (more than 40 levels: a JPEG's re-encoding is not a change)."""
    a, b = np.asarray(Image.open(before)).astype(int), np.asarray(Image.open(after)).astype(int)
    return float((np.abs(a - b).max(axis=-1) > 40).mean())


def test_an_earlier_save_masks_folder_gives_its_masks_not_its_photos(tmp_path, album):
    src, _ = album
    first = cli("repair", src, tmp_path / "first", "--save-masks", "-q")
    assert first.exit_code == 0, first.output
    assert (tmp_path / "first" / "a.png").is_file() and (tmp_path / "first" / "a.mask.png").is_file()
    again = cli("repair", src, tmp_path / "again", "--mask-dir", tmp_path / "first", "--report",
                tmp_path / "r.json", "-q")
    assert again.exit_code == 0, again.output
    for name in ("a.png", "b.jpg"):  # the repaired photo a.png is an output of the first job: never a mask
        assert changed_pixels(src / name, tmp_path / "again" / name) < 0.2


def test_a_photos_own_folder_as_mask_dir_never_reads_the_photo_as_its_mask(tmp_path, album):
    src, _ = album
    line = one_line(cli("repair", src / "a.png", tmp_path / "out.png", "--mask-dir", src), 1)
    assert "no mask for it" in line and not (tmp_path / "out.png").exists()


def test_two_possible_masks_are_a_failure_row_naming_both(tmp_path, album):
    src, masks = album
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(masks / "a.mask.png")
    result = cli("repair", src, tmp_path / "out", "--mask-dir", masks, "--report", tmp_path / "r.json", "-q")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["failures"] == [{"path": "a.png", "reason": report["failures"][0]["reason"]}]
    assert "a.png" in report["failures"][0]["reason"] and "a.mask.png" in report["failures"][0]["reason"]
    assert not (tmp_path / "out" / "a.png").exists() and (tmp_path / "out" / "b.jpg").exists()


@pytest.mark.parametrize("fill, share", [(255, 100), ("inverted", 88)])
def test_an_implausible_mask_is_warned_in_the_report_and_summary(tmp_path, album, fill, share):
    src, masks = album
    if fill == "inverted":
        inverted = np.full((48, 64), 255, np.uint8)
        inverted[20:23, :] = 0
        inverted[5:8, :] = 0
        Image.fromarray(inverted).save(masks / "a.png")
    else:
        Image.fromarray(np.full((48, 64), fill, np.uint8)).save(masks / "a.png")
    result = cli("repair", src, tmp_path / "out", "--mask-dir", masks, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "outputs with warnings" in result.output
    warnings = json.loads((tmp_path / "r.json").read_text())["warnings"]
    assert [w["path"] for w in warnings] == ["a.png"] and f"{share} %" in warnings[0]["note"]
    assert "inverted" in warnings[0]["note"]


def test_a_mask_that_marks_nothing_is_warned(tmp_path, album):
    src, masks = album
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(masks / "b.png")
    result = cli("repair", src, tmp_path / "out", "--mask-dir", masks, "--report", tmp_path / "r.json", "-q")
    assert result.exit_code == 0, result.output
    warnings = json.loads((tmp_path / "r.json").read_text())["warnings"]
    assert warnings == [{"path": "b.jpg", "note": "its mask marks nothing (white = damaged): the photo is written "
                                                  "unrepaired"}]


def test_an_edited_mask_redoes_its_photo_on_the_rerun(tmp_path, album):
    src, masks = album
    out = tmp_path / "out"
    assert cli("repair", src, out, "--mask-dir", masks, "-q").exit_code == 0
    before = {name: (out / name).read_bytes() for name in ("a.png", "b.jpg")}
    wider = np.zeros((48, 64), np.uint8)
    wider[10:30, :] = 255
    Image.fromarray(wider).save(masks / "a.png")
    stamp = (masks / "a.png").stat().st_mtime_ns + 2_000_000_000
    os.utime(masks / "a.png", ns=(stamp, stamp))
    rerun = cli("repair", src, out, "--mask-dir", masks, "--report", tmp_path / "r.json", "-q")
    assert rerun.exit_code == 0, rerun.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["restored"], report["skipped_done"]) == (1, 1)
    assert (out / "a.png").read_bytes() != before["a.png"]  # redone with the edited mask
    assert (out / "b.jpg").read_bytes() == before["b.jpg"]  # untouched: its mask did not change


def peak_mb(*args) -> tuple[int, float]:
    """(exit code, peak resident memory in MB) of ``ganrt ARGS`` in a process of its own."""
    import subprocess
    import sys

    probe = ("import resource, runpy, sys\nsys.argv = ['ganrt', *sys.argv[1:]]\ncode = 0\ntry:\n"
             "    runpy.run_module('ganrt', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
             "print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True)
    code, kb = done.stdout.split()[-2:]
    return int(code), int(kb) / 1024


def test_a_huge_mask_header_is_refused_before_it_is_decoded(tmp_path, album):
    """A 200 KB mask declaring 14000 × 14000 pixels (196 MB decoded) for a 64 × 48 photo."""
    import subprocess
    import sys

    src, masks = album
    code, usual = peak_mb("repair", src, tmp_path / "fine", "--mask-dir", masks, "-q")
    assert code == 0
    made = subprocess.run([sys.executable, "-c", "import sys; from PIL import Image; Image.new('L', (14000, 14000))"
                           ".save(sys.argv[1], optimize=True)", str(masks / "a.png")])  # its own process: a
    assert made.returncode == 0  # fork of this one would carry 196 MB into the measured command's peak
    code, peak = peak_mb("repair", src, tmp_path / "out", "--mask-dir", masks, "--report", tmp_path / "r.json", "-q")
    assert code == 1
    failures = json.loads((tmp_path / "r.json").read_text())["failures"]
    assert failures[0]["path"] == "a.png" and "14000x14000" in failures[0]["reason"]
    assert peak - usual < 60, (usual, peak)  # not decoded


def test_repair_into_a_restore_output_is_refused_without_overwrite(tmp_path, album):
    src, _ = album
    out = tmp_path / "out"
    assert cli("restore", src, out, *FAST).exit_code == 0
    before = snapshot(out)
    line = one_line(cli("repair", src, out, "-q"), 2)
    assert "ganrt restore" in line and "--overwrite" in line
    assert snapshot(out) == before
    assert cli("repair", src, out, "--overwrite", "-q").exit_code == 0
    assert Image.open(out / "a.png").size == (64, 48)  # replaced, as asked: repair keeps the size
    line = one_line(cli("restore", src, out, *FAST), 2)  # and the other way round
    assert "ganrt repair" in line


def test_a_users_csv_with_the_reports_header_is_not_replaced(tmp_path, album):
    src, _ = album
    mine = tmp_path / "mine.csv"
    mine.write_text("path,outcome,reason\nbox 3/IMG_0001.jpg,to check,my own notes\n")
    line = one_line(cli("restore", src, tmp_path / "out", *FAST, "--report", mine), 2)
    assert "mine.csv" in line and "--overwrite" in line
    assert "my own notes" in mine.read_text() and not (tmp_path / "out" / "a.png").exists()
    report = tmp_path / "report.csv"
    assert cli("restore", src, tmp_path / "out", *FAST, "--report", report).exit_code == 0
    assert cli("restore", src, tmp_path / "out", *FAST, "--report", report).exit_code == 0  # its own: replaced
    report.write_text(report.read_text() + "my note\n")  # edited by the user: now theirs
    assert "--overwrite" in one_line(cli("restore", src, tmp_path / "out", *FAST, "--report", report), 2)
