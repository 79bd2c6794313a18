"""Turn the shared engine options (model, backend, device, precision, tile, threads) into a model, a resolved
(backend, device, precision, tile), and an engine.

Resolution comes first and is cheap; the engine (an ONNX export, a session, a
TensorRT build) is only made when there is work for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ganrt.kinds import SUPER_RESOLUTION
from ganrt.runtime.backends import BACKEND_CHOICES, PRECISION_CHOICES
from ganrt.validate import check_choice, check_device, check_threads, parse_tile

if TYPE_CHECKING:
    from ganrt.runtime.memory import TilePolicy

log = logging.getLogger("ganrt")


@dataclass
class EngineChoice:
    model: object
    backend: str
    device: str
    precision: str
    tile: TilePolicy
    threads: int | None = None

    def describe(self) -> str:
        return f"{self.backend} {self.precision} on {self.device}"

    def identity(self) -> dict:
        """What of this choice changes the pixels an engine makes: the one part of every job's fingerprint
        (restore, repair, video) that comes from its engine. The precision and tile are the resolved ones: a
        machine where ``auto`` now means bf16, or another --tile, redoes the work."""
        return {"model": self.model.name, "weights_sha256": self.model.checksum, "precision": self.precision,
                "tile": self.tile.describe()}

    def recipe(self, spec: str, *, threads: int | None, kinds: tuple[str, ...], command: str) -> EngineRecipe:
        """How a worker elsewhere opens this same engine (``--ray``): the choice, resolved, as plain data."""
        from pathlib import Path

        if Path(spec).exists():  # a user's file: workers may start in another folder
            spec = str(Path(spec).resolve())
        return EngineRecipe(spec, self.backend, self.device, self.precision,
                            self.threads if self.threads is not None else threads, kinds, command)

    def open(self):
        from ganrt.runtime.registry import create_engine

        engine = create_engine(self.model, backend=self.backend, device=self.device, precision=self.precision,
                               threads=self.threads)
        log.info("using %s, %s, tile %s", self.model.name, engine.describe(), self.tile.describe())
        return engine


@dataclass(frozen=True)
class EngineRecipe:
    """An engine choice as picklable data: calling it (in a Ray worker) opens the engine."""

    model: str
    backend: str
    device: str
    precision: str
    threads: int | None
    kinds: tuple[str, ...]
    command: str

    def __call__(self):
        choice = choose_engine(self.model, self.backend, self.device, self.precision, "0", self.threads,
                               kinds=self.kinds, command=self.command)
        return choice.open()


def choose_engine(model_spec: str, backend: str, device: str, precision: str, tile: str,
                  threads: int | None = None, *, kinds: tuple[str, ...] = (SUPER_RESOLUTION,),
                  command: str = "this command") -> EngineChoice:
    check_choice(backend, BACKEND_CHOICES, "--backend")
    check_device(device)
    check_threads(threads)
    check_choice(precision, PRECISION_CHOICES, "--precision")
    tile_size = parse_tile(tile)
    from ganrt.models import load_model
    from ganrt.runtime.memory import TilePolicy
    from ganrt.runtime.registry import resolve

    model = load_model(model_spec).require_kind(*kinds, command=command)
    backend, device, precision = resolve(model, backend=backend, device=device, precision=precision,
                                         threads=threads)
    from ganrt.kinds import get_kind

    tiled = get_kind(model.kind).feeds_pixels  # the tiler's kinds; inpainters cut their own windows
    policy = TilePolicy.auto(model, device) if tile_size is None and tiled else TilePolicy(tile_size or 0)
    return EngineChoice(model, backend, device, precision, policy, threads)
