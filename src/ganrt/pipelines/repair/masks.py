"""A photo's own mask (``--mask-dir``): found by rules, not by the first name that matches; part of the photo's
version; its header checked against the photo before it is decoded; judged for plausibility.

- The candidates for the photo ``REL`` (its path under INPUT) are ``MASK_DIR/REL``, the same with ``.png``, and
  ``REL``'s stem + ``.mask.png`` (what ``--save-masks`` writes).
- Never a mask: the photo itself, or a file a ganrt job recorded as one of its outputs (a folder of an earlier
  ``--save-masks`` run holds the repaired ``a.png`` beside its mask ``a.mask.png``; its job state says which
  is which).
- Two candidates left is a failure row naming both: ganrt does not guess which one the user meant.
- The mask's size and modification time are part of the photo's version: editing a mask redoes the photo.
- A mask that marks nothing, or more than ``SHARE_WARN`` of the photo (an inverted or all-white mask), is
  repaired as asked, with a warning in the report and the summary.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np

from ganrt.errors import ImageReadError
from ganrt.pipelines.notes import note

MASK_SUFFIX = ".mask.png"
SHARE_WARN = 0.5  # a mask marking more of the photo than this is more likely inverted than damage


def candidates(mask_dir: Path, rel: Path) -> list[Path]:
    base = mask_dir / rel
    return list(dict.fromkeys([base, base.with_suffix(".png"), base.with_name(base.stem + MASK_SUFFIX)]))


class MaskFinder:
    """Finds the masks of a job's photos in ``mask_dir`` (see the module docstring)."""

    def __init__(self, mask_dir: Path):
        self.mask_dir = mask_dir
        self._outputs = _recorded_outputs(mask_dir)

    def find(self, photo: Path, rel: Path) -> Path:
        """The mask of ``photo`` (``rel`` under INPUT); ImageReadError saying why there is none, or two."""
        found = [p for p in candidates(self.mask_dir, rel) if p.is_file() and not self._never(p, photo)]
        if not found:
            names = ", ".join(p.name for p in candidates(self.mask_dir, rel))
            raise ImageReadError(f"no mask for it in {self.mask_dir} (looked for {names}; the photo itself and the "
                                 "outputs of ganrt jobs are never masks)")
        if len(found) > 1:
            raise ImageReadError(f"two files could be its mask, {found[0].name} and {found[1].name} in "
                                 f"{found[0].parent}: keep one, or name the mask {rel.stem}{MASK_SUFFIX}")
        return found[0]

    def _never(self, path: Path, photo: Path) -> bool:
        try:
            if os.path.samefile(path, photo):
                return True
        except OSError:
            return True
        return os.path.realpath(path) in self._outputs


def _recorded_outputs(mask_dir: Path) -> set[str]:
    """The real paths of every output recorded by the job states in ``mask_dir`` and the folders above it."""
    from ganrt.pipelines.archive.keys import from_state_key
    from ganrt.pipelines.archive.state import DB_NAME

    outputs: set[str] = set()
    folder = Path(os.path.realpath(mask_dir))
    for root in (folder, *folder.parents):
        db_path = root / DB_NAME
        if not db_path.is_file():
            continue
        try:
            db = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
            try:
                rows = db.execute("SELECT output FROM images WHERE output IS NOT NULL").fetchall()
            finally:
                db.close()
        except sqlite3.DatabaseError:
            continue  # a damaged state: its outputs are not known, and not excluded
        outputs.update(os.path.realpath(root / from_state_key(out)) for (out,) in rows)
    return outputs


def version_with(mtime_ns: int, mask: Path) -> int:
    """A photo's version with its mask's folded in (size and modification time): an edited mask redoes it."""
    st = mask.stat()
    both = f"{mtime_ns}:{st.st_size}:{st.st_mtime_ns}"
    return int(hashlib.sha256(both.encode()).hexdigest()[:15], 16)


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The mask at ``path`` for a photo of ``shape`` (H, W), as 255 = damaged; its header is checked against the
    photo before anything is decoded (a tiny file may declare 14000 × 14000 pixels)."""
    from ganrt.pipelines.imageio.header import read_header
    from ganrt.pipelines.imageio.read import read_image

    h, w = shape
    try:
        with read_header(path) as img:
            declared = img.size
    except ImageReadError as exc:
        raise ImageReadError(f"its mask {path.name} cannot be read ({exc})") from None
    if declared not in ((w, h), (h, w)):  # (h, w): a mask stated turned a quarter, as the photo may be
        raise ImageReadError(f"its mask {path.name} is {declared[0]}x{declared[1]}, the photo is {w}x{h}")
    try:
        pixels = read_image(path, max_pixels=h * w).pixels
    except ImageReadError as exc:
        raise ImageReadError(f"its mask {path.name} cannot be read ({exc})") from None
    if pixels.shape[:2] != shape:
        raise ImageReadError(f"its mask {path.name} is {pixels.shape[1]}x{pixels.shape[0]} upright, the photo is "
                             f"{w}x{h}")
    gray = pixels if pixels.ndim == 2 else pixels.max(axis=2)
    half = 32767 if gray.dtype == np.uint16 else 127
    return np.where(gray > half, 255, 0).astype(np.uint8)


def judge(mask: np.ndarray, source: str, subject: str) -> None:
    """Warn (into the photo's report row) of a mask that is more likely a mistake than the damage."""
    share = float(np.count_nonzero(mask)) / max(mask.size, 1)
    if source == "user" and share == 0:
        note(subject, "its mask marks nothing (white = damaged): the photo is written unrepaired")
    elif share >= SHARE_WARN:
        what = "its mask marks" if source == "user" else "damage was found on"
        hint = "inverted? white = damaged" if source == "user" else "check it with --save-masks, or lower --sensitivity"
        note(subject, f"{what} {100 * share:.0f} % of the photo ({hint})")
