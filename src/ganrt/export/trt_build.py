"""ONNX → TensorRT engine, built once and cached (``engine_cache``), by either TensorRT flavour.

Written against the TensorRT ≥ 10 Python API, which TensorRT for RTX shares.
Networks are strongly typed (the only kind TensorRT 11 and TensorRT for RTX
build), so the precision comes from the graph: fp16 engines are built from
the fp16 ONNX (``ganrt.export.fp16``), fp32 engines from the fp32 one. bf16
uses the builder's BF16 flag on a weakly typed network where the installed
TensorRT still has it (10.x). What differs between the flavours (build
targets, timing cache or runtime cache) is asked of ``trt_flavours.Flavour``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ganrt.errors import BackendUnavailableError, EngineBuildError
from ganrt.export.engine_cache import CachedEngine, EngineCache, EngineKey
from ganrt.export.trt_flavours import Flavour, get_flavour
from ganrt.export.trt_profiles import Profile
from ganrt.fsutil import sha256_file

log = logging.getLogger(__name__)

GRAPH_PRECISION = {"fp16": "fp16", "fp32": "fp32", "bf16": "fp32"}


def gpu_identity(device: str = "cuda") -> tuple[str, str]:
    """(GPU name, compute capability) of ``device``; raises when there is no CUDA GPU."""
    from ganrt.machine import gpu_identity as identity

    found = identity(device)
    if found is None:
        raise BackendUnavailableError("TensorRT engines run on an NVIDIA GPU with CUDA; none is available here")
    return found


@dataclass(frozen=True)
class BuildOptions:
    precision: str = "fp16"
    opt_level: int = 3
    workspace_mib: int | None = None
    device: str = "cuda"
    flavour: str = "tensorrt"
    targets: tuple[str, ...] = ()  # TensorRT for RTX: compute capabilities to build for ('sm89', …)


def _progress_monitor(trt, report):
    """A TensorRT IProgressMonitor that reports phases with their elapsed time."""

    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self._start: dict[str, float] = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            self._start[phase_name] = time.perf_counter()
            if parent_phase is None:
                report(f"{phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name, step):
            return True  # never cancel

        def phase_finish(self, phase_name):
            began = self._start.pop(phase_name, None)
            if began is not None and not self._start:
                report(f"{phase_name} done in {time.perf_counter() - began:.1f} s")

    return Monitor()


def parse_network(flavour: Flavour, onnx_path: Path, *, strongly_typed: bool = True):
    """(builder, network, parser) with the ONNX graph parsed; EngineBuildError naming the parser's errors.

    Keep the parser as long as the network: the network refers to the weights it holds."""
    trt = flavour.load()
    builder = trt.Builder(flavour.logger())
    flags = 0
    if strongly_typed:
        if "STRONGLY_TYPED" not in dir(trt.NetworkDefinitionCreationFlag):
            raise BackendUnavailableError(f"TensorRT {trt.__version__} is too old: ganrt needs strongly typed "
                                          "networks (TensorRT ≥ 10.12)")
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, flavour.logger())
    if not parser.parse(_tensorrt_graph(onnx_path), str(onnx_path)):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        raise EngineBuildError(f"{flavour.description} {trt.__version__} could not parse {onnx_path.name}: "
                               f"{parse_errors(errors)}")
    return builder, network, parser


def _tensorrt_graph(onnx_path: Path) -> bytes:
    """The graph as TensorRT parses it: its DFT nodes (LaMa's FFT convolutions; TensorRT has no DFT
    layer) as matrix products (``export.dft_matmul``); any other graph as it is."""
    from ganrt.export.dft_matmul import dft_as_matmul

    data = onnx_path.read_bytes()
    proto = _graph_with_dft(data)
    if proto is None:
        return data
    try:
        return dft_as_matmul(proto).SerializeToString()
    except NotImplementedError as exc:
        raise EngineBuildError(f"{onnx_path.name} holds DFT nodes TensorRT cannot be given as matrix products: "
                               f"{exc}") from None


def graph_rewrite(onnx_path: Path) -> str:
    """What ``_tensorrt_graph`` changes in this graph, for the engine key: the DFT rewrite's version,
    or "" for a graph TensorRT parses as it is."""
    from ganrt.export.dft_matmul import REWRITE_VERSION

    return REWRITE_VERSION if _graph_with_dft(onnx_path.read_bytes()) is not None else ""


def _graph_with_dft(data: bytes):
    """The parsed graph if it holds DFT nodes, else None (without parsing, for most graphs: the op
    name is stored as plain bytes)."""
    import onnx

    from ganrt.export.dft_matmul import has_dft

    if b"DFT" not in data:
        return None
    proto = onnx.load_from_string(data)
    return proto if has_dft(proto) else None


def parse_errors(errors, most: int = 3) -> str:
    """The parser's errors in a few words: one entry per operator and reason, with how many nodes and
    the first one's name (a graph may fail on a hundred nodes of one operator for one reason)."""
    kinds: dict[tuple[str, str], list[str]] = {}
    for error in errors:
        operator = getattr(error, "node_operator", lambda: "")() or "graph"
        reason = " ".join(str(error.desc()).split())[:200]
        if "Plugin not found" in reason or reason == "false":  # the importer has no layer for the operator
            reason = "no TensorRT layer or plugin for this operator"
        kinds.setdefault((operator, reason), []).append(getattr(error, "node_name", lambda: "")() or "?")
    parts = [f"{operator}: {reason} ({len(names)} node{'s' if len(names) > 1 else ''}, first {names[0]})"
             for (operator, reason), names in list(kinds.items())[:most]]
    if len(kinds) > most:
        parts.append(f"and {len(kinds) - most} more kinds of error")
    return "; ".join(parts)


