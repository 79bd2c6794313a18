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

from ganrt.kinds import GENERATION, SUPER_RESOLUTION
from ganrt.errors import ModelLoadError

META_FORMAT = "1"


@dataclass(frozen=True)
class OwnArch:
    name: str
    kind: str
    build: Callable[[dict], object]  # metadata → torch.nn.Module (generator)
    description: str
    critic: Callable[[dict], object] | None = None  # metadata → its discriminator, where a checkpoint holds one


# What a trained file's metadata may say: a file that claims more would make ganrt allocate what it says
# (a noise vector of 1e9, say) before its weights are even compared with it.
META_BOUNDS = {"noise_dim": (1, 4096), "image_size": (1, 4096), "out_channels": (1, 4), "in_channels": (1, 4),
               "width": (1, 4096), "blocks": (1, 256), "scale": (1, 16), "size_multiple": (1, 1024)}


def _int(meta: dict, key: str, default: int | None = None) -> int:
    """The metadata's ``ganrt.KEY`` as an integer within ``META_BOUNDS`` (``default`` when absent)."""
    raw = meta.get(f"ganrt.{key}")
    if raw is None and default is not None:
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ModelLoadError(f"the model's metadata has no valid ganrt.{key}") from None
    lo, hi = META_BOUNDS.get(key, (0, 1 << 31))
    if not lo <= value <= hi:
        raise ModelLoadError(f"the model's metadata says ganrt.{key} = {value:,}, outside {lo}..{hi:,}: "
                             "a damaged or hostile file")
    return value


def _simple(meta: dict):
    from ganrt.models.archs.gan import SimpleGenerator

    return SimpleGenerator(_int(meta, "noise_dim"), _int(meta, "image_size"), _int(meta, "out_channels"),
                           _int(meta, "width"))


def _dcgan(meta: dict):
    from ganrt.models.archs.gan import DCGANGenerator

    return DCGANGenerator(_int(meta, "noise_dim"), _int(meta, "image_size"), _int(meta, "out_channels"),
                          _int(meta, "width"))


def _simple_critic(meta: dict):
    from ganrt.models.archs.gan import SimpleDiscriminator

    return SimpleDiscriminator(_int(meta, "image_size"), _int(meta, "out_channels"), _int(meta, "width"))


def _dcgan_critic(meta: dict):
    from ganrt.models.archs.gan import DCGANDiscriminator

    return DCGANDiscriminator(_int(meta, "image_size"), _int(meta, "out_channels"), _int(meta, "width"))


def _srresnet(meta: dict):
    from ganrt.models.archs.srgan import SRResNet

    return SRResNet(_int(meta, "scale"), _int(meta, "blocks"), _int(meta, "width"), _int(meta, "out_channels"))


OWN_ARCHS: dict[str, OwnArch] = {
    "SimpleGAN": OwnArch("SimpleGAN", GENERATION, _simple, "simple GAN generator (4 dense layers, tanh)",
                         _simple_critic),
    "DCGAN": OwnArch("DCGAN", GENERATION, _dcgan, "DCGAN generator (dense → transposed convolutions, tanh)",
                     _dcgan_critic),
    "SRResNet": OwnArch("SRResNet", SUPER_RESOLUTION, _srresnet,
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
    if meta["ganrt.kind"] != OWN_ARCHS[name].kind:
        raise ModelLoadError(f"the model's metadata calls a {name} a {meta['ganrt.kind']!r} model; it is a "
                             f"{OWN_ARCHS[name].kind} model: a damaged or hostile file")
    return OWN_ARCHS[name]


def facts_from_meta(meta: dict) -> dict:
    """LoadedModel facts (kind, channels, sizes, value range) from a trained file's metadata."""
    import math

    try:
        lo, hi = (float(v) for v in meta.get("ganrt.value_range", "0,1").split(","))
    except ValueError:
        raise ModelLoadError("the model's metadata has no valid ganrt.value_range") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ModelLoadError("the model's metadata has no valid ganrt.value_range")
    for key in META_BOUNDS:  # every size it states, before anything is built or allocated from it
        if f"ganrt.{key}" in meta:
            _int(meta, key)
    out_channels = _int(meta, "out_channels")
    generates = meta.get("ganrt.kind") == GENERATION
    return {
        "arch": meta["ganrt.arch"],
        "kind": meta["ganrt.kind"],
        "scale": _int(meta, "scale", 1),
        "in_channels": _int(meta, "in_channels", out_channels),
        "out_channels": out_channels,
        "noise_dim": _int(meta, "noise_dim") if generates else 0,
        "image_size": _int(meta, "image_size") if generates else 0,
        "value_range": (lo, hi),
        "precisions": ("fp32", "fp16", "bf16"),
        "size_multiple": _int(meta, "size_multiple", 1),
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
            header = json.loads(fh.read(size))
    except (OSError, ValueError, RecursionError, struct.error):
        return {}
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    # safetensors metadata is text to text; anything else is not what ganrt wrote
    return {k: v for k, v in meta.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(meta, dict) else {}
