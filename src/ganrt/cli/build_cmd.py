"""`ganrt build`: a TensorRT engine built once per GPU, TensorRT version, graph and shape, then reused."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.kinds import SUPER_RESOLUTION
from ganrt.cli.common import OverwriteOpt, QuietOpt, console, flag, handle_errors, setup_logging


@handle_errors
def build(
    model: Annotated[str, typer.Argument(help="Built-in model name, model file, or an .onnx file from `ganrt export`.")],
    precision: Annotated[str, typer.Option("--precision", "-p", help="fp16 (default), fp32 or bf16.")] = "fp16",
    flavour: Annotated[str, typer.Option("--flavour", help="auto, tensorrt (TensorRT 10/11) or rtx (TensorRT for RTX; builds without a GPU).")] = "auto",
    target: Annotated[str | None, typer.Option("--target", help="TensorRT for RTX: GPUs to build for, e.g. sm86,sm89,sm120 (default: this GPU, or every RTX target without a GPU).")] = None,
    shape: Annotated[str | None, typer.Option("--shape", help="Static input HxW (min = opt = max).")] = None,
    min_hw: Annotated[str | None, typer.Option("--min", help="Smallest input HxW of a dynamic profile.")] = None,
    opt_hw: Annotated[str | None, typer.Option("--opt", help="Input HxW the kernels are tuned for.")] = None,
    max_hw: Annotated[str | None, typer.Option("--max", help="Largest input HxW of a dynamic profile.")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Largest batch the engine takes.")] = 1,
    streams: Annotated[int, typer.Option("--streams", help="Execution contexts the engine will serve at once.")] = 1,
    opt_level: Annotated[int, typer.Option("--opt-level", help="Builder optimisation level 0-5 (3 is TensorRT's default).")] = 3,
    workspace: Annotated[int | None, typer.Option("--workspace", help="Workspace limit in MiB.")] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Where engines live (default: the ganrt cache).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the engine to this file (to ship it).")] = None,
    device: Annotated[str, typer.Option("--device", "-d", help="CUDA device of the GPU to build for, e.g. cuda or cuda:1.")] = "cuda",
    as_json: Annotated[bool, flag("--json", help="Print a JSON summary (flavour, targets, precision, profiles, size, seconds).")] = False,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build (or reuse) a TensorRT engine for a model and print where it is."""
    setup_logging(quiet or as_json)
    import json
    import time
    from functools import partial

    from ganrt.validate import check_choice, check_device, check_own_size
    from ganrt.errors import UsageError
    from ganrt.export.trt_build import GRAPH_PRECISION, BuildOptions, cached_engine
    from ganrt.export.trt_flavours import choose_flavour, parse_targets
    from ganrt.export.trt_profiles import Profile
    from ganrt.fsutil import atomic_write_bytes
    from ganrt.machine import gpu_identity
    from ganrt.pipelines.archive.plan import OutputPlan
    from ganrt.runtime.trt_backend import with_stream_copies

    check_choice(precision, ("fp16", "fp32", "bf16"), "--precision")
    check_device(device if device != "auto" else "cuda")
    if not 0 <= opt_level <= 5:
        raise UsageError("--opt-level must be between 0 and 5")
    if batch < 1 or streams < 1 or (workspace is not None and workspace < 1):
        raise UsageError("--batch, --streams and --workspace must be positive")
    hws = _profile_sizes(shape, min_hw, opt_hw, max_hw, batch)
    if output is not None:
        if output.suffix.lower() not in (".engine", ".plan", ".trt"):
            raise UsageError("--output must end in .engine, .plan or .trt")
        OutputPlan(overwrite=overwrite).claim(output, "--output")
    gpu = gpu_identity(device)
    capability = gpu[1] if gpu else None
    chosen = choose_flavour(flavour, capability)  # fail fast, before any export work
    targets = parse_targets(target, chosen, capability)
    start = time.perf_counter()
    asked = list(hws) if shape or min_hw or opt_hw or max_hw else []
    onnx_path, name, channels, one_size = _graph_for(model, GRAPH_PRECISION[precision], partial(
        check_own_size, asked=asked, flags="--shape, --min, --opt and --max"))
    if one_size:  # a face network: its own size only
        shape, hws = f"{one_size}x{one_size}", ((one_size, one_size),) * 3
    profile = (Profile.static(hws[0], batch=batch, channels=channels) if shape
               else Profile.from_hw(*hws, batch=batch, channels=channels))
    say = (lambda msg: None) if quiet or as_json else (lambda msg: console(stderr=True).print(
        f"[{time.perf_counter() - start:6.1f} s] {msg}", markup=False))
    options = BuildOptions(precision, opt_level, workspace, device, chosen.name,
                           targets if chosen.builds_without_gpu else ())
    engine, reused = cached_engine(onnx_path, with_stream_copies([profile], streams), options, name=name,
                                   cache_dir=cache_dir, report=say)
    if output is not None:
        atomic_write_bytes(output, engine.data)
    seconds = time.perf_counter() - start
    summary = {"model": name, "flavour": chosen.name, "version": chosen.version(), "targets": list(targets),
               "gpu": gpu[0] if gpu else None, "precision": precision, "profiles": [profile.as_dict()],
               "streams": streams, "engine": str(engine.path), "output": str(output) if output else None,
               "bytes": len(engine.data), "reused": reused,
               "build_seconds": engine.sidecar.get("build_seconds"), "seconds": round(seconds, 3)}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    elif not quiet:
        where = f"for {', '.join(targets)}" if chosen.builds_without_gpu else f"for {gpu[0]}"
        console().print(f"{'reused' if reused else 'built'} a {chosen.description} engine {where}: "
                        f"{output or engine.path} ({len(engine.data) / 2**20:.2f} MB, {precision}, "
                        f"{profile.describe()}) in {seconds:.2f} s", markup=False)


