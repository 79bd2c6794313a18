"""A training run's settings: one flat dataclass, stored as ``RUN/config.toml``.

A new run writes every setting it used; ``--resume`` reads them back, and
the options given on the command line override them (a longer
``--max-steps``, say) and are written back, so the file always says how the
run was made.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ganrt.errors import UsageError
from ganrt.fsutil import atomic_write_bytes

CONFIG_NAME = "config.toml"


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
        path = run / CONFIG_NAME
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{run} is not a ganrt training run (no {CONFIG_NAME})") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{path} cannot be read: {exc}") from None
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown or "recipe" not in data:
            raise UsageError(f"{path} is not a ganrt training config (unknown keys {sorted(unknown)})")
        return cls(**data)

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
