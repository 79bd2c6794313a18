"""FLOPs per input pixel, counted from the model's layers (a probe run with hooks), not a constant.

Convolutions and linear layers dominate these networks: 2 × (output elements)
× (inputs per output). Element-wise layers (activations, adds, resizes) add
well under 1 % and are not counted.
"""

from __future__ import annotations


def flops_per_pixel(model, probe: int = 32) -> float:
    """FLOPs per input pixel (per output pixel for generators, whose input is a noise vector)."""
    from ganrt.models.info_cache import read_info, update_info

    known = read_info(model.checksum).get("flops_per_px")
    if isinstance(known, (int, float)) and known > 0:
        return float(known)
    import torch

    total = 0

    def conv_hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, torch.nn.Conv2d):
            per_out = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        else:  # Linear
            per_out = mod.in_features
        total += 2 * out.numel() * per_out

    handles = [m.register_forward_hook(conv_hook) for m in model.module.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    from ganrt.kinds import ModelSpec

    spec = ModelSpec.of(model)
    try:
        with torch.inference_mode():
            model.module(*(torch.from_numpy(x) for x in spec.kind.example(spec, 1, probe, probe)))
    finally:
        for h in handles:
            h.remove()
    pixels = probe * probe if spec.kind.spatial else spec.image_size ** 2
    value = total / pixels
    update_info(model.checksum, flops_per_px=value)
    return value
