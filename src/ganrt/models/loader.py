"""Load a model by built-in name or from a user file into one descriptor.

Architectures and checkpoint detection come from spandrel. Pickle checkpoints
are read with ``torch.load(weights_only=True)`` only, so a file that needs
arbitrary code to unpickle is refused and nothing in it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganrt.errors import ModelLoadError, UnknownModelError, UnsafeCheckpointError
from ganrt.fsutil import sha256_file
from ganrt.models.registry import ALL_PRECISIONS, find_builtin, get_builtin

MODEL_FILE_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


@dataclass
class LoadedModel:
    """What callers ask instead of guessing: scale, channels, precisions, size rules."""

    name: str
    arch: str
    scale: int
    in_channels: int
    out_channels: int
    precisions: tuple[str, ...]
    license: str
    source: str
    checksum: str  # sha256 of the weights' source file
    params: int
    module: Any = field(repr=False)  # torch.nn.Module, eval mode, fp32, CPU
    size_multiple: int = 1
    min_size: int = 0
    builtin: bool = False

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arch": self.arch,
            "scale": self.scale,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "params": self.params,
            "precisions": list(self.precisions),
            "license": self.license,
            "source": self.source,
            "sha256": self.checksum,
            "size_multiple": self.size_multiple,
            "builtin": self.builtin,
        }


def is_model_file(spec: str) -> bool:
    return Path(spec).suffix.lower() in MODEL_FILE_SUFFIXES or os.sep in spec or Path(spec).exists()


def read_checkpoint(path: Path) -> dict:
    """Read a state dict from a model file without running any code stored in it."""
    import pickle

    import torch

    suffix = path.suffix.lower()
    if not path.is_file():
        raise UnknownModelError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"model file is empty: {path}")
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise ModelLoadError(f"cannot read {path.name}: not a valid safetensors file ({exc})") from exc
    if suffix not in MODEL_FILE_SUFFIXES:
        raise ModelLoadError(
            f"unsupported model file type {suffix!r} for {path.name}; "
            f"use one of {', '.join(MODEL_FILE_SUFFIXES)}"
        )
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"refused to load {path.name}: it needs arbitrary code to unpickle "
            f"({_unsafe_reason(exc)}); nothing in it was run. Use a plain state-dict checkpoint "
            "or a .safetensors file"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot read {path.name}: corrupt or not a PyTorch checkpoint ({_first_line(exc)})") from exc


def _unsafe_reason(exc: BaseException) -> str:
    """The part of torch's weights-only refusal that says what the file asked for."""
    import re

    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return f"it references {found.group(1)}" if found else "it holds objects other than tensors"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _describe(state: dict, *, name: str) -> Any:
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError, canonicalize_state_dict

    try:
        descriptor = ModelLoader().load_from_state_dict(canonicalize_state_dict(state))
    except UnsupportedModelError as exc:
        raise ModelLoadError(f"{name}: unknown model architecture (spandrel could not detect it)") from exc
    except Exception as exc:
        raise ModelLoadError(f"{name}: weights do not fit the detected architecture ({_first_line(exc)})") from exc
    if not isinstance(descriptor, ImageModelDescriptor):
        raise ModelLoadError(
            f"{name}: {descriptor.architecture.name} is not an image-to-image model ganrt can run"
        )
    return descriptor.eval()


def _precisions(descriptor) -> tuple[str, ...]:
    out = ["fp32"]
    if descriptor.supports_half:
        out.append("fp16")
    if descriptor.supports_bfloat16:
        out.append("bf16")
    return tuple(out)


def load_model(spec: str) -> LoadedModel:
    """Load a built-in model by name, or a user model file by path."""
    entry = find_builtin(spec)
    if entry is not None:
        from ganrt.models.zoo import builtin_state_dict

        state, source_sha = builtin_state_dict(entry)
        descriptor = _describe(state, name=entry.name)
        return _loaded(descriptor, name=entry.name, arch=entry.arch, license=entry.license,
                       source=entry.source, checksum=source_sha, builtin=True,
                       precisions=tuple(p for p in entry.precisions if p in ALL_PRECISIONS))
    path = Path(spec).expanduser()
    if not path.exists():
        if path.suffix.lower() in MODEL_FILE_SUFFIXES:
            raise UnknownModelError(f"model file not found: {spec}")
        get_builtin(spec)  # raises UnknownModelError with a did-you-mean hint
    state = read_checkpoint(path)
    descriptor = _describe(state, name=path.name)
    return _loaded(descriptor, name=path.stem, arch=descriptor.architecture.name,
                   license="unknown (user file)", source=str(path.resolve()),
                   checksum=sha256_file(path), builtin=False, precisions=_precisions(descriptor))


def _loaded(descriptor, **kw) -> LoadedModel:
    module = descriptor.model.float().eval()
    for p in module.parameters():
        p.requires_grad_(False)
    req = descriptor.size_requirements
    return LoadedModel(
        scale=descriptor.scale,
        in_channels=descriptor.input_channels,
        out_channels=descriptor.output_channels,
        params=sum(p.numel() for p in module.parameters()),
        module=module,
        size_multiple=max(1, int(req.multiple_of)),
        min_size=int(req.minimum),
        **kw,
    )
