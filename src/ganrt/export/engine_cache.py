"""The TensorRT engine cache: keys from everything that invalidates an engine, validated sidecars.

An engine is stored as ``<name>-<precision>-<key>.engine`` with a JSON
sidecar (flavour and version, GPU or build targets, profile shapes,
precision, ONNX sha256, build time, engine sha256). The key is the sha256 of
every input that changes the engine: ONNX checksum, TensorRT flavour and
version, the GPU (name and capability) or, for TensorRT for RTX, the build
targets, profile (shapes and batch), precision, optimisation level and
workspace. A hit needs the sidecar to match the key and the engine
bytes to match the sidecar's checksum: a corrupt, truncated or mismatched
engine is reported and rebuilt, never loaded. The sidecar is written after
the engine, atomically, so it marks a complete entry. The timing cache lives
beside the engines, one per GPU and TensorRT version. A read-only cache folder
falls back to a temporary one with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ganrt.cache import entry_stem
from ganrt.export.trt_profiles import Profile
from ganrt.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

SIDECAR_VERSION = 2


@dataclass(frozen=True)
class EngineKey:
    onnx_sha256: str
    trt_version: str
    gpu_name: str  # "" for ahead-of-time builds (TensorRT for RTX): any GPU of the targets runs them
    compute_capability: str
    profiles: tuple[Profile, ...]
    precision: str
    opt_level: int = 3
    workspace_mib: int | None = None
    flavour: str = "tensorrt"
    targets: tuple[str, ...] = ()
    graph_rewrite: str = ""  # what ganrt changed in the graph before TensorRT parsed it ("" for nothing)

    def as_dict(self) -> dict:
        rewrite = {"graph_rewrite": self.graph_rewrite} if self.graph_rewrite else {}
        return {
            **rewrite,
            "flavour": self.flavour,
            "targets": list(self.targets),
            "onnx_sha256": self.onnx_sha256,
            "trt_version": self.trt_version,
            "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability,
            "profiles": [p.as_dict() for p in self.profiles],
            "precision": self.precision,
            "opt_level": self.opt_level,
            "workspace_mib": self.workspace_mib,
        }

    def digest(self) -> str:
        blob = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class CachedEngine:
    path: Path
    data: bytes
    sidecar: dict = field(default_factory=dict)


class EngineCache:
    def __init__(self, directory: str | Path | None = None):
        from ganrt.cache import cache_root

        wanted = Path(directory) if directory else cache_root() / "engines"
        self.directory = wanted
        self.fallback = False
        try:
            wanted.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=wanted, prefix=".ganrt-probe", delete=True)
            probe.close()
        except OSError as exc:
            self.directory = Path(tempfile.mkdtemp(prefix="ganrt-engines-"))
            self.fallback = True
            log.warning("engine cache %s is not writable (%s); using %s for this run, so engines will be "
                        "rebuilt next time", wanted, exc.strerror or exc, self.directory)

    def engine_path(self, key: EngineKey, name: str) -> Path:
        return self.directory / f"{entry_stem(name)}-{key.precision}-{key.digest()[:20]}.engine"

    @staticmethod
    def sidecar_path(engine_path: Path) -> Path:
        return engine_path.with_suffix(".json")

    def timing_cache_path(self, key: EngineKey) -> Path:
        return self.directory / f"timing-{entry_stem(key.gpu_name)}-sm{entry_stem(key.compute_capability)}-trt{entry_stem(key.trt_version)}.cache"

    def runtime_cache_path(self, engine_path: Path, capability: str) -> Path:
        """Kernels TensorRT for RTX compiled for one GPU, kept beside its engine."""
        return engine_path.with_name(f"{engine_path.stem}.sm{entry_stem(capability.replace('.', ''))}.runtime-cache")

    def load(self, key: EngineKey, name: str) -> CachedEngine | None:
        """The cached engine for ``key``, or None (with a warning when a bad entry is found)."""
        path = self.engine_path(key, name)
        side = self.sidecar_path(path)
        if not path.exists() and not side.exists():
            return None
        problem = None
        try:
            sidecar = json.loads(side.read_text())
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            problem = f"unreadable ({exc})"
        else:
            if sidecar.get("key") != key.as_dict() or sidecar.get("sidecar_version") != SIDECAR_VERSION:
                problem = "its sidecar does not match this GPU, TensorRT, graph or settings"
            elif hashlib.sha256(data).hexdigest() != sidecar.get("engine_sha256"):
                problem = "the engine file is corrupt or truncated (checksum mismatch)"
        if problem:
            log.warning("cached engine %s is not usable: %s; rebuilding it", path.name, problem)
            return None
        return CachedEngine(path, data, sidecar)

    def store(self, key: EngineKey, name: str, data: bytes, *, build_seconds: float,
              extra: dict | None = None) -> CachedEngine:
        path = self.engine_path(key, name)
        atomic_write_bytes(path, data)
        sidecar = {
            "sidecar_version": SIDECAR_VERSION,
            "key": key.as_dict(),
            "engine_sha256": hashlib.sha256(data).hexdigest(),
            "engine_bytes": len(data),
            "build_seconds": round(build_seconds, 3),
            "model": name,
            **(extra or {}),
        }
        atomic_write_bytes(self.sidecar_path(path), (json.dumps(sidecar, indent=2) + "\n").encode())
        return CachedEngine(path, data, sidecar)

    def read_timing_cache(self, key: EngineKey) -> bytes:
        try:
            return self.timing_cache_path(key).read_bytes()
        except OSError:
            return b""

    def write_timing_cache(self, key: EngineKey, data: bytes) -> None:
        if data:
            atomic_write_bytes(self.timing_cache_path(key), data)

    def entries(self) -> list[dict]:
        """Sidecars of every cached engine (for `ganrt doctor`)."""
        out = []
        for side in sorted(self.directory.glob("*.json")):
            try:
                data = json.loads(side.read_text())
            except (OSError, ValueError):
                continue
            if "engine_sha256" in data:
                out.append({"file": side.with_suffix(".engine").name, **data})
        return out
