"""Size tiles from a memory budget.

Two things grow with the tile: the engine's activations (measured once per
model: the largest layer output of a probe run, per input pixel, times the
tensors alive at once) and the tiler's float band (one row of tiles across
the whole output width). ``TilePolicy`` runs an image whole when that fits;
otherwise, of the tiles that fit, it picks those that make the engine run the
fewest pixels (tiles redo their overlaps: x4plus on 640 × 480 ran 1.44× the
photo's pixels in 3 × 4 tiles of 192, 1.12× in 2 × 2 tiles of 336 × 256).
What fits: ``budget`` per tile; for a photo, the photo allowance with its own
pixels counted, so a scan's tiles stay within ``budget``; and a whole run, the
whole-run allowance. On the CPU both allowances are also bounded by a quarter
of the memory available where the tiles are planned: a policy made on a Ray
driver and planned in an actor is bounded by the actor's node, not the driver's.

Why a whole run may take more than tiles: tiles cost time beyond their pixels
(x4plus on 640 × 480, OpenVINO fp32: 2 × 2 tiles ran 1.12× the pixels and took
1.21× the whole call's time) and leave seams (results/tile_plans.md), while
larger tiles would buy little: the overlap is already a small share.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ganrt.runtime.tiling import DEFAULT_PAD, fit_tile, tile_shape

LIVE_TENSORS = 3  # a conv's input, its output and one skip connection are alive at once
CPU_BUDGET = 512 << 20
PHOTO_BUDGET = 1280 << 20  # a photo's tiles, its pixels counted: fewer tiles redo fewer overlaps
WHOLE_RUN_BUDGET = 4096 << 20  # an image runs whole up to this (x4plus on 640 × 480: 3.8 GB), no seams at all
HELD_COPIES = 2  # the image's pixels in and out, and as much again for decoding and encoding them
CUDA_BUDGET_FRACTION = 0.5
MIN_TILE = 64
_engines_here = 1  # engines sharing this machine's memory (Ray actors on one node)


@functools.lru_cache(maxsize=1)
def memory_quarter() -> int:
    """A quarter of the memory available on this machine, read once per process (a Ray actor reads its node's)."""
    import psutil

    return psutil.virtual_memory().available // 4


def share_memory_among(engines: int) -> None:
    """This process runs one of ``engines`` engines on this machine (a Ray actor among others on its node):
    the photo and whole-run allowances, set for one engine, are split among them."""
    global _engines_here
    _engines_here = max(1, int(engines))


@functools.lru_cache(maxsize=16)
def _bytes_per_pixel(module_id: int, module, channels: int, probe: int = 32) -> int:
    import torch

    biggest = 0

    def hook(_mod, _inp, out):
        nonlocal biggest
        if isinstance(out, torch.Tensor):
            biggest = max(biggest, out.numel())

    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            module(torch.rand(1, channels, probe, probe))
    finally:
        for h in handles:
            h.remove()
    return max(1, LIVE_TENSORS * 4 * biggest // (probe * probe))


def activation_bytes_per_pixel(model) -> int:
    """fp32 bytes of activations alive at the peak, per input pixel (from a 32×32 probe run, or the
    network's least size, cached)."""
    from ganrt.models.info_cache import read_info, update_info

    known = read_info(model.checksum).get("act_bytes_per_px")
    if isinstance(known, int) and known > 0:
        return known
    multiple = max(1, model.size_multiple)
    probe = -(-max(32, model.min_size) // multiple) * multiple  # networks of a fixed size (faces) need it
    measured = _bytes_per_pixel(id(model.module), model.module, model.in_channels, probe)
    update_info(model.checksum, act_bytes_per_px=measured)
    return measured


def default_budget(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free * CUDA_BUDGET_FRACTION)
    return CPU_BUDGET


@dataclass(frozen=True)
class TilePolicy:
    """A fixed tile size (0 = whole image), or ``size=None``: the largest tile that fits ``budget``."""

    size: int | None = 0
    act_bytes_per_px: int = 0
    budget: int = CPU_BUDGET
    multiple: int = 1
    photo_budget: int = 0  # a photo's tiles (its pixels counted) may exceed ``budget`` up to this
    whole_budget: int = 0  # and its whole run up to this
    bounded: bool = False  # both allowances at most a quarter of the memory available where tiles are planned

    @classmethod
    def auto(cls, model, device: str = "cpu", budget: int | None = None) -> TilePolicy:
        """The budget bounds each tile; on the CPU a photo may run in larger tiles (PHOTO_BUDGET), or whole
        (WHOLE_RUN_BUDGET), both at most a quarter of the available memory: tiling it would cost more time
        (x4plus on 320×240: 2.06× the bare engine call in 2×2 tiles; on 640×480: 1.21× in 2×2) than the
        memory it saves, while a scan's tiles stay within ``budget`` as before. The quarter is read when
        tiles are planned, on the machine that plans them (``memory_quarter``)."""
        cpu = budget is None and not device.startswith("cuda")
        photo, whole = (PHOTO_BUDGET, WHOLE_RUN_BUDGET) if cpu else (0, 0)
        return cls(None, activation_bytes_per_pixel(model), budget or default_budget(device),
                   max(1, model.size_multiple), photo, whole, bounded=cpu)

    def describe(self) -> str:
        return "auto" if self.size is None else str(self.size)

    def _parts(self, tile: int, height: int, width: int, scale: int, channels: int, pad: int) -> tuple[int, int]:
        """(activation bytes of one tile, bytes of the tiler's band) for tiles of side ``tile``."""
        return self._bytes(tile_shape(height, width, tile, pad, multiple=self.multiple), width, scale, channels, pad)

    def _bytes(self, shape: tuple[int, int, int], width: int, scale: int, channels: int, pad: int) -> tuple[int, int]:
        """``_parts`` for a planned ``tile_shape``: (activation bytes of one tile, bytes of the tiler's band)."""
        count, th, tw = shape
        act = self.act_bytes_per_px * th * tw
        band = 0 if count == 1 else (th + pad) * scale * width * scale * channels * 4
        return act, band

    def cost(self, tile: int, height: int, width: int, scale: int, channels: int = 3, pad: int = DEFAULT_PAD) -> int:
        act, band = self._parts(tile, height, width, scale, channels, pad)
        return act + band

    def _fits(self, shape: tuple[int, int, int], height: int, width: int, scale: int, channels: int, pad: int) -> bool:
        """Whether tiles planned as ``shape`` fit: within ``budget``; or within the photo's (whole run's)
        allowance with the image's own pixels counted: a photo (640 × 480 at 4×: 16 MB in and out) gets it,
        a scan (12 MP: 612 MB) stays within ``budget``."""
        cost = sum(self._bytes(shape, width, scale, channels, pad))
        held = HELD_COPIES * height * width * channels * (1 + scale * scale)
        photo, whole = self.photo_budget, self.whole_budget if shape[0] == 1 else 0
        if self.bounded:
            quarter = memory_quarter()
            photo, whole = min(photo, quarter), min(whole, quarter)
        allowance = max(photo, whole) // _engines_here
        return cost <= self.budget or cost + held <= allowance

    def for_image(self, height: int, width: int, scale: int, channels: int = 3, pad: int = DEFAULT_PAD) -> int:
        """The whole image (0) when it fits; else, of the tiles that fit, those that make the engine run the
        fewest pixels (overlaps included), the larger on a tie."""
        if self.size is not None:
            return self.size
        if self._fits((1, height, width), height, width, scale, channels, pad):
            return 0
        best, least = 0, None
        for tile in range(max(height, width) // 16 * 16, MIN_TILE - 1, -16):
            tile = max(self.multiple, tile // self.multiple * self.multiple)
            shape = tile_shape(height, width, tile, pad, multiple=self.multiple)
            pixels = shape[0] * shape[1] * shape[2]
            if self._fits(shape, height, width, scale, channels, pad) and (least is None or pixels < least):
                best, least = tile, pixels
        return best or max(self.multiple, MIN_TILE // self.multiple * self.multiple)

    def for_engine(self, engine, height: int, width: int, channels: int = 3, pad: int = DEFAULT_PAD) -> int:
        """``for_image``, then shrunk so that one call stays within what ``engine`` accepts (TensorRT profiles)."""
        tile = self.for_image(height, width, engine.scale, channels, pad)
        return fit_tile(tile, height, width, pad, engine.max_input_hw)

    def batch_for(self, tile: int, height: int, width: int, scale: int, channels: int = 3,
                  pad: int = DEFAULT_PAD, most: int = 4) -> int:
        """How many tiles one engine call may take: each adds a tile's activations to the budget."""
        if self.size is not None or self.act_bytes_per_px == 0:
            return most
        act, band = self._parts(tile or max(height, width), height, width, scale, channels, pad)
        return max(1, min(most, (self.budget - band) // max(1, act)))
