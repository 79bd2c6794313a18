"""NaN/Inf never reach an output: fp16/bf16 items that overflow are re-run in fp32."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from conftest import to_nchw
from ganrt.errors import NonFiniteOutputError
from ganrt.models.loader import model_from_state_dict
from ganrt.runtime.registry import create_engine


@pytest.fixture()
def overflowing_model(load):
    """The real compact model with its first layer ×1e4 and its second ×1e-4: same output in fp32,
    but the first activations exceed fp16's range (65504), as RRDBNet's conv_up1 does in other tools."""
    real = load("realesr-animevideov3")
    state = {k: v.clone() for k, v in real.module.state_dict().items()}
    state["body.0.weight"] *= 1e4
    state["body.0.bias"] *= 1e4
    state["body.1.weight"] = state["body.1.weight"]  # PReLU slopes unchanged (scale-equivariant)
    state["body.2.weight"] *= 1e-4
    return model_from_state_dict(state, name="overflow-test", checksum="f" * 64)


def test_fp16_overflow_falls_back_to_fp32(overflowing_model, photos, caplog):
    x = to_nchw(photos["chelsea_45x59"])
    with create_engine(overflowing_model, backend="torch", device="cpu", precision="fp32") as ref_engine:
        ref = ref_engine.infer(x)
    assert np.isfinite(ref).all()
    with create_engine(overflowing_model, backend="torch", device="cpu", precision="fp16") as engine:
        raw = engine._infer((x,))
        assert not np.isfinite(raw).all(), "the test model must overflow in fp16"
        with caplog.at_level(logging.WARNING, logger="ganrt"):
            out = engine.infer(x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert engine.fallbacks == 1
    assert any("re-ran them in fp32" in r.getMessage() for r in caplog.records)


def test_fp32_non_finite_output_is_an_error(overflowing_model, photos):
    with create_engine(overflowing_model, backend="torch", device="cpu", precision="fp16", guard=False) as engine:
        with pytest.raises(NonFiniteOutputError):
            engine.infer(to_nchw(photos["chelsea_45x59"]))
    assert torch.float16  # torch imported for the fixture's clone
