"""Real-CUGAN as upstream runs it, in a form the ONNX exporters keep whole.

spandrel's ``UpCunet{2,3,4}x.forward`` rounds odd sizes up with a reflect pad and
crops the result back behind ``if w0 != pw``: a tracing exporter freezes that
branch at the example's size, so an exported graph would return a wrong size (or,
with sizes rounded up by the caller, a different picture near the bottom and
right edges: up to 131 levels on a 61 × 93 photo). Here the padding amount is
computed from the input's shape and the crop is always applied (a no-op on sizes
already round), so one graph serves every size and matches upstream (and the ncnn
files) to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# scale → (reflect border, size multiple) of upstream's forward
_PADDING = {2: (18, 2), 3: (14, 4), 4: (19, 2)}


class CuganNet(nn.Module):
    def __init__(self, net: nn.Module, scale: int):
        super().__init__()
        if scale not in _PADDING:
            raise ValueError(f"Real-CUGAN has no ×{scale} network")
        self.net = net
        self.scale = scale
        self.pro = getattr(net, "pro", None) is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net, s = self.net, self.scale
        border, multiple = _PADDING[s]
        h, w = x.shape[2], x.shape[3]
        if self.pro:
            x = x * 0.7 + 0.15
        padded = F.pad(x, (border, border + (-w) % multiple, border, border + (-h) % multiple), "reflect")
        y = net.unet1(padded)
        y = net.unet2(y) + F.pad(y, (-20, -20, -20, -20))
        if s == 4:
            y = net.ps(F.pad(net.conv_final(y), (-1, -1, -1, -1)))
        y = y[:, :, : h * s, : w * s]
        if s == 4:
            y = y + F.interpolate(x, scale_factor=4, mode="nearest")
        if self.pro:
            y = (y - 0.15) / 0.7
        return y
