"""Training pairs for super-resolution: high-resolution crops and their low-resolution inputs.

- HR-only folders: the low-resolution crop is made on the fly (``--degrade
  bicubic`` or ``realesrgan``, see ``ganrt.train.degrade``); paired folders
  (``--lr-data``): the LR image of the same relative name, cropped where
  the HR crop is.
- Random crops (``--crop`` HR pixels, aligned to the scale), flips and
  90° rotations; every draw seeded by (seed, step), so a resumed run sees
  the same batches.
- Batches are made in a thread pool a step or two ahead (OpenCV and the
  degradations release the GIL), so the cores are busy while the networks
  train.
- Validation images (``--val-data``, or the last images of the folder) are
  held out whole, with their bicubic (or paired) low-resolution versions.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrt.errors import UsageError
from ganrt.pipelines.imageio.formats import READ_SUFFIXES
from ganrt.pipelines.archive.system_files import user_files
from ganrt.train.data import read_pixels
from ganrt.train.degrade import DEGRADATIONS, bicubic_down, degrade

log = logging.getLogger(__name__)

PREFETCH = 2


@dataclass
class Pair:
    name: str
    hr: np.ndarray  # uint8 RGB
    lr: np.ndarray | None  # paired low-resolution image, or None (made on the fly)


def _images(folder: Path) -> list[tuple[str, np.ndarray]]:
    if not folder.is_dir():
        raise UsageError(f"--data {folder}: not a folder of images")
    out = []
    for p in user_files(folder):
        if p.suffix.lower() in READ_SUFFIXES:
            img = read_pixels(p, "RGB")
            if img is not None:
                out.append((p.relative_to(folder).as_posix(), img))
    if not out:
        raise UsageError(f"--data {folder}: no readable images in it")
    return out


def load_pairs(hr_dir: Path, lr_dir: Path | None, scale: int, crop: int) -> list[Pair]:
    """Every training image at least one crop big (smaller ones left out, with a warning), and (paired) its LR
    at 1/scale size."""
    pairs, small = [], []
    lows = dict(_images(lr_dir)) if lr_dir is not None else {}
    for name, hr in _images(hr_dir):
        h, w = hr.shape[:2]
        if min(h, w) < crop:  # left out, not the whole run refused: a photo folder has its thumbnails
            small.append(f"{name} ({w}×{h})")
            continue
        lr = None
        if lr_dir is not None:
            lr = lows.get(name)
            if lr is None:
                raise UsageError(f"--lr-data has no {name} (paired folders need the same relative names)")
            if abs(lr.shape[0] * scale - h) > scale or abs(lr.shape[1] * scale - w) > scale:
                raise UsageError(f"--lr-data {name} is {lr.shape[1]}×{lr.shape[0]}; ×{scale} of it is not {w}×{h}")
        pairs.append(Pair(name, hr, lr))
    if small and not pairs:
        raise UsageError(f"every image in --data is smaller than --crop {crop} ({', '.join(small[:3])}"
                         f"{' …' if len(small) > 3 else ''}); use a smaller --crop or larger images")
    if small:
        log.warning("left out %d image(s) smaller than --crop %d: %s%s", len(small), crop, ", ".join(small[:5]),
                    " …" if len(small) > 5 else "")
    return pairs


def _augment(hr: np.ndarray, lr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() < 0.5:
        hr, lr = hr[:, ::-1], lr[:, ::-1]
    k = int(rng.integers(4))
    return np.ascontiguousarray(np.rot90(hr, k)), np.ascontiguousarray(np.rot90(lr, k))


def make_sample(pair: Pair, scale: int, crop: int, how: str, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """One (LR, HR) crop pair, uint8 RGB."""
    h, w = pair.hr.shape[:2]
    y = int(rng.integers(0, (h - crop) // scale + 1)) * scale
    x = int(rng.integers(0, (w - crop) // scale + 1)) * scale
    hr = pair.hr[y:y + crop, x:x + crop]
    if pair.lr is not None:
        lc = crop // scale
        lr = pair.lr[y // scale: y // scale + lc, x // scale: x // scale + lc]
    else:
        lr = degrade(np.ascontiguousarray(hr), scale, how, rng)
    hr, lr = _augment(hr, lr, rng)
    return lr, hr


class PairBatches:
    """Batches of step k, made ahead in threads: (LR, HR) float32 NCHW tensors in 0..1."""

    def __init__(self, pairs: list[Pair], *, scale: int, crop: int, how: str, batch: int, seed: int):
        if how not in DEGRADATIONS:
            raise UsageError(f"--degrade must be one of {', '.join(DEGRADATIONS)}, not {how!r}")
        self.pairs, self.scale, self.crop, self.how, self.batch, self.seed = pairs, scale, crop, how, batch, seed
        self._pool = ThreadPoolExecutor(max_workers=PREFETCH, thread_name_prefix="ganrt-data")
        self._ahead: dict[int, Future] = {}

    def _make(self, step: int):
        from ganrt.train.trainer import step_seed

        rng = np.random.default_rng(step_seed(self.seed, step, stream=3))
        picks = rng.integers(0, len(self.pairs), self.batch)
        seeds = rng.integers(0, 2**62, self.batch)
        samples = [make_sample(self.pairs[int(i)], self.scale, self.crop, self.how, np.random.default_rng(int(s)))
                   for i, s in zip(picks, seeds)]
        lr = np.stack([s[0] for s in samples]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        hr = np.stack([s[1] for s in samples]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        return lr, hr

    def get(self, step: int):
        import torch

        future = self._ahead.pop(step, None) or self._pool.submit(self._make, step)
        for ahead in range(step + 1, step + 1 + PREFETCH):
            if ahead not in self._ahead:
                self._ahead[ahead] = self._pool.submit(self._make, ahead)
        for old in [k for k in self._ahead if k < step]:
            self._ahead.pop(old).cancel()
        lr, hr = future.result()
        return torch.from_numpy(lr), torch.from_numpy(hr)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


VAL_SIDE = 256  # validation images are centre crops of at most this side (HR): quick on a CPU


def validation_pairs(val_dir: Path | None, pairs: list[Pair], count: int, scale: int
                     ) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], list[Pair]]:
    """(validation (name, LR, HR) triples, the training pairs left): centre crops of at most VAL_SIDE,
    cut to a multiple of the scale."""
    if val_dir is not None:
        held = [Pair(name, img, None) for name, img in _images(val_dir)]
        train = pairs
    else:
        count = min(count, max(0, len(pairs) - 1))
        held, train = pairs[len(pairs) - count:], pairs[: len(pairs) - count]
    out = []
    for p in held:
        h, w = (min(p.hr.shape[0], VAL_SIDE) // scale) * scale, (min(p.hr.shape[1], VAL_SIDE) // scale) * scale
        y, x = ((p.hr.shape[0] - h) // 2 // scale) * scale, ((p.hr.shape[1] - w) // 2 // scale) * scale
        hr = np.ascontiguousarray(p.hr[y:y + h, x:x + w])
        lr = (p.lr[y // scale:(y + h) // scale, x // scale:(x + w) // scale] if p.lr is not None
              else bicubic_down(hr, scale))
        out.append((p.name, np.ascontiguousarray(lr), hr))
    if not train:
        raise UsageError("no training images are left after holding out the validation ones; add images or "
                         "give --val-data")
    return out, train