def _profile_sizes(shape: str | None, min_hw: str | None, opt_hw: str | None, max_hw: str | None,
                   batch: int) -> tuple[tuple[int, int], ...]:
    """(min, opt, max) input sizes of the profile the options ask for, checked before anything slow."""
    from ganrt.errors import UsageError
    from ganrt.export.trt_profiles import DEFAULT_MAX_HW, DEFAULT_MIN_HW, DEFAULT_OPT_HW, Profile, parse_hw

    if shape and (min_hw or opt_hw or max_hw):
        raise UsageError("use either --shape or --min/--opt/--max, not both")
    if shape:
        hws = (parse_hw(shape),) * 3
    else:
        hws = (parse_hw(min_hw, "--min") if min_hw else DEFAULT_MIN_HW,
               parse_hw(opt_hw, "--opt") if opt_hw else DEFAULT_OPT_HW,
               parse_hw(max_hw, "--max") if max_hw else DEFAULT_MAX_HW)
    Profile.from_hw(*hws, batch=batch)  # min ≤ opt ≤ max
    return hws


def _graph_for(model: str, graph_precision: str, check_own_size) -> tuple[Path, str, int, int | None]:
    """(ONNX path, name, input channels, the one input size of a network that takes no other, else
    None): an .onnx file as given, or the model's cached export. ``check_own_size(name, size)`` sees a
    one-size network before any export work."""
    from ganrt.errors import UsageError
    from ganrt.kinds import get_kind

    if model.lower().endswith(".onnx"):
        import onnx

        path = Path(model)
        if not path.is_file():
            raise UsageError(f"ONNX file not found: {path}")
        proto = onnx.load(str(path), load_external_data=False)
        meta = {p.key: p.value for p in proto.metadata_props}
        if meta.get("ganrt.precision", graph_precision) != graph_precision:
            raise UsageError(f"{path.name} is a {meta['ganrt.precision']} graph; this engine needs a "
                             f"{graph_precision} one (ganrt export --precision {graph_precision})")
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        name = meta.get("ganrt.model", path.stem)
        one_size = int(meta.get("ganrt.min_size", 0)) if get_kind(meta.get("ganrt.kind", SUPER_RESOLUTION)).one_size \
            else None
        if one_size:
            check_own_size(name, one_size)
        return path, name, dims[1].dim_value or 3, one_size
    from ganrt.export.onnx_cache import cached_onnx
    from ganrt.models import load_model

    loaded = load_model(model)
    one_size = loaded.min_size if get_kind(loaded.kind).one_size else None
    if one_size:
        check_own_size(loaded.name, one_size)
    return cached_onnx(loaded, graph_precision), loaded.name, loaded.in_channels, one_size
