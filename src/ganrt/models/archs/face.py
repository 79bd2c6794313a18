"""Face networks (GFPGAN, RestoreFormer, CodeFormer) as ganrt runs every network: 0..1 pixels in and out.

Upstream feeds them pixels normalised to -1..1 and reads the first of the
outputs they return; GFPGAN's StyleGAN decoder adds fresh noise on every call
unless told not to, which a deterministic, exportable engine cannot have.
"""

from __future__ import annotations

import torch
from torch import nn


class FaceNet(nn.Module):
    def __init__(self, net: nn.Module, arch: str):
        super().__init__()
        self.net = net
        self.kwargs = {"return_rgb": False, "randomize_noise": False} if arch == "GFPGAN" else {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x * 2 - 1, **self.kwargs)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return (out + 1) / 2
