"""Size tiles from a memory budget: measure a model's activation footprint per input pixel."""

from __future__ import annotations

import functools

LIVE_TENSORS = 3  # a conv's input, its output and one skip connection are alive at once
CPU_BUDGET = 512 << 20
CUDA_BUDGET_FRACTION = 0.5


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
    """fp32 bytes of activations alive at the peak, per input pixel (from a 32×32 probe run)."""
    return _bytes_per_pixel(id(model.module), model.module, model.in_channels)


def auto_tile(model, device: str = "cpu", *, pad: int = 16, budget: int | None = None) -> int:
    """The largest tile (input pixels per side, multiple of 16) whose activations fit the budget."""
    if budget is None:
        budget = CPU_BUDGET
        if device.startswith("cuda"):
            import torch

            free, _total = torch.cuda.mem_get_info()
            budget = int(free * CUDA_BUDGET_FRACTION)
    side = int((budget / activation_bytes_per_pixel(model)) ** 0.5) - 2 * pad
    side = max(64, side // 16 * 16)
    multiple = max(1, model.size_multiple)
    return max(multiple, side // multiple * multiple)
