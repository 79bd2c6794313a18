"""Training images for the noise → image GANs, all offline.

``--data`` is one of:
- ``digits``: the 1,797 handwritten digits bundled with scikit-learn (8 × 8,
  upscaled), labelled: a zero-setup demo, and what the tests train on;
- an MNIST-format IDX file (MNIST, Fashion-MNIST; ``.gz`` too), with the
  labels file beside it when there is one;
- a folder of images (recursive), each resized so its short side is
  ``size`` and centre-cropped; files that are not readable images are skipped
  and counted.

Everything comes back as uint8, N × C × size × size, plus labels when known.
"""

from __future__ import annotations

import gzip
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganrt.errors import UsageError

log = logging.getLogger(__name__)

IDX_IMAGES = 0x00000803
MAX_IDX_BYTES = 1 << 31  # MNIST's 60,000 images are 47 MB
MAX_TRAINING_PIXELS = 64_000_000  # a bigger "photo" in a training folder is left out (a decompression bomb)
IDX_LABELS = 0x00000801


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 N × C × S × S
    labels: np.ndarray | None
    source: str
    skipped: int = 0  # files that were not readable images

    def __len__(self) -> int:
        return len(self.images)


def load_images(spec: str, size: int, channels: int) -> ImageSet:
    """The training set named by ``--data`` at ``size`` × ``size`` with ``channels`` channels."""
    if spec == "digits":
        return _digits(size, channels)
    path = Path(spec).expanduser()
    if not path.exists():
        raise UsageError(f"--data {spec}: no such file or folder (or use 'digits')")
    if path.is_dir():
        return _folder(path, size, channels)
    return _idx(path, size, channels)


def read_pixels(path: Path, mode: str) -> np.ndarray | None:
    """A training image as uint8 in PIL ``mode`` ("L" or "RGB"), or None when it is not a readable image;
    its header is checked first, so a small file declaring a huge image is left out undecoded."""
    from PIL import Image

    from ganrt.errors import ImageReadError
    from ganrt.pipelines.imageio.header import read_header

    try:
        img = read_header(path, MAX_TRAINING_PIXELS)
    except ImageReadError as exc:
        if "pixels" in str(exc):
            log.warning("%s: left out of training: %s", path.name, exc)
        return None
    try:
        with img:
            img.load()
            return np.ascontiguousarray(np.asarray(img.convert(mode)))
    except (OSError, ValueError, SyntaxError, MemoryError, Image.DecompressionBombError):
        return None


def _fit(gray_or_rgb: np.ndarray, size: int, channels: int) -> np.ndarray:
    """One H × W (× 3) uint8 image → C × size × size: short side to size, centre crop."""
    import cv2

    img = gray_or_rgb
    h, w = img.shape[:2]
    scale = size / min(h, w)
    if scale != 1:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = cv2.resize(img, (max(size, round(w * scale)), max(size, round(h * scale))), interpolation=interp)
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    img = img[top:top + size, left:left + size]
    if img.ndim == 2:
        img = img[..., None]
    if channels == 1 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
    elif channels == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def _digits(size: int, channels: int) -> ImageSet:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UsageError("--data digits needs scikit-learn: pip install 'ganrt[train]'") from None
    digits = load_digits()
    raw = np.clip(digits.images * (255 / 16), 0, 255).astype(np.uint8)  # 8 × 8, values 0..16
    images = np.stack([_fit(img, size, channels) for img in raw])
    return ImageSet(images, digits.target.astype(np.int64), "scikit-learn digits (1,797 handwritten digits)")


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (MNIST format: big-endian magic, dimensions, unsigned bytes); ``.gz`` too."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4:
                raise UsageError(f"{path.name} is not an IDX file (too short)")
            (magic,) = struct.unpack(">I", head)
            if magic not in (IDX_IMAGES, IDX_LABELS):
                raise UsageError(f"{path.name} is not an MNIST-format IDX file of bytes (magic number "
                                 f"0x{magic:08x}, expected 0x{IDX_IMAGES:08x} for images)")
            dims = struct.unpack(f">{magic & 0xFF}I", fh.read(4 * (magic & 0xFF)))
            count = int(np.prod(dims, dtype=object))
            if count > MAX_IDX_BYTES:
                raise UsageError(f"{path.name} declares {count:,} values, more than ganrt trains on "
                                 f"({MAX_IDX_BYTES:,}); is it an IDX file?")
            data = np.frombuffer(fh.read(count), dtype=np.uint8)  # no more than declared: a gzip bomb stops here
    except (OSError, EOFError, struct.error) as exc:
        raise UsageError(f"cannot read {path.name}: {exc}") from None
    if data.size < count:
        raise UsageError(f"{path.name} is truncated: it declares {count:,} values and holds {data.size:,}")
    return data[:count].reshape(dims)


def _idx(path: Path, size: int, channels: int) -> ImageSet:
    images = read_idx(path)
    if images.ndim != 3:
        raise UsageError(f"{path.name} holds labels or a {images.ndim}-D array, not N × H × W images")
    labels = None
    for candidate in _label_files(path):
        if candidate.is_file():
            try:
                found = read_idx(candidate)
            except UsageError:
                continue
            if found.ndim == 1 and len(found) == len(images):
                labels = found.astype(np.int64)
                break
    fitted = np.stack([_fit(img, size, channels) for img in images])
    return ImageSet(fitted, labels, f"IDX file {path.name} ({len(images):,} images)")


def _label_files(path: Path) -> list[Path]:
    """Where MNIST keeps the labels of an images file: …-images-idx3-ubyte → …-labels-idx1-ubyte."""
    name = path.name
    return [path.with_name(name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
                           .replace("-images", "-labels"))]


def _folder(path: Path, size: int, channels: int) -> ImageSet:
    from ganrt.pipelines.archive.system_files import user_files

    files = user_files(path)
    if not files:
        raise UsageError(f"--data {path}: the folder is empty")
    out, skipped = [], 0
    for p in files:
        arr = read_pixels(p, "L" if channels == 1 else "RGB")
        if arr is None:
            skipped += 1
            continue
        out.append(_fit(arr, size, channels))
    if not out:
        raise UsageError(f"--data {path}: none of its {len(files)} file(s) is a readable image")
    return ImageSet(np.stack(out), None, f"folder {path} ({len(out):,} images)", skipped)
