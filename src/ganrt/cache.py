"""Where ganrt keeps converted weights, ONNX files and engines.

``GANRT_CACHE`` overrides the location; otherwise ``$XDG_CACHE_HOME/ganrt``
(``~/.cache/ganrt`` when unset). Sub-folders: ``models/`` (safetensors),
``onnx/``, ``engines/`` (TensorRT), ``openvino/``, ``choices/`` (measured
backend choices).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("GANRT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ganrt"


def cache_dir(kind: str) -> Path:
    """The cache sub-folder for ``kind`` (created on demand)."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
