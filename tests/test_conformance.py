"""One conformance test over every backend available here: same model, same real photo, same contract."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import psnr, to_nchw, torch_cuda
from ganrt.errors import BackendUnavailableError
from ganrt.runtime.registry import BACKENDS, create_engine, is_installed

MODEL = "realesr-animevideov3"
COMBOS = [(b.name, p, d) for b in BACKENDS for d in b.devices for p in b.precisions]


def _skip_reason(backend: str, precision: str, device: str) -> str | None:
    """Why this machine cannot run the combination at all (then the test is skipped, saying so); any other
    BackendUnavailableError is a regression and fails."""
    from ganrt.machine import cpu_has_bf16

    info = next(b for b in BACKENDS if b.name == backend)
    if not is_installed(info):
        return f"{backend} is not installed here"
    if device == "cuda" and not torch_cuda():
        return "no CUDA GPU here"
    if backend == "openvino" and precision == "bf16" and not cpu_has_bf16():
        return "this CPU has no bf16 instructions (AVX512-BF16 or AMX)"
    return None


@pytest.fixture(scope="module")
def reference(photos, load):
    with create_engine(load(MODEL), backend="torch", device="cpu", precision="fp32", guard=False) as ref:
        x = to_nchw(photos["coffee_61x93"])
        return x, ref.infer(x)


@pytest.mark.parametrize(("backend", "precision", "device"), COMBOS, ids=[f"{b}-{p}-{d}" for b, p, d in COMBOS])
def test_backend_contract(backend, precision, device, reference, load):
    reason = _skip_reason(backend, precision, device)
    if reason:
        pytest.skip(reason)
    x, ref = reference
    with create_engine(load(MODEL), backend=backend, device=device, precision=precision) as engine:
        assert (engine.backend, engine.precision, engine.scale, engine.channels) == (backend, precision, 4, 3)
        assert engine.device.startswith(device)
        out = engine.infer(x)
        assert out.dtype == np.float32 and out.shape == ref.shape
        assert np.isfinite(out).all()
        if precision == "fp32":
            assert np.abs(out - ref).max() <= 1e-4
        else:
            assert psnr(np.clip(out, 0, 1), np.clip(ref, 0, 1)) >= 40
        # a batch of two gives the same as two single calls
        pair = engine.infer(np.concatenate([x, x[:, :, ::-1, :].copy()]))
        assert np.array_equal(pair[0], out) or np.abs(pair[0] - out).max() <= 1e-5
        # pixel hook: uint8 NHWC in, clamped float NHWC out
        pix = engine.infer_pixels(np.rint(x[0].transpose(1, 2, 0) * 255).astype(np.uint8)[None], 255.0)
        assert pix.shape == (1, ref.shape[2], ref.shape[3], 3) and 0.0 <= pix.min() and pix.max() <= 1.0


def test_engine_rejects_wrong_channel_count(load):
    with create_engine(load(MODEL), backend="torch", device="cpu", precision="fp32") as engine:
        with pytest.raises(ValueError, match="channels"):
            engine.infer(np.zeros((1, 4, 8, 8), np.float32))


def test_unsupported_precision_is_a_clear_error(load):
    with pytest.raises(BackendUnavailableError, match="bf16"):
        create_engine(load(MODEL), backend="onnxruntime", device="cpu", precision="bf16")


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    """A DCGAN generator file as `ganrt train` writes it (random weights: the contract, not the art)."""
    import torch
    from safetensors.torch import save_file

    from ganrt.models import load_model
    from ganrt.models.archs.gan import DCGANGenerator, init_weights

    torch.manual_seed(1)
    net = DCGANGenerator(16, 32, 3, 8)
    init_weights(net)
    path = tmp_path_factory.mktemp("gen") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata={
        "ganrt.kind": "generation", "ganrt.arch": "DCGAN", "ganrt.noise_dim": "16", "ganrt.image_size": "32",
        "ganrt.out_channels": "3", "ganrt.width": "8", "ganrt.value_range": "-1,1"})
    return load_model(str(path))


@pytest.mark.parametrize(("backend", "precision", "device"), COMBOS, ids=[f"{b}-{p}-{d}" for b, p, d in COMBOS])
def test_generator_contract(backend, precision, device, generator):
    reason = _skip_reason(backend, precision, device)
    if reason:
        pytest.skip(reason)
    z = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    with create_engine(generator, backend="torch", device="cpu", precision="fp32", guard=False) as ref_engine:
        ref = ref_engine.infer(z)
    with create_engine(generator, backend=backend, device=device, precision=precision) as engine:
        assert engine.kind.name == "generation"
        out = engine.infer(z)
        assert out.shape == (3, 3, 32, 32) and out.dtype == np.float32 and np.isfinite(out).all()
        if precision == "fp32":
            assert np.abs(out - ref).max() <= 1e-4
        else:
            assert psnr((np.clip(out, -1, 1) + 1) / 2, (ref + 1) / 2) >= 40
        with pytest.raises(ValueError, match="noise"):
            engine.infer(np.zeros((1, 3, 8, 8), np.float32))
