"""Real TensorRT engines on a machine without a GPU: TensorRT for RTX parses ganrt's graphs and builds
engines ahead of time for named GPUs; the engine cache reuses and invalidates real engine bytes."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from conftest import cli, one_line

pytest.importorskip("tensorrt_rtx", reason="TensorRT for RTX is not installed (pip install 'ganrt[tensorrt-rtx]')")

from ganrt.export.engine_cache import EngineCache  # noqa: E402
from ganrt.export.trt_build import BuildOptions, cached_engine, engine_from_onnx, engine_key, parse_network  # noqa: E402
from ganrt.export.trt_flavours import FLAVOURS  # noqa: E402
from ganrt.export.trt_profiles import Profile  # noqa: E402

RTX = FLAVOURS["rtx"]
PROFILE = (Profile.from_hw((16, 16), (64, 64), (128, 128)),)
MODELS = ["realesr-animevideov3", "RealESRGAN_x4plus_anime_6B", "RealESRGAN_x4plus"]


@pytest.fixture(scope="module")
def graphs(tmp_path_factory, load):
    """fp32 and fp16 ONNX of every built-in model (the fp16 recipe calibrated on two small real crops)."""
    from ganrt.data import calibration_photos
    from ganrt.export.fp16 import fp16_from_onnx
    from ganrt.export.onnx_cache import cached_onnx

    crops = [p[:32, :32].transpose(2, 0, 1)[None].astype(np.float32) / 255 for p in calibration_photos().values()][:2]
    folder = tmp_path_factory.mktemp("graphs")
    out = {}
    for name in MODELS:
        fp32 = cached_onnx(load(name), "fp32")
        out[name] = {"fp32": fp32, "fp16": fp16_from_onnx(fp32, folder / f"{name}-fp16.onnx", images=crops)}
    return out


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.slow
def test_every_builtin_parses_and_builds_and_fp16_engines_hold_fp16_weights(graphs, name):
    sizes = {}
    for precision in ("fp32", "fp16"):
        _builder, network, parser = parse_network(RTX, graphs[name][precision])
        assert parser.num_errors == 0 and network.num_layers > 10
        data, timing = engine_from_onnx(graphs[name][precision], PROFILE,
                                        BuildOptions(precision, flavour="rtx", targets=("sm89",)))
        assert timing == b""  # TensorRT for RTX keeps no timing cache
        sizes[precision] = len(data)
    assert sizes["fp16"] < 0.7 * sizes["fp32"], sizes  # the weights really are fp16


def test_engine_cache_reuses_and_invalidates_real_engines(graphs, tmp_path, caplog):
    onnx = graphs["realesr-animevideov3"]["fp16"]
    options = BuildOptions("fp16", flavour="rtx", targets=("sm86",))
    first, reused = cached_engine(onnx, PROFILE, options, name="compact", cache_dir=tmp_path)
    assert not reused and first.path.is_file() and first.sidecar["key"]["flavour"] == "rtx"
    again, reused = cached_engine(onnx, PROFILE, options, name="compact", cache_dir=tmp_path)
    assert reused and again.data == first.data
    # another graph, another target: rebuilt, each its own file
    other_graph, reused = cached_engine(graphs["realesr-animevideov3"]["fp32"], PROFILE, replace(options, precision="fp32"),
                                        name="compact", cache_dir=tmp_path)
    other_target, reused2 = cached_engine(onnx, PROFILE, replace(options, targets=("sm89",)), name="compact",
                                          cache_dir=tmp_path)
    assert not reused and not reused2
    assert len({first.path, other_graph.path, other_target.path}) == 3
    # another flavour never gets this engine
    key = engine_key(onnx, PROFILE, options)
    assert "graph_rewrite" not in key.as_dict()  # a graph TensorRT parses as it is: keys as before the rewrite
    assert EngineCache(tmp_path).load(replace(key, flavour="tensorrt"), "compact") is None
    # a corrupt engine is rebuilt with a warning, never loaded
    data = bytearray(first.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    first.path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="ganrt"):
        rebuilt, reused = cached_engine(onnx, PROFILE, options, name="compact", cache_dir=tmp_path)
    assert not reused and "corrupt" in caplog.text and rebuilt.path.read_bytes() != bytes(data)


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_build_on_a_cpu_only_machine(tmp_path, precision):
    out = tmp_path / f"x-{precision}.engine"
    result = cli("build", "realesr-animevideov3", "--precision", precision, "--output", out, "--json",
                 "--min", "16x16", "--opt", "64x64", "--max", "256x256", "--cache-dir", tmp_path / "engines")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["flavour"] == "rtx" and summary["precision"] == precision and summary["gpu"] is None
    assert set(summary["targets"]) >= {"sm86", "sm89", "sm120"}  # every RTX target without a GPU
    assert out.is_file() and out.stat().st_size == summary["bytes"] > 100_000
    assert summary["build_seconds"] > 0 and summary["profiles"][0]["max"] == [1, 3, 256, 256]


def test_build_errors_are_one_line(tmp_path):
    from ganrt.export.trt_flavours import FLAVOURS


    assert "sm86" in one_line(cli("build", "realesr-animevideov3", "--target", "sm90"), 2)
    if not FLAVOURS["tensorrt"].installed():
        assert "pip install 'ganrt[tensorrt]'" in one_line(cli("build", "realesr-animevideov3", "--flavour",
                                                                "tensorrt"), 3)
    engines = tmp_path / "engines"
    args = ["build", "realesr-animevideov3", "--target", "sm89", "--shape", "32x32", "--cache-dir", engines]
    assert cli(*args).exit_code == 0
    (engine,) = engines.glob("*.engine")
    engine.write_bytes(engine.read_bytes()[:-100])  # truncated
    result = cli(*args)
    assert result.exit_code == 0 and "corrupt or truncated" in result.output and "rebuilding" in result.output
    taken = tmp_path / "taken.engine"
    taken.write_bytes(b"someone's engine")
    assert "--overwrite" in one_line(cli(*args, "--output", taken), 2)


def test_doctor_says_what_each_flavour_can_do_here():
    result = cli("doctor", "--json")
    assert result.exit_code == 0
    flavours = json.loads(result.output)["tensorrt"]
    assert set(flavours) == {"tensorrt", "rtx"}
    assert flavours["rtx"]["version"] and flavours["rtx"]["can"] in ("build only", "build and run")
    table = cli("doctor")
    assert "tensorrt (rtx)" in table.output


def test_the_tensorrt_backend_needs_a_gpu_and_says_so(load):
    from ganrt.errors import BackendUnavailableError
    from ganrt.machine import cuda_available
    from ganrt.runtime.registry import create_engine

    if cuda_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU here"):
        create_engine(load("realesr-animevideov3"), backend="tensorrt")


def test_an_operator_tensorrt_lacks_ends_in_one_short_line_and_tensorrt_prints_nothing(tmp_path, capfd):
    """An operator TensorRT has no layer for (Det) fails the parse in one line that names it, how many
    nodes and the first one, not one copy of the parser's message per node; TensorRT's own log goes to
    ganrt's log instead of the terminal."""
    import onnx
    from onnx import TensorProto, helper

    from ganrt.errors import EngineBuildError

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 3])
    outs = [helper.make_tensor_value_info(f"det{i}", TensorProto.FLOAT, [2]) for i in range(4)]
    graph = helper.make_graph([helper.make_node("Det", ["input"], [f"det{i}"], name=f"det{i}") for i in range(4)],
                              "dets", [x], outs)
    path = tmp_path / "dets.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    capfd.readouterr()
    with pytest.raises(EngineBuildError) as failed:
        parse_network(RTX, path)
    message = str(failed.value)
    assert "could not parse dets.onnx: Det: no TensorRT layer or plugin for this operator (4 nodes, first det0)" \
        in message, message
    assert message.count("Det") == 1 and len(message) < 300, message
    assert "[TRT]" not in "".join(capfd.readouterr())


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")
def test_fft_convolutions_build_as_matrix_products(tmp_path):
    """LaMa's FFT convolutions export as ONNX DFT nodes, for which TensorRT has no layer: TensorRT gets
    them as matrix products instead (``export.dft_matmul``), which compute what the DFTs do (checked in
    ONNX Runtime at odd sizes, batch 2) and build into an engine for an inpainting profile."""
    import onnx
    import onnxruntime as ort
    import torch

    from ganrt.export.dft_matmul import REWRITE_VERSION, dft_as_matmul, has_dft
    from ganrt.export.onnx_export import set_metadata
    from ganrt.export.onnx_fft import fft_as_dft

    class Spectral(torch.nn.Module):  # a Fourier unit's transforms: rfftn, a change of the spectrum, irfftn
        def forward(self, x, mask):
            f = torch.fft.rfftn(x * (1 - mask), dim=(-2, -1), norm="ortho")
            return torch.fft.irfftn(torch.complex(f.real * 2, f.imag), s=x.shape[-2:], dim=(-2, -1), norm="ortho")

    path = tmp_path / "spectral.onnx"
    axes = {0: "batch", 2: "height", 3: "width"}
    with fft_as_dft(17):
        torch.onnx.export(Spectral(), (torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)), str(path), opset_version=17,
                          dynamo=False, input_names=["input", "mask"], output_names=["output"],
                          dynamic_axes={"input": axes, "mask": axes, "output": axes})
    proto = onnx.load(str(path))
    rewritten = dft_as_matmul(proto)
    assert sum(n.op_type == "DFT" for n in proto.graph.node) == 4 and not has_dft(rewritten)
    dft, products = (ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
                     for m in (proto, rewritten))
    for h, w in ((32, 32), (17, 23), (40, 9)):
        feeds = {"input": np.random.default_rng(h).random((2, 3, h, w), np.float32),
                 "mask": np.zeros((2, 1, h, w), np.float32)}
        want = Spectral()(*map(torch.from_numpy, feeds.values())).numpy()
        assert np.abs(products.run(None, feeds)[0] - want).max() < 1e-5
        assert np.abs(dft.run(None, feeds)[0] - want).max() < 1e-4
    set_metadata(proto, {"ganrt.model": "spectral", "ganrt.kind": "inpainting", "ganrt.scale": "1",
                         "ganrt.in_channels": "3", "ganrt.out_channels": "3", "ganrt.size_multiple": "8",
                         "ganrt.min_size": "16", "ganrt.value_range": "0,1", "ganrt.precision": "fp32"})
    onnx.save(proto, str(path))
    options = BuildOptions("fp32", flavour="rtx", targets=("sm89",))
    data, _ = engine_from_onnx(path, PROFILE, options)
    assert len(data) > 1000
    # the engine key records the rewrite, so a changed rewrite never reuses engines built from the old one
    assert engine_key(path, PROFILE, options).as_dict()["graph_rewrite"] == REWRITE_VERSION


@pytest.mark.slow
def test_a_face_network_builds_for_its_one_size_and_refuses_others(tmp_path, random_gfpgan):
    """GFPGAN takes 512×512 faces only: its engine is built for that size (the usual range of photo sizes
    cannot build), and asking for another size is a usage error."""
    engines = tmp_path / "engines"
    result = cli("build", random_gfpgan, "--target", "sm89", "--precision", "fp32", "--json", "--cache-dir", engines)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["profiles"] == [{"min": [1, 3, 512, 512], "opt": [1, 3, 512, 512], "max": [1, 3, 512, 512]}]
    assert summary["bytes"] > 100_000_000  # 512² in, the whole network's fp32 weights inside
    from ganrt.kinds import ModelSpec
    from ganrt.runtime.trt_backend import default_profile

    face = ModelSpec("GFPGAN", 1, 3, 3, min_size=512, kind_name="face-restoration")
    assert default_profile(face).as_dict() == summary["profiles"][0]  # what `repair --face-model -b tensorrt` builds
    wrong = cli("build", random_gfpgan, "--target", "sm89", "--precision", "fp32", "--shape", "256x256",
                "--cache-dir", engines)
    assert wrong.exit_code == 2 and "takes 512x512 images only" in wrong.output
