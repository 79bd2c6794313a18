"""The fast CPU path: OpenVINO parity, explicit precision hints, the bf16 fidelity guard, the default choice."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from conftest import psnr, to_nchw
from ganrt.runtime.registry import create_engine

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")


@needs_openvino
@pytest.mark.parametrize("model", ["realesr-animevideov3", "RealESRGAN_x4plus_anime_6B", "RealESRGAN_x4plus"])
@pytest.mark.slow
def test_openvino_fp32_matches_the_torch_reference(model, photos, load):
    x = to_nchw(photos["chelsea_45x59"])
    with create_engine(load(model), backend="torch", device="cpu", precision="fp32") as ref, \
            create_engine(load(model), backend="openvino", device="cpu", precision="fp32") as ov:
        want, got = ref.infer(x), ov.infer(x)
        hint = str(ov._compiled.get_property("INFERENCE_PRECISION_HINT"))
        assert hint in ("f32", "<Type: 'float32'>")  # explicit, never the device default
    assert np.abs(got - want).max() <= 1e-4


@needs_openvino
def test_openvino_bf16_hint_is_explicit_and_close(photos, load):
    from ganrt.runtime.choice import cpu_has_bf16

    if not cpu_has_bf16():
        pytest.skip("this CPU has no bf16 instructions")
    x = to_nchw(photos["astronaut_77x131"])
    model = load("realesr-animevideov3")
    with create_engine(model, backend="openvino", device="cpu", precision="fp32") as f32, \
            create_engine(model, backend="openvino", device="cpu", precision="bf16") as bf16:
        want, got = f32.infer(x), bf16.infer(x)
        assert str(bf16._compiled.get_property("INFERENCE_PRECISION_HINT")) in ("bf16", "<Type: 'bfloat16'>")
    assert psnr(np.clip(got, 0, 1), np.clip(want, 0, 1)) >= 40


@pytest.fixture()
def bf16_hostile_model(load):
    """The real compact model with +1000 added to its first activations and taken away again by the next
    layer's bias (a different network, since the first PReLU no longer sees negatives, but a well-defined
    one in fp32): bf16's spacing near 1000 is 4, so its bf16 output falls far from its fp32 output."""
    from ganrt.models.loader import model_from_state_dict

    state = {k: v.clone() for k, v in load("realesr-animevideov3").module.state_dict().items()}
    state["body.0.bias"] += 1000.0
    state["body.2.bias"] -= 1000.0 * state["body.2.weight"].sum(dim=(1, 2, 3))
    return model_from_state_dict(state, name="bf16-hostile", checksum="b" * 64)


@pytest.mark.slow
def test_bf16_guard_falls_back_to_fp32_and_says_so(bf16_hostile_model, load, caplog, photos):
    from ganrt.runtime.choice import bf16_fidelity, bf16_passes_guard

    with create_engine(bf16_hostile_model, backend="torch", device="cpu", precision="fp32") as hostile:
        assert np.isfinite(hostile.infer(to_nchw(photos["coffee_61x93"]))).all()
    assert bf16_fidelity(bf16_hostile_model, "torch") < 40
    with caplog.at_level(logging.WARNING, logger="ganrt"):
        assert bf16_passes_guard(bf16_hostile_model, "torch") is False
    assert "using fp32" in caplog.text
    assert bf16_passes_guard(load("realesr-animevideov3"), "torch") is True


def test_auto_precision_respects_the_guard(bf16_hostile_model, load, monkeypatch):
    from ganrt.runtime import choice

    monkeypatch.setattr(choice, "cpu_has_bf16", lambda: True)  # decide as on a bf16 CPU, guard measured for real
    assert choice.choose_precision(bf16_hostile_model, "torch", "cpu") == "fp32"
    assert choice.choose_precision(load("realesr-animevideov3"), "torch", "cpu") == "bf16"
    monkeypatch.setattr(choice, "cpu_has_bf16", lambda: False)
    assert choice.choose_precision(load("realesr-animevideov3"), "torch", "cpu") == "fp32"


def test_cpu_only_machines_default_to_the_fast_path(load):
    from ganrt.runtime.choice import CPU_ORDER, cpu_has_bf16
    from ganrt.runtime.registry import backend_info, is_installed, resolve

    backend, device, precision = resolve(load("realesr-animevideov3"))
    assert device == "cpu"  # CI and this machine have no GPU
    assert backend == next(b for b in CPU_ORDER if is_installed(backend_info(b)))
    assert precision == ("bf16" if cpu_has_bf16() and "bf16" in backend_info(backend).precisions else "fp32")
