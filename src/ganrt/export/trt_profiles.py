"""TensorRT optimisation profiles: the input shapes an engine accepts, and which engine fits an input."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ganrt.errors import UsageError

Shape = tuple[int, int, int, int]

DEFAULT_MIN_HW = (32, 32)
DEFAULT_OPT_HW = (256, 256)
DEFAULT_MAX_HW = (1024, 1024)


def parse_hw(text: str, flag: str = "--shape") -> tuple[int, int]:
    """'720x1280' → (720, 1280): height first, as in NCHW."""
    found = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text or "")
    if not found or int(found.group(1)) < 1 or int(found.group(2)) < 1:
        raise UsageError(f"{flag} must look like HxW, e.g. 720x1280, not {text!r}")
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True)
class Profile:
    min: Shape
    opt: Shape
    max: Shape

    def __post_init__(self):
        for a, b in ((self.min, self.opt), (self.opt, self.max)):
            if any(x > y for x, y in zip(a, b)):
                raise UsageError(f"profile shapes must grow from min to opt to max: {self.min} {self.opt} {self.max}")

    @classmethod
    def from_hw(cls, min_hw, opt_hw, max_hw, *, batch: int = 1, channels: int = 3, min_batch: int = 1) -> Profile:
        return cls((min_batch, channels, *min_hw), (batch, channels, *opt_hw), (batch, channels, *max_hw))

    @classmethod
    def static(cls, hw, *, batch: int = 1, channels: int = 3) -> Profile:
        return cls.from_hw(hw, hw, hw, batch=batch, channels=channels, min_batch=batch)

    def covers(self, shape) -> bool:
        return len(shape) == 4 and all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max))

    @property
    def max_hw(self) -> tuple[int, int]:
        return self.max[2], self.max[3]

    @property
    def min_hw(self) -> tuple[int, int]:
        return self.min[2], self.min[3]

    def as_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d: dict) -> Profile:
        return cls(tuple(d["min"]), tuple(d["opt"]), tuple(d["max"]))

    def describe(self) -> str:
        fmt = lambda s: f"{s[0]}x{s[2]}x{s[3]}"  # noqa: E731
        return f"min {fmt(self.min)}, opt {fmt(self.opt)}, max {fmt(self.max)} (NxHxW)"


def pick_profile(profiles: list[Profile], shape) -> int | None:
    """Index of the tightest profile that accepts ``shape`` (smallest max area), or None."""
    fits = [(p.max[2] * p.max[3] * p.max[0], i) for i, p in enumerate(profiles) if p.covers(shape)]
    return min(fits)[1] if fits else None


def largest_input(profiles: list[Profile]) -> tuple[int, int]:
    """The largest H, W any profile accepts: the tiler keeps tiles within it."""
    return max((p.max_hw for p in profiles), key=lambda hw: hw[0] * hw[1])
