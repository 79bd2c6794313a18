"""Architectures ganrt trains itself, loadable from the ``.safetensors`` files training writes.

A trained generator is a safetensors file whose metadata says what it is
(``ganrt.arch``, ``ganrt.kind``, noise size, image size, channels, value
range, width): ``architecture(meta)`` rebuilds the network from that, and the
weights are loaded strictly into it. One readable table; nothing registers
itself on import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ganrt.errors import ModelLoadError

META_FORMAT = "1"


@dataclass(frozen=True)
class OwnArch:
    name: str
    kind: str
    build: Callable[[dict], object]  # metadata → torch.nn.Module (generator)
    description: str


def _int(meta: dict, key: str) -> int:
    try:
        return int(meta[f"ganrt.{key}"])
    except (KeyError, ValueError):
        raise ModelLoadError(f"the model's metadata has no valid ganrt.{key}") from None


def _simple(meta: dict):
    from ganrt.models.archs.gan import SimpleGenerator

    return SimpleGenerator(_int(meta, "noise_dim"), _int(meta, "image_size"), _int(meta, "out_channels"),
                           _int(meta, "width"))


def _dcgan(meta: dict):
    from ganrt.models.archs.gan import DCGANGenerator

    return DCGANGenerator(_int(meta, "noise_dim"), _int(meta, "image_size"), _int(meta, "out_channels"),
                          _int(meta, "width"))


def _srresnet(meta: dict):
    from ganrt.models.archs.srgan import SRResNet

    return SRResNet(_int(meta, "scale"), _int(meta, "blocks"), _int(meta, "width"), _int(meta, "out_channels"))


OWN_ARCHS: dict[str, OwnArch] = {
    "SimpleGAN": OwnArch("SimpleGAN", "generation", _simple, "simple GAN generator (4 dense layers, tanh)"),
    "DCGAN": OwnArch("DCGAN", "generation", _dcgan, "DCGAN generator (dense → transposed convolutions, tanh)"),
    "SRResNet": OwnArch("SRResNet", "super-resolution", _srresnet,
                        "SRGAN's generator (residual blocks with batch-norm, pixel-shuffle)"),
}


def own_arch(meta: dict) -> OwnArch | None:
    """The ganrt architecture a file's metadata names, or None (then spandrel detects it)."""
    name = meta.get("ganrt.arch")
    if name is None or "ganrt.kind" not in meta:
        return None
    if name not in OWN_ARCHS:
        raise ModelLoadError(f"ganrt architecture {name!r} is unknown to this ganrt version "
                             f"(it knows {', '.join(OWN_ARCHS)})")
    return OWN_ARCHS[name]


def facts_from_meta(meta: dict) -> dict:
    """LoadedModel facts (kind, channels, sizes, value range) from a trained file's metadata."""
    lo, hi = (float(v) for v in meta.get("ganrt.value_range", "0,1").split(","))
    return {
        "arch": meta["ganrt.arch"],
        "kind": meta["ganrt.kind"],
        "scale": int(meta.get("ganrt.scale", 1)),
        "in_channels": int(meta.get("ganrt.in_channels", meta.get("ganrt.out_channels", 3))),
        "out_channels": _int(meta, "out_channels"),
        "noise_dim": int(meta.get("ganrt.noise_dim", 0)),
        "image_size": int(meta.get("ganrt.image_size", 0)),
        "value_range": (lo, hi),
        "precisions": ("fp32", "fp16", "bf16"),
        "size_multiple": int(meta.get("ganrt.size_multiple", 1)),
        "min_size": 0,
    }


def file_metadata(path) -> dict:
    """The ``__metadata__`` of a safetensors file, from its JSON header (no tensors read)."""
    import json
    import struct

    try:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > 100 << 20:
                return {}
            return json.loads(fh.read(size)).get("__metadata__", {}) or {}
    except (OSError, ValueError, struct.error):
        return {}
