"""Turn the shared CLI options into a loaded model, an engine and a tile size."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ganrt.cli.common import BACKEND_CHOICES, DEVICE_CHOICES, PRECISION_CHOICES, check_choice, parse_tile

log = logging.getLogger("ganrt")


@dataclass
class EngineChoice:
    model: object
    engine: object
    tile: int


def open_engine(model_spec: str, backend: str, device: str, precision: str, tile: str,
                threads: int | None = None) -> EngineChoice:
    check_choice(backend, BACKEND_CHOICES, "--backend")
    check_choice(device, DEVICE_CHOICES, "--device")
    check_choice(precision, PRECISION_CHOICES, "--precision")
    tile_size = parse_tile(tile)
    from ganrt.models import load_model
    from ganrt.runtime.memory import auto_tile
    from ganrt.runtime.registry import create_engine

    model = load_model(model_spec)
    engine = create_engine(model, backend=backend, device=device, precision=precision, threads=threads)
    if tile_size is None:
        tile_size = auto_tile(model, engine.device)
    log.info("using %s, %s, tile %s", model.name, engine.describe(), tile_size or "whole image")
    return EngineChoice(model, engine, tile_size)
