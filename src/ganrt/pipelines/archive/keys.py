"""How a job names what it records: paths as SQLite text (file names that are not UTF-8 included), and the
fingerprint of the settings that change an output (one short hash for restore, repair and video alike)."""

from __future__ import annotations

import hashlib
import json
import os

RAW_PREFIX = "\0b:"


def state_key(text: str) -> str:
    """``text`` as SQLite can store it: itself, or its raw bytes in hex when it is not valid UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return RAW_PREFIX + os.fsencode(text).hex()


def from_state_key(key: str) -> str:
    return os.fsdecode(bytes.fromhex(key[len(RAW_PREFIX):])) if key.startswith(RAW_PREFIX) else key


def settings_fingerprint(settings: dict) -> str:
    """A short stable hash of the settings that change the output."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
