"""Facts about a model that need torch to find out, cached by weights checksum.

``<cache>/models/info-<sha256[:20]>.json`` holds what spandrel detected
(architecture, scale, channels, precisions, size rules, parameter count) and
the measured activation footprint, so a later run with an exported graph can
restore images without importing torch at all.
"""

from __future__ import annotations

import json

from ganrt.cache import cache_dir
from ganrt.fsutil import atomic_write_bytes


def _path(checksum: str):
    return cache_dir("models") / f"info-{checksum[:20]}.json"


def read_info(checksum: str) -> dict:
    try:
        data = json.loads(_path(checksum).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}  # callers check each value's type


def update_info(checksum: str, **facts) -> None:
    data = {**read_info(checksum), **facts}
    try:
        atomic_write_bytes(_path(checksum), json.dumps(data, indent=1).encode())
    except OSError:
        pass  # a read-only cache only costs time
