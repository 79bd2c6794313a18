"""Measure engines the way trtexec does, one combination at a time, never aborting the whole run.

Per combination (backend, precision, device, shape, batch, streams):
- first-run cost: engine build or session creation plus the first call at the
  benchmark shape (where OpenVINO and TensorRT-RTX do their last compiling), timed;
- warm-up by time, then at least ``iterations`` calls *and* at least ``duration_s``;
- inputs are real photos resized to the shape, rotated among several buffers (never zeros);
- on CUDA, GPU compute time is taken with CUDA events around the device work and
  host latency (copies and conversions included) with the wall clock; on CPU, wall time;
- peak memory: device memory in use on CUDA, the process RSS sampled during the run on CPU;
- fidelity: PSNR of the output against the fp32 torch reference on a real photo;
- on CUDA, the fraction of the measured fp16 matmul peak that the model's FLOPs reach.
A combination that cannot run becomes a row with its status and reason.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ganrt.bench.stats import summarize

FIDELITY_MAX_PIXELS = 128 * 128


@dataclass(frozen=True)
class Combo:
    backend: str
    precision: str
    device: str
    height: int
    width: int
    batch: int = 1
    streams: int = 1

    @property
    def shape(self) -> str:
        return f"{self.height}x{self.width}"


@dataclass
class BenchRow:
    model: str
    backend: str
    precision: str
    device: str
    shape: str
    batch: int
    streams: int
    status: str = "ok"
    reason: str = ""
    iterations: int = 0
    mean_ms: float | None = None
    median_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    gpu_compute_median_ms: float | None = None
    images_per_s: float | None = None
    megapixels_per_s: float | None = None
    peak_memory_mb: float | None = None
    engine_size_mb: float | None = None
    first_run_s: float | None = None
    psnr_db: float | None = None
    roofline_fraction: float | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Method:
    warmup_ms: float = 200.0
    duration_s: float = 3.0
    iterations: int = 10


def photo_mosaic(h: int, w: int, seed: int = 0) -> np.ndarray:
    """An h×w uint8 RGB image tiled from the real calibration photos (flipped at random).

    Resizing a small photo up to a benchmark shape would give a texture-less, blurred input, on
    which a GAN hallucinates detail that reacts to the slightest rounding; a mosaic of real crops
    keeps real photographic texture at any size."""
    from ganrt.data import calibration_photos

    photos = list(calibration_photos().values())
    rng = np.random.default_rng(seed)
    side = photos[0].shape[0]
    rows = []
    for _ in range(-(-h // side)):
        row = []
        for _ in range(-(-w // side)):
            p = photos[rng.integers(len(photos))]
            row.append(p[:, ::-1] if rng.integers(2) else p)
        rows.append(np.hstack(row))
    return np.ascontiguousarray(np.vstack(rows)[:h, :w])


def real_batches(h: int, w: int, batch: int, count: int = 3) -> list[np.ndarray]:
    """``count`` different NHWC uint8 batches of real-photo mosaics at h×w."""
    return [np.stack([photo_mosaic(h, w, seed=k * batch + i) for i in range(batch)]) for k in range(count)]


class RssSampler:
    """Peak RSS of this process while it runs (sampled every 20 ms)."""

    def __init__(self):
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR for the JSON rows: 999 stands for identical (JSON has no infinity)."""
    from ganrt.quality import psnr

    value = psnr(a, b)
    return 999.0 if value == float("inf") else value


def _engine_size_mb(engine, model) -> float | None:
    path = getattr(engine, "onnx_path", None)
    if path is not None:
        return path.stat().st_size / 2**20
    if engine.backend == "tensorrt":
        return None
    return model.params * {"fp32": 4, "fp16": 2, "bf16": 2}.get(engine.precision, 4) / 2**20


def _status_of(exc: BaseException) -> tuple[str, str]:
    from ganrt.errors import BackendUnavailableError

    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, BackendUnavailableError):
        return "unavailable", text
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return "out of memory", text
    return "failed", f"{type(exc).__name__}: {text}"


