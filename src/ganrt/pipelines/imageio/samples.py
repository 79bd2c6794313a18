"""Pixel samples between decoders, ganrt and encoders: Pillow's modes to arrays, any depth to 16 bits and back,
OpenCV's decoders and encoders for any path."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ganrt.errors import ImageReadError, ImageWriteError
from ganrt.pipelines.imageio.decoded import ALPHA_MODES

log = logging.getLogger(__name__)


def pil_to_arrays(img) -> tuple[np.ndarray, np.ndarray | None]:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("1", "L"):
        img = img.convert("L")
    elif mode == "LA":
        arr = np.asarray(img)
        return np.ascontiguousarray(arr[..., 0]), np.ascontiguousarray(arr[..., 1])
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if mode in ALPHA_MODES else "RGB")
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    return np.ascontiguousarray(arr), None


@contextmanager
def quiet_opencv():
    """OpenCV's own log silenced (its JPEG 2000 codec warns on every file with an ICC profile, and prints
    errors that ganrt turns into its own one-line reasons)."""
    import cv2

    logging_ = cv2.utils.logging
    before = logging_.getLogLevel()
    logging_.setLogLevel(logging_.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_.setLogLevel(before)


def to_16bit(arr: np.ndarray, name: str) -> np.ndarray:
    """Samples of any depth as 16-bit. 8-bit ones are stretched; signed ones lose their negatives; integers
    beyond 16 bits are scaled from the whole bytes their largest value needs (24 or 32 bits). Floating
    point (TIFF's 32- and 16-bit float) is read as 0–1, the convention of float images, or as 0–255 or
    0–65535 where its largest value says so (saved from an array of 8- or 16-bit values): never the
    black image 0–1 samples give when cut to integers. NaN is black, +inf white; larger floats (HDR) are
    refused, not clipped to white."""
    if arr.dtype == np.uint16:
        return arr
    if arr.dtype == np.uint8:
        return arr.astype(np.uint16) * 257
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        top = float(arr[finite].max()) if finite.any() else 0.0
        full = next((f for f in (1.0, 255.0, 65535.0) if top <= f), None)
        if full is None:
            raise ImageReadError(f"floating-point samples up to {top:g}, beyond 0–1, 0–255 and 0–65535 (HDR "
                                 "data): tone-map it to a 16-bit image first")
        if full != 1.0:
            log.info("%s: floating-point samples up to %g read as 0–%g", name, top, full)
        out = np.nan_to_num(arr.astype(np.float32, copy=False), nan=0.0, posinf=full, neginf=0.0)
        return np.rint(np.clip(out, 0, full) * np.float32(65535.0 / full)).astype(np.uint16)
    if arr.dtype.kind in "iu":
        top = int(arr.max()) if arr.size else 0
        if arr.itemsize <= 2 or top <= 65535:
            return np.clip(arr, 0, 65535).astype(np.uint16)
        bits = -(-top.bit_length() // 8) * 8  # 24 or 32: the whole bytes the largest value needs
        scale = 65535.0 / (2**bits - 1)
        return np.rint(np.clip(arr, 0, None).astype(np.float64) * scale).astype(np.uint16)
    raise ImageReadError(f"unsupported sample type {arr.dtype}")


def decode_16bit(path: Path, *, gray: bool = False, bits: int = 16, page: int = 0,
                  data: bytes | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """16-bit pixels by OpenCV; ``gray``: the file is grayscale (OpenCV expands gray+alpha to BGRA);
    ``bits``: the samples' precision, stretched to the full 16-bit range when less (12-bit JPEG 2000);
    ``page``: which page of a multi-page TIFF; ``data``: the file's bytes to decode instead of the file's."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if data is None else np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    with quiet_opencv():
        if page == 0:
            arr = cv2.imdecode(data, flags)
        else:
            ok, found = cv2.imdecodemulti(data, flags, range=(page, page + 1))
            arr = found[0] if ok and found else None
    if arr is None:
        raise ImageReadError("corrupt or truncated 16-bit image data (OpenCV could not decode it)")
    if arr.dtype == np.uint16 and 8 < bits < 16:
        top = (1 << bits) - 1
        arr = ((np.minimum(arr, top).astype(np.uint32) * 65535 + top // 2) // top).astype(np.uint16)
    elif arr.dtype != np.uint16:
        arr = to_16bit(arr, path.name)
    if arr.ndim == 2:
        return arr, None
    alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
    if arr.shape[2] == 1 or gray:
        return np.ascontiguousarray(arr[..., 0]), alpha
    return np.ascontiguousarray(arr[..., 2::-1]), alpha


def to_8bit(arr: np.ndarray) -> np.ndarray:
    return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def cv2_path_ok(path: Path) -> bool:
    """Whether OpenCV can take ``path`` (it needs a name that encodes as UTF-8)."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def cv2_write(path: Path, arr: np.ndarray, params: list[int]) -> None:
    """Encode with OpenCV into memory and write the bytes with Python: the same file ``cv2.imwrite`` gives, for any
    path (OpenCV needs UTF-8 names), and a full disk is Python's OSError (ENOSPC: exit 3, one line), where
    ``imwrite`` would only say it failed, with libpng's complaint on the terminal."""
    import cv2

    ok, buf = cv2.imencode(path.suffix, arr, params)
    if not ok:
        raise ImageWriteError(f"OpenCV could not encode a {path.suffix} file")
    with open(path, "wb") as fh:
        fh.write(memoryview(buf))


def cv2_read(path: Path, flags: int):
    """``cv2.imread`` for any path (decoded from the bytes read by Python); None when undecodable (the
    caller says why, in one line: OpenCV's own log is silenced)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    with quiet_opencv():
        return cv2.imdecode(data, flags)
