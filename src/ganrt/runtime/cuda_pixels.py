"""Pixels in and out of the GPU: integer tiles uploaded as they are (4× less traffic than float32),
converted, padded and clamped on the device. Used by the CUDA backends' ``infer_pixels``."""

from __future__ import annotations

import numpy as np


TORCH_PAD = {"reflect": "reflect", "edge": "replicate"}  # numpy's names for the pads, in torch's


def upload(tiles: np.ndarray, maxval: float, device, dtype, spec):
    """NHWC integer (or float 0..1) tiles → NCHW ``dtype`` tensor in 0..1 on ``device``, padded as every engine
    pads (``base.pad_rule``). Returns (tensor, (h, w)) with the unpadded size."""
    import torch

    from ganrt.runtime.base import pad_rule

    n, h, w, _ = tiles.shape
    raw = torch.from_numpy(np.ascontiguousarray(tiles))
    if torch.device(device).type == "cuda":
        raw = raw.pin_memory()  # page-locked: the copy runs asynchronously at full PCIe speed
    # 16-bit pixels are scaled in float32 first: fp16 tops out at 65504, so 65535 would become inf
    x = raw.to(device, non_blocking=True).permute(0, 3, 1, 2).to(torch.float32 if maxval > 2048 else dtype)
    if maxval != 1.0:
        x = x.div_(maxval)
    x = x.to(dtype)
    ph, pw, mode = pad_rule(spec, h, w)
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode=TORCH_PAD[mode])
    return x.contiguous(), (h, w)


def download(y, size: tuple[int, int], scale: int, out_dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """NCHW output on the device → (NHWC pixels on the host, per-item finite flags).

    With an unsigned-integer ``out_dtype`` the pixels are quantised on the device, exactly as
    ``tiling.quantize`` does on the host (floor(v·max + 0.5) of the clamped value), and travel at
    1 or 2 bytes each; otherwise they come back as float32 clamped to 0..1. Either way they land
    in page-locked memory: on an H100 machine a 720p ×4 float32 frame took 151 ms to copy into
    ordinary (pageable) memory and 3.2 ms into page-locked memory; as uint8, 0.8 ms.
    """
    import torch

    h, w = size
    y = y[:, :, : h * scale, : w * scale]
    finite = y.isfinite().flatten(1).all(dim=1)
    y = y.float().clamp(0, 1).permute(0, 2, 3, 1)
    if out_dtype is not None and np.dtype(out_dtype).kind == "u":
        y = y.mul(float(np.iinfo(out_dtype).max)).add_(0.5).to(getattr(torch, np.dtype(out_dtype).name))
    host = torch.empty(y.shape, dtype=y.dtype, pin_memory=y.is_cuda)  # reused by torch's pinned-block cache
    host.copy_(y, non_blocking=y.is_cuda)
    if y.is_cuda:
        torch.cuda.current_stream(y.device).synchronize()
    return host.numpy(), finite.cpu().numpy()


def infer_pixels_on_device(engine, run, device, dtype, tiles: np.ndarray, maxval: float, out_dtype) -> np.ndarray:
    """The CUDA backends' ``infer_pixels``: upload, ``run`` the model on the device tensor, download;
    items with NaN/Inf in them go through the engine's numpy path (its fp32 guard) again."""
    import torch

    from ganrt.runtime.base import Engine
    from ganrt.runtime.tiling import quantize

    n, h, w, c = tiles.shape
    engine.check_shapes([(n, c, h, w)])  # the checks of every engine input, before anything is uploaded
    with torch.inference_mode(), torch.cuda.device(device):
        x, size = upload(tiles, maxval, device, dtype, engine.spec)
        out, finite = download(run(x), size, engine.scale, out_dtype)
    if not finite.all():
        out[~finite] = quantize(Engine.infer_pixels(engine, tiles[~finite], maxval), out.dtype)
    return out
