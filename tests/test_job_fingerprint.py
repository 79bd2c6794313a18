"""One fingerprint for every job: what an engine resolves to (its precision after ``auto``, its tile) decides
whether a rerun redoes a photo, for `repair --then` exactly as for `restore`."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from conftest import cli

ENGINE = ["--backend", "torch", "--device", "cpu", "--precision", "auto", "-q"]


@pytest.fixture
def folder(tmp_path, photos):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photos["chelsea_45x59"][:24, :32]).save(src / "a.png")
    Image.fromarray(photos["coffee_61x93"][:24, :32]).save(src / "b.png")
    return src


def machine_where_auto_means(monkeypatch, precision: str) -> None:
    """This CPU as one whose ``auto`` resolves to ``precision`` on the torch backend: with bf16 matrix instructions
    and a model that passes the bf16 fidelity guard, or without them (the policy itself runs unchanged)."""
    import ganrt.runtime.choice as choice

    monkeypatch.setattr(choice, "cpu_has_bf16", lambda: precision == "bf16")
    monkeypatch.setattr(choice, "bf16_passes_guard", lambda model, backend, threads=None: True)


def redone(src, dst, report, *args) -> int:
    result = cli(*args[:1], src, dst, *args[1:], *ENGINE, "--report", report)
    assert result.exit_code == 0, result.output
    return json.loads(report.read_text())["restored"]


@pytest.mark.parametrize("command", [["restore", "-m", "realesr-animevideov3"],
                                     ["repair", "--then", "realesr-animevideov3"]], ids=["restore", "repair-then"])
def test_a_rerun_redoes_the_photos_when_the_resolved_tile_or_precision_changes(tmp_path, folder, monkeypatch, command):
    out, report = tmp_path / "out", tmp_path / "report.json"
    machine_where_auto_means(monkeypatch, "fp32")
    assert redone(folder, out, report, *command, "--tile", "0") == 2
    assert redone(folder, out, report, *command, "--tile", "0") == 0  # the same settings: nothing redone
    assert redone(folder, out, report, *command, "--tile", "16") == 2  # another tile
    machine_where_auto_means(monkeypatch, "bf16")  # the same command, where `auto` now means bf16
    assert redone(folder, out, report, *command, "--tile", "16") == 2
    settings = json.loads(report.read_text())["settings"]
    assert (settings["then"] if command[0] == "repair" else settings)["precision"] == "bf16"
    assert redone(folder, out, report, *command, "--tile", "16") == 0
