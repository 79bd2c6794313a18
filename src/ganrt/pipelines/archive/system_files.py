"""What operating systems and NAS boxes leave in a photo folder that is not the user's photos.

- Folders: thumbnail caches (Synology ``@eaDir``, QNAP ``.@__thumb``, Android ``.thumbnails``),
  recycle bins (``$RECYCLE.BIN``, ``#recycle``, ``.Trash-1000``, ``.Trashes``), macOS and Windows
  volume indexes, and the ``__MACOSX`` folder a zip made on a Mac unpacks to. Walking them would
  restore thousands of thumbnails, or photos the user threw away.
- Files: macOS AppleDouble companions (``._IMG_0001.jpg``: the Finder's metadata for
  ``IMG_0001.jpg``, written on every drive that is not APFS/HFS+). They carry an image suffix but
  hold no image, so each would otherwise be one failure in the report.

Each is ignored with its reason (``--report`` lists them), never failed; a folder given as INPUT
itself is walked whatever its name.
"""

from __future__ import annotations

import re
from pathlib import Path

_FOLDERS = {
    "@eadir": "NAS thumbnail cache (Synology @eaDir)",
    ".@__thumb": "NAS thumbnail cache (QNAP)",
    ".thumbnails": "thumbnail cache",
    "__macosx": "macOS zip metadata (__MACOSX)",
    ".appledouble": "macOS metadata (.AppleDouble)",
    "$recycle.bin": "recycle bin",
    "#recycle": "recycle bin (NAS)",
    "#snapshot": "NAS snapshots (copies of the folder)",
    ".trashes": "recycle bin (macOS)",
    ".trash": "recycle bin",
    "system volume information": "Windows volume index",
    ".spotlight-v100": "macOS volume index",
    ".fseventsd": "macOS volume index",
    ".temporaryitems": "macOS temporary items",
}
_TRASH = re.compile(r"\.trash-\d+")  # the freedesktop trash of one user on a removable drive
# AppleDouble (0x00051607) and AppleSingle (0x00051600) magic numbers, big-endian.
_APPLE_MAGIC = (b"\x00\x05\x16\x07", b"\x00\x05\x16\x00")


def folder_reason(name: str) -> str | None:
    """Why a folder of this name is not walked, or None: it is the user's."""
    key = name.lower()
    if key in _FOLDERS:
        return _FOLDERS[key]
    if _TRASH.fullmatch(key):
        return "recycle bin"
    return None


def file_reason(path: Path | None, name: str) -> str | None:
    """Why a file is not an image the user owns, or None. ``path``: the local file, whose first
    bytes confirm an AppleDouble companion (a remote one is known by its name alone)."""
    if not name.startswith("._") or len(name) <= 2:
        return None
    if path is not None:
        try:
            with open(path, "rb") as fh:
                if fh.read(4) not in _APPLE_MAGIC:
                    return None  # a real image that happens to be named ._something
        except OSError:
            return None  # the caller's own examination reports it
    return "macOS metadata file (AppleDouble ._ companion)"


def ignored_part(rel: str) -> tuple[str, str] | None:
    """For a relative posix path, the (folder path, reason) of the first system folder it lies in."""
    parts = rel.split("/")
    for i, part in enumerate(parts[:-1]):
        why = folder_reason(part)
        if why:
            return "/".join(parts[: i + 1]), why
    return None


def user_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted, less hidden files and what lies in system folders
    (a training set's images)."""
    return sorted(p for p in folder.rglob("*")
                  if not p.name.startswith(".") and not ignored_part(p.relative_to(folder).as_posix())
                  and p.is_file())
