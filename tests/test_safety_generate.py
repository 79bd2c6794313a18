"""`ganrt generate`, tried as a careless or hostile user would: bounded memory whatever --count or a file's
metadata says, one clear line instead of an out-of-memory hint."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file, save_file

from conftest import cli, one_line


@pytest.fixture
def generator_file(digit_gan):
    from safetensors import safe_open

    path = digit_gan[0] / "generator.safetensors"
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    return load_file(str(path)), meta


def test_a_count_past_the_bound_is_refused_before_any_work(tmp_path, digit_gan):
    line = one_line(cli("generate", digit_gan[0], "--count", 3_000_000, "--out-dir", tmp_path / "g"), 2)
    assert "at most 100,000" in line and not (tmp_path / "g").exists()
    line = one_line(cli("generate", digit_gan[0], "--count", 90_000, "--grid", tmp_path / "g.png"), 2)
    assert "megapixels" in line and "--out-dir" in line


def test_out_dir_is_written_batch_by_batch(tmp_path, digit_gan):
    result = cli("generate", digit_gan[0], "--count", 70, "--batch", 16, "--out-dir", tmp_path / "g", "-q")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "g").glob("*.png"))) == 70


@pytest.mark.parametrize("key, value", [("ganrt.noise_dim", "1000000000"), ("ganrt.image_size", "999999"),
                                        ("ganrt.width", "-3"), ("ganrt.value_range", "nan,1"),
                                        ("ganrt.kind", "super-resolution")])
def test_lying_metadata_is_a_damaged_file_not_an_allocation(tmp_path, generator_file, key, value):
    state, meta = generator_file
    path = tmp_path / "lying.safetensors"
    save_file(state, str(path), metadata={**meta, key: value})
    line = one_line(cli("generate", path, "--count", 3, "--grid", tmp_path / "g.png"), 1)
    assert key in line or "damaged or hostile" in line
    assert "out of memory" not in line and not (tmp_path / "g.png").exists()


def test_a_deeply_nested_header_is_refused_in_one_line(tmp_path):
    import json
    import struct

    header = ("[" * 100_000 + "]" * 100_000).encode()
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    line = one_line(cli("generate", path, "--count", 1, "--grid", tmp_path / "g.png"), 1)
    assert "deep.safetensors" in line
    json.dumps(line)  # one printable line
