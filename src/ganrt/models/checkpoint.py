"""Reading a user's model file safely: sniffed before it is parsed, pickles through
``torch.load(weights_only=True)`` only (a file that needs code to unpickle is refused and nothing in it runs),
tensors checked (each stores the elements it claims, the total is bounded) before anything trusts them."""

from __future__ import annotations

from pathlib import Path

from ganrt.errors import ModelLoadError, UnknownModelError, UnsafeCheckpointError, UnsupportedModelFileError

MODEL_FILE_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


MAX_PARAMS = 300_000_000  # 1.2 GB of fp32 weights; the largest restoration networks hold ~50 M


MAX_TENSORS = 20_000


def _sniff(path: Path) -> str | None:
    """What the file's first bytes say it is, when that rules out a checkpoint (else None)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<!--")):
        return "it is a web page (HTML), not the model file: download the file itself"
    if text.startswith((b"{", b"[")):
        return "it is a JSON/text file, not a model"
    if path.suffix.lower() == ".safetensors":
        import struct

        if len(head) < 9 or struct.unpack("<Q", head[:8])[0] > path.stat().st_size or head[8:9] != b"{":
            return "not a valid safetensors file (bad header)"
        return None
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            with zipfile.ZipFile(path):
                return None
        except (zipfile.BadZipFile, OSError):
            return "the file is truncated or damaged (its zip archive is incomplete); download it again"
    if head.startswith(b"\x80"):
        return None  # a raw pickle (old torch.save format)
    return "not a PyTorch checkpoint (unrecognised contents)"


def read_checkpoint(path: Path) -> dict:
    """Read a state dict from a model file without running any code stored in it."""
    import pickle

    import torch

    suffix = path.suffix.lower()
    check_model_file(path)
    problem = _sniff(path)
    if problem:
        raise ModelLoadError(f"cannot read {path.name}: {problem}")
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise ModelLoadError(f"cannot read {path.name}: not a valid safetensors file ({first_line(exc)})") from exc
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower() and "weights_only" not in str(exc).lower():
            raise ModelLoadError(f"cannot read {path.name}: corrupt or truncated checkpoint ({first_line(exc)})") from exc
        raise UnsafeCheckpointError(
            f"refused to load {path.name}: it needs arbitrary code to unpickle "
            f"({_unsafe_reason(exc)}); nothing in it was run. Use a plain state-dict checkpoint "
            "or a .safetensors file"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot read {path.name}: corrupt or not a PyTorch checkpoint ({first_line(exc)})") from exc


def check_model_file(path: Path) -> None:
    """A regular, non-empty file with a model suffix (a FIFO or folder is never opened)."""
    if not path.exists():
        raise UnknownModelError(f"model file not found: {path}")
    if not path.is_file():
        raise UnsupportedModelFileError(f"{path} is not a regular file")
    if path.suffix.lower() not in MODEL_FILE_SUFFIXES:
        raise UnsupportedModelFileError(
            f"unsupported model file type {path.suffix or '(none)'!r} for {path.name}; "
            f"use one of {', '.join(MODEL_FILE_SUFFIXES)}")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"model file is empty: {path}")


def check_tensors(state: dict, name: str) -> None:
    """Refuse a state dict whose tensors claim more than they store, or that is absurdly large."""
    import torch

    if not isinstance(state, dict) or not state:
        raise ModelLoadError(f"{name}: holds no weights (not a state dict)")
    if len(state) > MAX_TENSORS:
        raise ModelLoadError(f"{name}: {len(state):,} tensors; more than any image network has ({MAX_TENSORS:,})")
    total = 0
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        claimed = value.numel() * value.element_size()
        if claimed > value.untyped_storage().nbytes():
            raise ModelLoadError(f"{name}: tensor {key!r} claims {value.numel():,} values but stores "
                                 f"{value.untyped_storage().nbytes():,} bytes (a crafted file); refused")
        total += value.numel()
        if total > MAX_PARAMS:
            raise ModelLoadError(f"{name}: more than {MAX_PARAMS:,} weights; refused as implausibly large")


def _unsafe_reason(exc: BaseException) -> str:
    """The part of torch's weights-only refusal that says what the file asked for."""
    import re

    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return f"it references {found.group(1)}" if found else "it holds objects other than tensors"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
