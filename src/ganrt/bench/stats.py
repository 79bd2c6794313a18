"""Latency statistics the way trtexec reports them: mean, median, percentiles, min, max, throughput."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    count: int
    mean_ms: float
    median_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    images_per_s: float
    megapixels_per_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(seconds: list[float] | np.ndarray, *, batch: int = 1, pixels_per_image: int = 0,
              streams: int = 1) -> LatencyStats:
    """Statistics over per-call latencies (seconds). Throughput counts ``batch`` images per call and
    ``streams`` calls in flight at once (so it is images / mean latency × streams)."""
    t = np.asarray(seconds, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings to summarise")
    if (t <= 0).any() or not np.isfinite(t).all():
        raise ValueError("timings must be positive and finite")
    ms = t * 1e3
    mean = float(ms.mean())
    ips = batch * streams / (mean / 1e3)
    return LatencyStats(
        count=int(t.size),
        mean_ms=mean,
        median_ms=float(np.percentile(ms, 50)),
        p90_ms=float(np.percentile(ms, 90)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        min_ms=float(ms.min()),
        max_ms=float(ms.max()),
        images_per_s=ips,
        megapixels_per_s=ips * pixels_per_image / 1e6,
    )
