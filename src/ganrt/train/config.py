"""A training run's settings: one flat dataclass, stored as ``RUN/config.toml``.

A new run writes every setting it used; ``--resume`` reads them back, and
the options given on the command line override them (a longer
``--max-steps``, say) and are written back once the run has resumed, so the
file always says how the run was made.

Every value, typed on the command line or read from a hand-edited file, passes
the one table of rules below (``RULES``); the settings that shape the networks
(``SHAPE``) cannot change on ``--resume``: the checkpoint holds networks of the
old shape.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.fsutil import atomic_write_bytes

CONFIG_NAME = "config.toml"
MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes


@dataclass(frozen=True)
class Rule:
    """What a setting may hold: a type, and a check of the value (None: fine; else why not)."""

    kind: type
    check: Callable[[object], str | None] = lambda value: None


def _between(lo, hi) -> Callable[[object], str | None]:
    def check(value):
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, not {value}"
        return None if lo <= value <= hi else f"must be between {lo:g} and {hi:g}, not {value:g}"
    return check


def _below(lo, hi) -> Callable[[object], str | None]:
    def check(value):
        if not math.isfinite(value):
            return f"must be a finite number, not {value}"
        return None if lo <= value < hi else f"must be at least {lo:g} and below {hi:g}, not {value:g}"
    return check


def _above(lo, hi) -> Callable[[object], str | None]:
    def check(value):
        if not math.isfinite(value):
            return f"must be a finite number, not {value}"
        return None if lo < value <= hi else f"must be greater than {lo:g} and at most {hi:g}, not {value:g}"
    return check


def _one_of(*choices) -> Callable[[object], str | None]:
    def check(value):
        return None if value in choices else f"must be one of {', '.join(map(str, choices))}, not {value!r}"
    return check


def _recipes() -> tuple[str, ...]:
    from ganrt.train.recipes import RECIPE_NAMES

    return RECIPE_NAMES


def _device(value) -> str | None:
    from ganrt.machine import DEVICE_SPELLING, is_device_name

    return None if is_device_name(value) else f"must be {DEVICE_SPELLING}, not {value!r}"


def _text(value) -> str | None:
    return None if value and "\0" not in value and len(value) <= 4096 else "must be a non-empty name or path"


def _path_or_empty(value) -> str | None:
    return None if "\0" not in value and len(value) <= 4096 else "must be a path"


# Every setting a run holds, its type and its bounds: one table for the options and for config.toml.
RULES: dict[str, Rule] = {
    "recipe": Rule(str, lambda value: _one_of(*_recipes())(value)),
    "data": Rule(str, _text),
    "size": Rule(int, _between(1, 4096)),
    "channels": Rule(int, _one_of(1, 3)),
    "batch": Rule(int, _between(1, 4096)),
    "max_steps": Rule(int, _between(1, 10**9)),
    "lr": Rule(float, _above(0, 1)),
    "beta1": Rule(float, _below(0, 1)),
    "beta2": Rule(float, _below(0, 1)),
    "noise_dim": Rule(int, _between(1, 4096)),
    "width": Rule(int, _between(1, 1024)),
    "seed": Rule(int, _between(0, 2**63 - 1)),
    "device": Rule(str, _device),
    "amp": Rule(str, _one_of("auto", "off", "bf16", "fp16")),
    "g_steps": Rule(int, _between(1, 100)),
    "ema_decay": Rule(float, _below(0, 1)),
    "sample_every": Rule(int, _between(1, 10**9)),
    "checkpoint_every": Rule(int, _between(1, 10**9)),
    "keep_checkpoints": Rule(int, _between(1, 1000)),
    # recipe-specific ([extra] in the file)
    "scale": Rule(int, _one_of(2, 4)),
    "crop": Rule(int, _between(16, 2048)),
    "blocks": Rule(int, _between(1, 256)),
    "val_count": Rule(int, _between(0, 10**6)),
    "pretrain_steps": Rule(int, _between(0, 10**9)),
    "degrade": Rule(str, _one_of("", "bicubic", "realesrgan")),  # "": the recipe's default
    "lr_data": Rule(str, _path_or_empty),
    "val_data": Rule(str, _path_or_empty),
    "perceptual_weights": Rule(str, _path_or_empty),
    "init": Rule(str, _path_or_empty),
}
# what the networks' shapes are made of: the checkpoint of a run cannot take other values
SHAPE = ("size", "channels", "noise_dim", "width", "blocks", "scale", "init")


def problem(key: str, value) -> str | None:
    """Why ``value`` cannot be setting ``key`` (None when it can): one rule for options and files."""
    rule = RULES.get(key)
    if rule is None:
        return "is not a setting ganrt knows"
    if rule.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, rule.kind) or isinstance(value, bool):
        return f"must be {'an integer' if rule.kind is int else 'a number' if rule.kind is float else 'text'}, " \
               f"not {value!r}"
    return rule.check(value)


def flag_name(key: str) -> str:
    return {"ema_decay": "--ema", "sample_every": "--sample-every"}.get(key, f"--{key.replace('_', '-')}")


def check_options(settings: dict) -> None:
    """The options given on the command line (None: not given), each against its rule."""
    for key, value in settings.items():
        if value is not None and key in RULES and (why := problem(key, value)):
            raise UsageError(f"{flag_name(key)} {why}")


@dataclass
class TrainConfig:
    recipe: str
    data: str
    size: int = 28
    channels: int = 1
    batch: int = 64
    max_steps: int = 2000
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    noise_dim: int = 100
    width: int = 64
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto | off | bf16 | fp16
    g_steps: int = 2  # generator updates per discriminator update (keeps the discriminator from winning early)
    ema_decay: float = 0.999
    sample_every: int = 100
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    extra: dict = field(default_factory=dict)  # recipe-specific settings (super-resolution, …)

    def to_toml(self) -> str:
        lines = ["# written by `ganrt train`; --resume reads it back", ""]
        extra = {}
        for key, value in asdict(self).items():
            if key == "extra":
                extra = value
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        if extra:
            lines += ["", "[extra]"] + [f"{k} = {_toml_value(v)}" for k, v in sorted(extra.items())]
        return "\n".join(lines) + "\n"

    def save(self, run: Path) -> None:
        atomic_write_bytes(run / CONFIG_NAME, self.to_toml().encode())

    @classmethod
    def load(cls, run: Path) -> TrainConfig:
        """The run's settings, each checked against ``RULES`` (a hand-edited file is refused in one line)."""
        path = run / CONFIG_NAME
        try:
            if path.stat().st_size > MAX_CONFIG_BYTES:
                raise UsageError(f"{path} is not a ganrt training config (over {MAX_CONFIG_BYTES >> 10} KB)")
            data = tomllib.loads(path.read_text(errors="replace"))
        except FileNotFoundError:
            raise UsageError(f"{run} is not a ganrt training run (no {CONFIG_NAME})") from None
        except (OSError, tomllib.TOMLDecodeError, RecursionError) as exc:
            raise UsageError(f"{path} cannot be read: {exc}") from None
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown or "recipe" not in data or "data" not in data:
            raise UsageError(f"{path} is not a ganrt training config (unknown keys {sorted(unknown)})")
        extra = data.pop("extra", {})
        if not isinstance(extra, dict):
            raise UsageError(f"{path}: [extra] must be a table")
        for key, value in [*data.items(), *extra.items()]:
            if why := problem(key, value):
                raise UsageError(f"{path}: {key} {why}; fix the file, or start a new --run")
        floats = {k: float(v) for k, v in data.items() if RULES[k].kind is float}
        return cls(**{**data, **floats}, extra=dict(extra))

    def value(self, key: str):
        """A setting, top-level or recipe-specific (None when the run has none)."""
        return getattr(self, key) if key in {f.name for f in fields(self)} else self.extra.get(key)

    def override(self, **changes) -> TrainConfig:
        """These settings with the given ones (None = not given) replaced."""
        for key, value in changes.items():
            if value is None:
                continue
            if key in {f.name for f in fields(self)}:
                setattr(self, key, value)
            else:
                self.extra[key] = value
        return self

    def check_resumable(self, changes: dict) -> None:
        """Refuse, before anything is written, options that would change the networks' shape on --resume."""
        for key in SHAPE:
            given, held = changes.get(key), self.value(key)
            if given is not None and held not in (None, "") and given != held:
                raise UsageError(f"{flag_name(key)} cannot change when resuming: the run's networks were made with "
                                 f"{held}; leave it out, or start a new --run")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return '""'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
