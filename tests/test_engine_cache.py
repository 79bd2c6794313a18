"""TensorRT engine cache, profiles and tile fitting: everything around TensorRT, tested on the CPU."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import pytest

from ganrt.errors import UsageError
from ganrt.export.engine_cache import EngineCache, EngineKey
from ganrt.export.trt_profiles import Profile, largest_input, parse_hw, pick_profile
from ganrt.runtime.tiling import fit_tile
from ganrt.runtime.trt_backend import with_stream_copies

PROFILE = Profile.from_hw((32, 32), (256, 256), (1024, 1024))
KEY = EngineKey(onnx_sha256="a" * 64, trt_version="10.13.0", gpu_name="NVIDIA H100 80GB HBM3",
                compute_capability="9.0", profiles=(PROFILE,), precision="fp16", opt_level=3, workspace_mib=None)
ENGINE = b"\x00serialized-engine-bytes" * 100


def test_reuse_hit(tmp_path):
    cache = EngineCache(tmp_path)
    stored = cache.store(KEY, "realesr-animevideov3", ENGINE, build_seconds=12.5)
    hit = EngineCache(tmp_path).load(KEY, "realesr-animevideov3")
    assert hit is not None and hit.data == ENGINE and hit.path == stored.path
    assert hit.sidecar["key"]["gpu_name"] == "NVIDIA H100 80GB HBM3" and hit.sidecar["build_seconds"] == 12.5
    assert not [p for p in tmp_path.iterdir() if "ganrt-tmp" in p.name]


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "b" * 64}, {"trt_version": "11.0.1"}, {"gpu_name": "NVIDIA L4"},
    {"compute_capability": "8.9"}, {"profiles": (Profile.static((720, 1280)),)},
    {"profiles": (Profile.from_hw((32, 32), (256, 256), (1024, 1024), batch=2),)},
    {"profiles": with_stream_copies([PROFILE], 2)},
    {"precision": "fp32"}, {"opt_level": 5}, {"workspace_mib": 4096},
])
def test_every_key_component_invalidates(tmp_path, change):
    cache = EngineCache(tmp_path)
    cache.store(KEY, "m", ENGINE, build_seconds=1.0)
    other = replace(KEY, **change)
    assert other.digest() != KEY.digest()
    assert cache.load(other, "m") is None
    assert cache.load(KEY, "m") is not None


def test_corrupt_or_mismatched_engine_is_rebuilt_not_loaded(tmp_path, caplog):
    cache = EngineCache(tmp_path)
    path = cache.store(KEY, "m", ENGINE, build_seconds=1.0).path
    path.write_bytes(ENGINE[:-10])  # truncated
    with caplog.at_level(logging.WARNING, logger="ganrt"):
        assert cache.load(KEY, "m") is None
    assert "corrupt or truncated" in caplog.text
    path.write_bytes(ENGINE.replace(b"engine", b"ENGINE"))  # same size, different bytes
    assert cache.load(KEY, "m") is None
    cache.store(KEY, "m", ENGINE, build_seconds=1.0)
    side = cache.sidecar_path(path)
    side.write_text(side.read_text().replace("NVIDIA H100 80GB HBM3", "NVIDIA A100"))  # sidecar for another GPU
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ganrt"):
        assert cache.load(KEY, "m") is None
    assert "does not match" in caplog.text
    side.write_text("{not json")
    assert cache.load(KEY, "m") is None


def test_read_only_cache_falls_back_to_a_temporary_folder(tmp_path, caplog):
    if os.geteuid() == 0:
        locked = tmp_path / "file-not-folder"
        locked.write_text("a file where the cache folder should be")  # unwritable even for root
    else:
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o555)
    with caplog.at_level(logging.WARNING, logger="ganrt"):
        cache = EngineCache(locked)
    assert cache.fallback and cache.directory != locked and "not writable" in caplog.text
    cache.store(KEY, "m", ENGINE, build_seconds=1.0)
    assert cache.load(KEY, "m").data == ENGINE


def test_timing_cache_is_per_gpu_and_trt_version(tmp_path):
    cache = EngineCache(tmp_path)
    cache.write_timing_cache(KEY, b"timing")
    assert cache.read_timing_cache(KEY) == b"timing"
    assert cache.read_timing_cache(replace(KEY, precision="fp32", opt_level=1)) == b"timing"  # shared
    assert cache.read_timing_cache(replace(KEY, gpu_name="NVIDIA L4")) == b""
    assert cache.read_timing_cache(replace(KEY, trt_version="11.0")) == b""


def test_profiles():
    assert parse_hw("720x1280") == (720, 1280) and parse_hw(" 64 X 48 ") == (64, 48)
    for bad in ("720", "0x10", "axb", ""):
        with pytest.raises(UsageError):
            parse_hw(bad)
    with pytest.raises(UsageError):
        Profile.from_hw((64, 64), (32, 32), (128, 128))
    small, big = Profile.from_hw((16, 16), (128, 128), (256, 256)), Profile.static((720, 1280), batch=2)
    assert small.covers((1, 3, 100, 200)) and not small.covers((1, 3, 300, 10)) and not small.covers((2, 3, 64, 64))
    assert pick_profile([big, small], (1, 3, 64, 64)) == 1
    assert pick_profile([big, small], (2, 3, 720, 1280)) == 0
    assert pick_profile([big, small], (1, 3, 2000, 64)) is None
    assert largest_input([small, big]) == (720, 1280)
    assert with_stream_copies([small, big], 3) == (small, small, small, big, big, big)


def test_tiles_fit_the_engine():
    assert fit_tile(0, 100, 100, 16, None) == 0
    assert fit_tile(0, 100, 100, 16, (256, 256)) == 0  # whole image fits with its padding
    assert fit_tile(0, 300, 100, 16, (256, 256)) == 224  # does not: tiles of 256 - 2·16
    assert fit_tile(512, 2000, 2000, 16, (256, 256)) == 224
    assert fit_tile(128, 2000, 2000, 16, (256, 256)) == 128