class Bench:
    def __init__(self, model, method: Method = Method(), *, threads: int | None = None):
        from ganrt.kinds import ModelSpec

        self.model = model
        self.spec = ModelSpec.of(model)
        self.kind = self.spec.kind
        self.method = method
        self.threads = threads
        self._reference: dict[tuple, tuple] = {}
        self._peak_tflops: float | None = None

    # --- pieces ----------------------------------------------------------------------------------
    def inputs(self, h: int, w: int, batch: int, seed: int = 0) -> list[np.ndarray]:
        """Real inputs of the model's kind: photo mosaics (with a mask for inpainters), or noise."""
        if not self.kind.spatial:
            return self.kind.example(self.spec, batch, h, w, seed)
        x = real_batches(h, w, batch, count=1)[0].transpose(0, 3, 1, 2).astype(np.float32) / 255
        x = np.ascontiguousarray(x if self.spec.in_channels == 3 else x.mean(axis=1, keepdims=True))
        return [x, *self.kind.example(self.spec, batch, h, w, seed)[1:]]

    def reference(self, h: int, w: int) -> tuple[list[np.ndarray], np.ndarray]:
        """(inputs, fp32 torch output) at h×w (cached)."""
        if (h, w) not in self._reference:
            from ganrt.runtime.registry import create_engine

            inputs = self.inputs(h, w, 1)
            with create_engine(self.model, backend="torch", device="cpu", precision="fp32", threads=self.threads,
                               guard=False) as ref:
                self._reference[(h, w)] = (inputs, ref.infer(*inputs))
        return self._reference[(h, w)]

    def fidelity_shape(self, combo: Combo) -> tuple[int, int]:
        if combo.height * combo.width <= FIDELITY_MAX_PIXELS:
            return combo.height, combo.width
        return min(combo.height, 128), min(combo.width, 128)

    def peak_tflops(self) -> float:
        if self._peak_tflops is None:
            self._peak_tflops = measured_peak_tflops()
        return self._peak_tflops

    def make_engine(self, combo: Combo):
        from ganrt.runtime.registry import create_engine

        if combo.backend == "tensorrt":
            from ganrt.export.trt_profiles import Profile
            from ganrt.runtime.trt_backend import TrtEngine

            fh, fw = self.fidelity_shape(combo)
            profile = Profile.from_hw((min(fh, combo.height), min(fw, combo.width)), (combo.height, combo.width),
                                      (combo.height, combo.width), batch=combo.batch,
                                      channels=self.spec.in_channels if self.kind.spatial else self.spec.out_channels)
            return TrtEngine.from_model(self.model, precision=combo.precision, device=combo.device,
                                        profiles=[profile], streams=combo.streams)
        if combo.streams != 1:
            from ganrt.errors import BackendUnavailableError

            raise BackendUnavailableError("several streams are a TensorRT feature here; use --streams 1")
        return create_engine(self.model, backend=combo.backend, device=combo.device, precision=combo.precision,
                             threads=self.threads, guard=False)

    # --- one combination -----------------------------------------------------------------------------
    def run(self, combo: Combo, factory=None) -> BenchRow:
        """Measure one combination; ``factory`` makes the engine instead of the registry (peers)."""
        row = BenchRow(self.model.name, combo.backend, combo.precision, combo.device, combo.shape, combo.batch,
                       combo.streams)
        engine = None
        try:
            with RssSampler() as rss:
                t0 = time.perf_counter()
                engine = factory() if factory is not None else self.make_engine(combo)
                row.extra["create_s"] = round(time.perf_counter() - t0, 3)
                first_call = self._measure(engine, combo, row)
                row.first_run_s = row.extra["create_s"] + first_call
                self._fidelity(engine, combo, row)
            if combo.device.startswith("cuda"):
                import torch

                free, total = torch.cuda.mem_get_info()
                row.peak_memory_mb = (total - free) / 2**20
                row.roofline_fraction = self._roofline(row, combo)
            else:
                row.peak_memory_mb = rss.peak / 2**20
            row.engine_size_mb = _engine_size_mb(engine, self.model)
        except Exception as exc:  # noqa: BLE001 - a combination that cannot run is a row, never an abort
            row.status, row.reason = _status_of(exc)
        finally:
            if engine is not None:
                engine.close()
        return row

    def _fidelity(self, engine, combo: Combo, row: BenchRow) -> None:
        from ganrt.kinds import to_unit_range

        fh, fw = self.fidelity_shape(combo)
        inputs, want = self.reference(fh, fw)
        got = engine.infer(*inputs)
        if not np.isfinite(got).all():
            row.extra["nonfinite_values"] = int((~np.isfinite(got)).sum())
        vr = self.spec.value_range
        row.psnr_db = _psnr(to_unit_range(np.nan_to_num(got, nan=vr[1] * 2), vr), to_unit_range(want, vr))

    def _calls(self, combo: Combo) -> tuple[list, object]:
        """(the inputs to rotate through, the call): integer pixels through the tiler's hook for
        kinds that take them, asking for 8-bit pixels back (uploads, conversions and the download
        timed, as a pipeline pays them), else floats."""
        n = combo.batch * combo.streams
        if self.kind.feeds_pixels:
            return [(b,) for b in real_batches(combo.height, combo.width, n)], \
                lambda engine, data: engine.infer_pixels(data[0], 255.0, np.uint8)
        return [tuple(self.inputs(combo.height, combo.width, n, seed=k)) for k in range(3)], \
            lambda engine, data: engine.infer(*data)

    def _measure(self, engine, combo: Combo, row: BenchRow) -> float:
        """Warm up, then time the calls; returns the seconds of the very first call."""
        batches, call = self._calls(combo)
        cuda = combo.device.startswith("cuda")
        sync = _cuda_sync if cuda else (lambda: None)
        m = self.method
        t0 = time.perf_counter()
        call(engine, batches[0])
        sync()
        first_call = time.perf_counter() - t0
        warm_until = time.perf_counter() + m.warmup_ms / 1e3
        i = 1
        while time.perf_counter() < warm_until:  # warm-up by time
            call(engine, batches[i % len(batches)])
            i += 1
        sync()
        host, device_ms = [], []
        started = time.perf_counter()
        while len(host) < m.iterations or time.perf_counter() - started < m.duration_s:
            data = batches[len(host) % len(batches)]
            if cuda and self.kind.feeds_pixels:
                device_ms.append(_device_compute_ms(engine, data[0]))
            t0 = time.perf_counter()
            call(engine, data)
            sync()
            host.append(time.perf_counter() - t0)
        stats = summarize(host, batch=combo.batch * combo.streams, pixels_per_image=combo.height * combo.width)
        row.iterations = stats.count
        for key in ("mean_ms", "median_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "images_per_s",
                    "megapixels_per_s"):
            setattr(row, key, getattr(stats, key))
        if device_ms and all(v is not None for v in device_ms):
            row.gpu_compute_median_ms = float(np.median(device_ms))
        return first_call

    def _roofline(self, row: BenchRow, combo: Combo) -> float | None:
        from ganrt.bench.flops import flops_per_pixel

        compute_ms = row.gpu_compute_median_ms or row.median_ms
        if not compute_ms:
            return None
        flops = flops_per_pixel(self.model) * combo.height * combo.width * combo.batch * combo.streams
        return flops / (compute_ms / 1e3) / 1e12 / self.peak_tflops()