def engine_from_onnx(onnx_path: Path, profiles: tuple[Profile, ...], options: BuildOptions, *,
                     timing_cache: bytes = b"", report=lambda msg: None) -> tuple[bytes, bytes]:
    """Build a serialized engine. Returns (engine bytes, updated timing cache bytes)."""
    flavour = get_flavour(options.flavour)
    trt = flavour.load()
    weakly_typed_bf16 = options.precision == "bf16"
    if weakly_typed_bf16 and not flavour.bf16_flag():
        raise BackendUnavailableError(f"{flavour.description} {trt.__version__} builds bf16 only from a bf16 graph, "
                                      "which ganrt does not export yet; use --precision fp16")
    builder, network, _parser = parse_network(flavour, onnx_path, strongly_typed=not weakly_typed_bf16)
    config = builder.create_builder_config()
    if weakly_typed_bf16:
        config.set_flag(trt.BuilderFlag.BF16)
    config.builder_optimization_level = options.opt_level
    if options.workspace_mib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    if options.targets and flavour.builds_without_gpu:
        config.num_compute_capabilities = len(options.targets)
        for i, target in enumerate(options.targets):
            config.set_compute_capability(getattr(trt.ComputeCapability, target.upper()), i)
    for profile in profiles:
        config.add_optimization_profile(_trt_profile(builder, network, profile, onnx_path))
    cache = None
    if flavour.timing_cache:
        cache = config.create_timing_cache(timing_cache)
        config.set_timing_cache(cache, ignore_mismatch=False)
    if hasattr(trt, "IProgressMonitor"):
        config.progress_monitor = _progress_monitor(trt, report)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        said = "; ".join(flavour.logger().errors) or "it gave no reason"
        raise EngineBuildError(f"{flavour.description} failed to build an engine from {onnx_path.name}: {said}")
    return bytes(serialized), bytes(config.get_timing_cache().serialize()) if cache is not None else b""


def _trt_profile(builder, network, profile: Profile, onnx_path: Path):
    """A profile for every network input: ``profile`` is in NCHW image terms (a generator's output
    size); the model's kind turns it into each input's shape (noise vectors, masks…)."""
    from ganrt.export.onnx_export import spec_from_onnx

    spec = spec_from_onnx(onnx_path)
    kind = spec.kind
    mins, opts, maxs = (kind.shapes(spec, s[0], s[2], s[3]) for s in (profile.min, profile.opt, profile.max))
    trt_profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        name = network.get_input(i).name
        k = kind.inputs.index(name) if name in kind.inputs else i
        trt_profile.set_shape(name, mins[k], opts[k], maxs[k])
    return trt_profile


def engine_key(onnx_path: Path, profiles: tuple[Profile, ...], options: BuildOptions) -> EngineKey:
    flavour = get_flavour(options.flavour)
    if flavour.builds_without_gpu:  # one engine serves every GPU of its targets
        gpu, capability = "", ",".join(options.targets)
    else:
        gpu, capability = gpu_identity(options.device)
    return EngineKey(onnx_sha256=sha256_file(onnx_path), trt_version=flavour.version(), gpu_name=gpu,
                     compute_capability=capability, profiles=tuple(profiles), precision=options.precision,
                     opt_level=options.opt_level, workspace_mib=options.workspace_mib, flavour=flavour.name,
                     targets=tuple(options.targets), graph_rewrite=graph_rewrite(onnx_path))


def cached_engine(onnx_path: Path, profiles: tuple[Profile, ...], options: BuildOptions, *, name: str,
                  cache_dir: str | Path | None = None, report=lambda msg: None) -> tuple[CachedEngine, bool]:
    """The engine for these inputs: from the cache, or built now and stored. Returns (engine, reused)."""
    flavour = get_flavour(options.flavour)
    key = engine_key(onnx_path, profiles, options)
    cache = EngineCache(cache_dir)
    hit = cache.load(key, name)
    if hit is not None:
        return hit, True
    where = f"for {', '.join(options.targets)}" if flavour.builds_without_gpu else "for this GPU"
    report(f"building a {flavour.description} {options.precision} engine for {name} {where} "
           f"({', '.join(p.describe() for p in profiles)}); this happens once")
    start = time.perf_counter()
    data, timing = engine_from_onnx(onnx_path, profiles, options,
                                    timing_cache=cache.read_timing_cache(key) if flavour.timing_cache else b"",
                                    report=report)
    seconds = time.perf_counter() - start
    if flavour.timing_cache:
        cache.write_timing_cache(key, timing)
    stored = cache.store(key, name, data, build_seconds=seconds, extra={
        "onnx": str(onnx_path), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    report(f"engine built in {seconds:.1f} s: {stored.path}")
    return stored, False
