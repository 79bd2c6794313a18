"""`ganrt doctor`: what this machine offers, what ganrt would pick, and what is cached."""

from __future__ import annotations

import json

import typer

from ganrt.cli.common import JsonOpt, console, handle_errors


def _report() -> dict:
    from ganrt import __version__
    from ganrt.bench.machine import describe_machine
    from ganrt.cache import cache_root

    info: dict = {"ganrt": __version__, "machine": describe_machine()}
    try:
        import torch

        info["torch"] = {"version": torch.__version__, "cuda_build": torch.version.cuda,
                         "cuda_available": torch.cuda.is_available()}
        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            info["torch"]["gpu_free_gib"] = round(free / 2**30, 1)
    except Exception as exc:  # noqa: BLE001
        info["torch"] = {"error": str(exc)}
    try:
        import onnxruntime as ort

        info["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers()}
    except Exception as exc:  # noqa: BLE001
        info["onnxruntime"] = {"error": str(exc)}
    try:
        import openvino as ov

        core = ov.Core()
        info["openvino"] = {"version": ov.__version__,
                            "cpu_capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}
    except Exception as exc:  # noqa: BLE001
        info["openvino"] = {"error": str(exc)}
    info["tensorrt"] = _flavours(info["machine"]["gpu"])
    info["media"] = _media()
    info["choice"] = _choice()
    from ganrt.cache import usage

    root = cache_root()
    info["cache"] = {
        "directory": str(root),
        "kinds": {row["kind"]: {"files": row["files"], "bytes": row["bytes"]} for row in usage()},
        "models": sorted(p.name for p in (root / "models").glob("*.safetensors")),
        "onnx": sorted(p.name for p in (root / "onnx").glob("*.onnx")),
        "engines": _engines(root / "engines"),
    }
    return info


def _media() -> dict:
    """What decodes and encodes the files: the bundled ffmpeg, and the libraries of the image formats that
    need one (a format whose library is missing is "not an image" to the archive commands)."""
    from PIL import features

    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_version()
    except Exception as exc:  # noqa: BLE001
        ffmpeg = f"not usable: {exc}"
    try:
        import pillow_heif

        heic = f"pillow-heif {pillow_heif.__version__}, libheif {pillow_heif.libheif_version()}"
    except ImportError:
        heic = "not installed (pip install pillow-heif)"
    formats = {"heic": heic}
    for name, feature in (("avif", "avif"), ("jp2", "jpg_2000"), ("webp", "webp")):
        formats[name] = f"{feature} {features.version(feature)}" if features.check(feature) else "not in this Pillow"
    return {"ffmpeg": ffmpeg, "image formats": formats}


def _flavours(gpu: dict | None) -> dict:
    """Each TensorRT flavour: installed or not, and what it can do on this machine, with why."""
    from ganrt.export.trt_flavours import FLAVOURS, what_it_can_do

    capability = gpu["capability"] if gpu else None
    out = {}
    for flavour in FLAVOURS.values():
        try:
            ability, why = what_it_can_do(flavour, capability)
            version = flavour.version() if flavour.installed() else None
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not fail
            ability, why, version = "broken", f"{type(exc).__name__}: {exc}", None
        out[flavour.name] = {"version": version, "can": ability, "why": why}
    return out


def _choice() -> dict:
    from ganrt.runtime.choice import explain_choice

    try:
        return explain_choice()
    except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not fail
        return {"error": str(exc)}


def _engines(folder) -> list[dict]:
    if not folder.is_dir():
        return []
    from ganrt.export.engine_cache import EngineCache

    return [{"file": e["file"], "model": e.get("model"), "precision": e["key"]["precision"],
             "gpu": e["key"]["gpu_name"], "trt": e["key"]["trt_version"],
             "profiles": e["key"]["profiles"], "build_seconds": e.get("build_seconds")}
            for e in EngineCache(folder).entries()]


@handle_errors
def doctor(as_json: JsonOpt = False) -> None:
    """Report Python, torch/CUDA, GPU, ONNX Runtime, OpenVINO, TensorRT, ffmpeg, image formats, choices, cache."""
    info = _report()
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    from rich.table import Table
    from rich.text import Text

    m = info["machine"]
    table = Table(show_header=False, title="ganrt doctor")
    rows = [
        ("ganrt", info["ganrt"]),
        ("python", m["python"]),
        ("cpu", f"{m['cpu']}, {m['cores']} cores, bf16: {', '.join(m['cpu_bf16']) or 'none'}"),
        ("gpu", f"{m['gpu']['name']}, {m['gpu']['memory_gib']} GiB, sm {m['gpu']['capability']}" if m["gpu"] else "none (CPU only)"),
        ("torch", _fmt(info["torch"])),
        ("onnxruntime", _fmt(info["onnxruntime"])),
        ("openvino", _fmt(info["openvino"])),
        *((f"tensorrt ({name})", f"{v['version'] or 'not installed'}: {v['can']} ({v['why']})")
          for name, v in info["tensorrt"].items()),
        ("ffmpeg", info["media"]["ffmpeg"]),
        ("image formats", _fmt(info["media"]["image formats"])),
        ("auto choice", _fmt(info["choice"])),
        ("cache", f"{info['cache']['directory']}: " + ", ".join(
            f"{kind} {v['bytes'] / 2**20:.0f} MB" for kind, v in info["cache"]["kinds"].items())
         + " (`ganrt cache` shows and cleans it)"),
        ("cached models", ", ".join(info["cache"]["models"]) or "none"),
        ("cached onnx", f"{len(info['cache']['onnx'])} file(s)"),
        ("cached engines", f"{len(info['cache']['engines'])} engine(s)"),
    ]
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console().print(table)


def _fmt(d: dict) -> str:
    return "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in d.items())
