"""`ganrt export`: self-contained ONNX files with metadata, parity at odd sizes, overflow-safe fp16."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import cli, psnr
from ganrt.export.fp16 import DEFAULT_BOUND, activation_ranges, convert_to_fp16, fp16_from_onnx, overflow_nodes
from ganrt.export.onnx_export import onnx_from_model

MODELS = ["realesr-animevideov3", "RealESRGAN_x4plus_anime_6B", "RealESRGAN_x4plus"]


def session(model):
    """A CPU session for an ONNX file path or serialized model bytes."""
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def harsh_photos(photos):
    """Deliberately harsh real images: overexposed, saturated, high-contrast versions of real photos."""
    out = []
    for img in photos.values():
        f = img.astype(np.float32)
        out.append(np.clip(f * 2.2, 0, 255))  # overexposed
        out.append(np.clip((f - 128) * 3.5 + 128, 0, 255))  # high contrast
        sat = f.copy()
        sat[..., 1:] *= 0.1  # saturated red
        out.append(np.clip(sat * 1.6, 0, 255))
    out.append(np.full((48, 64, 3), 255.0))  # pure white
    return [np.ascontiguousarray(x.transpose(2, 0, 1)[None] / 255, dtype=np.float32) for x in out]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.slow
def test_export_every_builtin(model, precision, tmp_path, harsh_photos, load):
    out = tmp_path / f"{model}-{precision}.onnx"
    result = cli("export", model, "-o", str(out), "--precision", precision)
    assert result.exit_code == 0, result.output
    assert result.output.count("→ ok") == 2  # parity at two odd sizes
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # one self-contained file
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["ganrt.model"] == model and meta["ganrt.scale"] == "4" and meta["ganrt.precision"] == precision
    assert len(meta["ganrt.source_sha256"]) == 64 and meta["ganrt.version"]
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["output"]
    conv_weights = {n.input[1] for n in proto.graph.node if n.op_type == "Conv"}
    types = {t.data_type for t in proto.graph.initializer if t.name in conv_weights}
    assert types == {onnx.TensorProto.FLOAT16 if precision == "fp16" else onnx.TensorProto.FLOAT}
    if precision == "fp16":  # no non-finite output on harsh images, and close to the torch fp32 reference
        import torch

        s = session(out)
        for x in harsh_photos[:2] if model == "RealESRGAN_x4plus" else harsh_photos:  # overexposed, high contrast
            got = s.run(None, {"input": x})[0]
            assert np.isfinite(got).all()
            with torch.inference_mode():
                want = load(model).module(torch.from_numpy(x)).numpy()
            assert psnr(np.clip(got, 0, 1), np.clip(want, 0, 1)) >= 40


def test_output_size_follows_every_input_shape(tmp_path, load):
    path = onnx_from_model(load("realesr-animevideov3"), tmp_path / "m.onnx")
    s = session(path)
    for n, h, w in [(1, 17, 23), (2, 31, 8), (3, 64, 101)]:
        y = s.run(None, {"input": np.random.rand(n, 3, h, w).astype(np.float32)})[0]
        assert y.shape == (n, 3, 4 * h, 4 * w)


def test_static_shape_and_batch(tmp_path):
    out = tmp_path / "static.onnx"
    result = cli("export", "realesr-animevideov3", "-o", str(out), "--shape", "40x56", "--batch", "2")
    assert result.exit_code == 0, result.output
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 40, 56]


def test_export_usage_errors(tmp_path):
    for args in (["--precision", "bf16"], ["--shape", "big"], ["--batch", "0"], ["--io", "fp16"]):
        result = cli("export", "realesr-animevideov3", "-o", str(tmp_path / "x.onnx"), *args)
        assert result.exit_code == 2, args
        assert result.output.startswith("error:")
    assert not (tmp_path / "x.onnx").exists()


def test_overflow_analysis_blocks_measured_nodes(tmp_path, load, photos):
    """A model whose early activations exceed fp16's range: the measured block list keeps exactly the
    offending nodes in fp32 and the fp16 graph stays finite; converting without it overflows."""
    from ganrt.data import calibration_batch
    from ganrt.models.loader import model_from_state_dict

    state = {k: v.clone() for k, v in load("realesr-animevideov3").module.state_dict().items()}
    state["body.0.weight"] *= 1e4
    state["body.0.bias"] *= 1e4
    state["body.2.weight"] *= 1e-4
    model = model_from_state_dict(state, name="overflow-test")
    fp32 = onnx_from_model(model, tmp_path / "fp32.onnx")
    proto = onnx.load(str(fp32))
    images = calibration_batch()
    ranges = activation_ranges(proto, images)
    assert max(ranges.values()) > 65504  # it really overflows fp16
    blocked = overflow_nodes(proto, ranges, DEFAULT_BOUND)
    ops = {n.name: n.op_type for n in proto.graph.node}
    assert {ops[b] for b in blocked} == {"Conv", "PRelu"} and 2 <= len(blocked) <= 4  # body.0, its PReLU, body.2
    x = np.ascontiguousarray(photos["coffee_61x93"].transpose(2, 0, 1)[None] / 255, dtype=np.float32)
    want = session(fp32).run(None, {"input": x})[0]
    naive = session(convert_to_fp16(onnx.load(str(fp32)), []).SerializeToString()).run(None, {"input": x})[0]
    assert not np.isfinite(naive).all() or psnr(np.clip(naive, 0, 1), np.clip(want, 0, 1)) < 40  # broken without it
    safe = fp16_from_onnx(fp32, tmp_path / "fp16.onnx")
    meta = {p.key: p.value for p in onnx.load(str(safe)).metadata_props}
    assert set(meta["ganrt.fp32_nodes"].split(",")) == set(blocked)
    got = session(safe).run(None, {"input": x})[0]
    assert np.isfinite(got).all() and psnr(np.clip(got, 0, 1), np.clip(want, 0, 1)) >= 40


CALIBRATION_MEMORY = """
import resource, numpy as np, onnxruntime
from onnx import helper, numpy_helper, TensorProto
from ganrt.export.fp16 import calibrate
shape, nodes, weights, last = [1, 16, 256, 256], [], [], "input"  # 4 MiB activations, 240 of them
for i in range(120):
    weights.append(numpy_helper.from_array(np.full([1], 1.01, np.float32), f"k{i}"))
    nodes += [helper.make_node("Mul", [last, f"k{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"r{i}"])]
    last = f"r{i}"
graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info(last, TensorProto.FLOAT, shape)], weights)
x = np.random.default_rng(0).random(shape, np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ranges, _ = calibrate(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), [x, x])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, max(ranges.values()))
"""


def test_calibration_frees_each_activation_once_measured():
    """The calibration pass probes every tensor, yet holds no more than a plain run: a chain of 240 4 MiB
    activations costs 37 MiB more at peak, against 989 MiB when the probes ran after the whole graph
    (GFPGAN: 2.3 GB against 5.3 GB; x4plus's fp16 export 1.4 GB against 2.8 GB)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", CALIBRATION_MEMORY], capture_output=True, text=True, check=True).stdout
    grown_mib, largest = out.split()
    assert int(grown_mib) < 200 and abs(float(largest) - 1.01 ** 120) < 1e-2 * 1.01 ** 120, out


class FourierUnit:
    """LaMa's spectral transform, small: rfftn, a 1×1 convolution over (real, imaginary), irfftn."""

    def __new__(cls, norm: str, dims: tuple[int, ...]):
        import torch

        class _Unit(torch.nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(1)
                self.conv = torch.nn.Conv2d(6, 6, 1)

            def forward(self, x):
                f = torch.fft.rfftn(x, dim=dims, norm=norm)
                re, im = self.conv(torch.cat((f.real, f.imag), 1)).chunk(2, 1)
                return torch.fft.irfftn(torch.complex(re, im), s=x.shape[-len(dims):], dim=dims, norm=norm)

        return _Unit().eval()


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")
@pytest.mark.parametrize("dims", [(-2, -1), (1, 2, 3)])
@pytest.mark.parametrize("norm", ["ortho", "backward", "forward"])
def test_ffts_export_as_dft_nodes_that_match_torch_at_every_size(norm, dims, photos):
    """The TorchScript exporter writes rfftn/irfftn as ONNX DFT nodes (LaMa in 5 s, not torch.export's 70 s);
    odd and even sizes, batches and every norm give torch's result."""
    import io

    import torch

    from ganrt.export.onnx_fft import fft_as_dft

    unit = FourierUnit(norm, dims)
    axes = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    with fft_as_dft(17):
        torch.onnx.export(unit, (torch.rand(1, 3, 40, 56),), buf, opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": axes, "output": axes})
    proto = onnx.load_from_string(buf.getvalue())
    assert sum(n.op_type == "DFT" for n in proto.graph.node) == 2 * len(dims)
    s = session(buf.getvalue())
    pictures = [p.transpose(2, 0, 1)[None].astype(np.float32) / 255 for p in photos.values()]
    for x in (pictures[0][..., :40, :56], pictures[1], np.concatenate([pictures[0][..., :33, :47]] * 2)):
        with torch.inference_mode():
            want = unit(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        got = s.run(None, {"input": np.ascontiguousarray(x)})[0]
        assert got.shape == want.shape == x.shape
        # float32 FFT rounding only: a pixel level is 4e-3
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max()), (norm, dims, x.shape)


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")
@pytest.mark.parametrize("size", ["grown", "shrunk", "fixed", "none"])
def test_irfftn_crops_and_pads_to_its_s_as_torch_does(size, photos):
    """irfftn's ``s`` (traced from the input's size, or constant) crops or zero-pads the spectrum on every
    axis; with no ``s`` the last axis comes back even."""
    import io

    import torch

    from ganrt.export.onnx_fft import fft_as_dft

    class Resized(torch.nn.Module):
        def forward(self, x):
            f = torch.fft.rfftn(x, dim=(-2, -1))
            h, w = x.shape[-2:]
            s = {"grown": (h + 3, w + 6), "shrunk": (h - 2, w - 5), "fixed": (20, 9), "none": None}[size]
            return torch.fft.irfftn(torch.complex(f.real * 1.1, f.imag - 0.1), s=s, dim=(-2, -1))

    axes = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    with fft_as_dft(17):
        torch.onnx.export(Resized(), (torch.rand(1, 3, 16, 12),), buf, opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["output"], dynamic_axes={"input": axes, "output": axes})
    s = session(buf.getvalue())
    for picture in photos.values():
        x = np.ascontiguousarray(picture.transpose(2, 0, 1)[None, :, :31, :45], dtype=np.float32) / 255
        with torch.inference_mode():
            want = Resized()(torch.from_numpy(x)).numpy()
        got = s.run(None, {"input": x})[0]
        assert got.shape == want.shape and np.abs(got - want).max() <= 1e-4, size


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")
def test_complex_ops_outside_an_fft_are_refused_and_the_exporter_is_left_as_it_was():
    """`real` of a real tensor is not one of rfftn's results: the TorchScript export refuses (ganrt then
    tries the dynamo exporter), and after the block the exporter knows no FFT again."""
    import io

    import torch

    from ganrt.export.onnx_fft import fft_as_dft

    class RealPart(torch.nn.Module):
        def forward(self, x):
            return torch.view_as_real(torch.complex(x, x * 2)).sum(-1) + torch.real(x)

    with fft_as_dft(17), pytest.raises(Exception):
        torch.onnx.export(RealPart(), (torch.rand(1, 3, 8, 8),), io.BytesIO(), opset_version=17, dynamo=False)
    with pytest.raises(Exception, match="fft_rfftn"):
        torch.onnx.export(FourierUnit("ortho", (-2, -1)), (torch.rand(1, 3, 8, 8),), io.BytesIO(),
                          opset_version=17, dynamo=False)


def test_calibration_pictures_come_at_a_face_networks_own_size():
    """A face network takes faces of its own size only (512² for GFPGAN): its fp16 calibration feeds the
    photos and harsh pictures at that size; other kinds get them as they are (64²)."""
    from dataclasses import replace

    from ganrt.data import calibration_inputs
    from ganrt.kinds import ModelSpec

    face = ModelSpec("GFPGAN", 1, 3, 3, min_size=512, kind_name="face-restoration")
    cases = calibration_inputs(face)
    assert len(cases) == 9 and all(len(c) == 1 and c[0].shape == (1, 3, 512, 512) for c in cases)
    assert all(c[0].dtype == np.float32 and 0 <= c[0].min() and c[0].max() <= 1 for c in cases)
    assert cases[0][0].std() > 0.05  # a photo, not a flat field
    assert {c[0].shape for c in calibration_inputs(replace(face, kind_name="super-resolution"))} == {(1, 3, 64, 64)}


@pytest.mark.slow
def test_a_face_network_exports_at_its_own_size(tmp_path, random_gfpgan):
    """`ganrt export` of a GFPGAN: a graph of 512×512 faces, checked against torch on a photo resized to
    that size (odd-size crops of 64² photos made it fail inside GFPGAN), and another --shape refused."""
    out = tmp_path / "gfpgan.onnx"
    result = cli("export", str(random_gfpgan), "-o", str(out), "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert "parity 1x3x512x512: " in result.output and "→ ok" in result.output
    assert "static 512x512, batch 1" in result.output
    dims = [d.dim_value for d in onnx.load(str(out), load_external_data=False).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 512, 512]
    wrong = cli("export", str(random_gfpgan), "-o", str(tmp_path / "x.onnx"), "--shape", "256x256")
    assert wrong.exit_code == 2 and "takes 512x512 images only" in wrong.output
