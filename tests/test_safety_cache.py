"""The cache, tried as a careless or hostile user would: `ganrt cache --clean` deletes only what ganrt made,
and a model file's metadata never names a path outside the cache."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file, save_file

from conftest import cli

FAST = ["-m", "realesr-animevideov3", "--backend", "onnxruntime", "--device", "cpu", "--precision", "fp32", "-q"]


@pytest.fixture
def own_cache(tmp_path, monkeypatch, photos):
    """GANRT_CACHE pointed at a folder of the user's own, which ganrt then uses: a model converted into it."""
    from PIL import Image

    root = tmp_path / "home"
    (root / "mine").mkdir(parents=True)
    (root / "mine" / "thesis.tex").write_text("years of work")
    (root / "models").mkdir()
    (root / "models" / "my-finetune.safetensors").write_bytes(b"a model I trained elsewhere")
    monkeypatch.setenv("GANRT_CACHE", str(root))
    Image.fromarray(photos["coffee_61x93"]).save(tmp_path / "a.png")
    result = cli("restore", tmp_path / "a.png", tmp_path / "out.png", *FAST)
    assert result.exit_code == 0, result.output
    return root


def test_clean_deletes_only_folders_ganrt_made(own_cache):
    assert any((own_cache / "onnx").glob("*.onnx"))  # ganrt's own folder, made for the export
    result = cli("cache", "--clean")
    assert result.exit_code == 0, result.output
    assert (own_cache / "mine" / "thesis.tex").read_text() == "years of work"
    assert (own_cache / "models" / "my-finetune.safetensors").read_bytes() == b"a model I trained elsewhere"
    assert not any((own_cache / "onnx").glob("*.onnx"))
    assert "kept mine, models" in result.output and "nothing in them was deleted" in result.output
    listed = json.loads(cli("cache", "--json").output)["kinds"]
    assert {row["kind"]: row["ganrt"] for row in listed}["mine"] is False


def test_clean_older_than_also_stays_in_ganrts_folders(own_cache):
    import os
    import time

    old = time.time() - 40 * 86400
    for path in [*own_cache.rglob("*")]:
        if path.is_file():
            os.utime(path, (old, old))
    result = cli("cache", "--clean", "--older-than", "30", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["kept_folders"] == ["mine", "models"]
    assert (own_cache / "mine" / "thesis.tex").is_file() and (own_cache / "models" / "my-finetune.safetensors").is_file()


def test_a_cache_folder_an_older_ganrt_made_is_still_cleaned(tmp_path, monkeypatch):
    from ganrt import cache

    root = tmp_path / "cache"
    monkeypatch.setenv("GANRT_CACHE", str(root))
    folder = root / "onnx"
    folder.mkdir(parents=True)
    cache.write_sealed(folder / "m-0123-fp32-op17-r1.onnx", b"graph")  # sealed: provably ganrt's, no marker yet
    assert not cache.is_marked(folder)
    files, _, kept = cache.clean()
    assert files == 2 and kept == []  # the graph and its seal
    assert [p.name for p in folder.iterdir()] == [cache.MARKER]  # marked now, as ganrt's own


@pytest.fixture
def generator_file(digit_gan, tmp_path):
    """The trained digits generator as a file, and its metadata: (state, metadata)."""
    from safetensors import safe_open

    path = digit_gan[0] / "generator.safetensors"
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    return load_file(str(path)), meta


def test_a_model_name_in_metadata_never_leaves_the_cache(tmp_path, monkeypatch, generator_file):
    state, meta = generator_file
    root = tmp_path / "cache"
    monkeypatch.setenv("GANRT_CACHE", str(root))
    names = {"onnxruntime": "../../../escaped", "openvino": str(tmp_path / "absolute")}
    for backend, name in names.items():  # the ONNX export's name, and OpenVINO's model and blob names
        evil = tmp_path / f"evil-{backend}.safetensors"
        save_file(state, str(evil), metadata={**meta, "ganrt.name": name})
        result = cli("generate", evil, "--count", "2", "--grid", tmp_path / f"g-{backend}.png", "-b", backend, "-q")
        assert result.exit_code == 0, result.output
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    outside = {p for p in written if not p.is_relative_to(root)}
    assert {p.name for p in outside} == {f"{what}-{b}.{ext}" for b in names
                                         for what, ext in (("evil", "safetensors"), ("g", "png"))}
    assert not any(p.name.startswith(".") and p.suffix in (".onnx", ".blob", ".xml") for p in written)