def measured_peak_tflops(n: int = 8192, repeats: int = 20) -> float:
    """The device's achieved dense fp16 matmul rate (TFLOP/s): the roofline's compute ceiling."""
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.float16)
    b = torch.randn(n, n, device="cuda", dtype=torch.float16)
    for _ in range(3):
        a @ b
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    stop.record()
    stop.synchronize()
    return 2 * n**3 * repeats / (start.elapsed_time(stop) / 1e3) / 1e12


def _cuda_sync() -> None:
    import torch

    torch.cuda.synchronize()


def _device_compute_ms(engine, data: np.ndarray) -> float | None:
    """GPU time of the engine's device work alone (input already on the device), by CUDA events."""
    import torch

    forward = getattr(engine, "device_forward", None)
    if forward is None:
        return None
    from ganrt.runtime.cuda_pixels import upload

    x, _size = upload(data, 255.0, engine.device, engine.device_dtype)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    forward(x)
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop)


def default_precision(model, backend: str, device: str) -> str:
    """The precision ``auto`` gives this backend here; fp32 when it cannot tell (the row will say why)."""
    from ganrt.runtime.choice import choose_precision

    try:
        return choose_precision(model, backend, device)
    except Exception:  # noqa: BLE001 - the row will say why
        return "fp32"


def combos_for(model, device: str, sizes: list[tuple[int, int]], batches: list[int], streams: int, *,
               backends: list[str] | None = None, precisions: list[str] | None = None) -> list[Combo]:
    """Every requested combination. Without ``backends``: every backend that runs on ``device``, the
    installed ones only unless precisions were asked for (then the missing ones show as rows).
    Without ``precisions``: each backend's default precision."""
    from ganrt.runtime.registry import BACKENDS, is_installed

    if not backends:
        backends = [info.name for info in BACKENDS if device in info.devices and (precisions or is_installed(info))]
    return [Combo(name, p, device, h, w, b, streams) for name in backends
            for p in (precisions or [default_precision(model, name, device)]) for (h, w) in sizes for b in batches]
