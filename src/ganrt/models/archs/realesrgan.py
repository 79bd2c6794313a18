"""Real-ESRGAN's two generator families, with their public key names, for the built-in weights.

spandrel detects and builds these (and forty other architectures) from any
file; but importing spandrel costs seconds (it imports every architecture and
torchvision), which a one-photo ``--backend torch`` run paid before its first
pixel. The built-ins know their architecture, so they are built here: the
same networks as BasicSR's ``RRDBNet`` and Real-ESRGAN's ``SRVGGNetCompact``
(a test checks the outputs equal spandrel's). User files still go through
spandrel.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ResidualDenseBlock(nn.Module):
    def __init__(self, feat: int = 64, grow: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(feat, grow, 3, 1, 1)
        self.conv2 = nn.Conv2d(feat + grow, grow, 3, 1, 1)
        self.conv3 = nn.Conv2d(feat + 2 * grow, grow, 3, 1, 1)
        self.conv4 = nn.Conv2d(feat + 3 * grow, grow, 3, 1, 1)
        self.conv5 = nn.Conv2d(feat + 4 * grow, feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, feat: int = 64, grow: int = 32):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (ResidualDenseBlock(feat, grow) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator, ×4: conv_first, body (RRDBs), conv_body, two nearest ×2 + conv, conv_hr, conv_last."""

    def __init__(self, blocks: int = 23, feat: int = 64, grow: int = 32, channels: int = 3):
        super().__init__()
        self.conv_first = nn.Conv2d(channels, feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(feat, grow) for _ in range(blocks)])
        self.conv_body = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(feat, channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact video model: convolutions and PReLUs, pixel-shuffle, plus the upsampled input."""

    def __init__(self, convs: int = 16, feat: int = 64, scale: int = 4, channels: int = 3):
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(channels, feat, 3, 1, 1), nn.PReLU(feat)]
        for _ in range(convs):
            layers += [nn.Conv2d(feat, feat, 3, 1, 1), nn.PReLU(feat)]
        layers.append(nn.Conv2d(feat, channels * scale * scale, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.upsampler(self.body(x))
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def build(arch: str, state: dict) -> nn.Module | None:
    """The network for a built-in's converted state dict, or None when spandrel should build it."""
    if arch == "RRDBNet":
        blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
        net = RRDBNet(blocks, state["conv_first.weight"].shape[0], state["body.0.rdb1.conv1.weight"].shape[0])
    elif arch == "SRVGGNetCompact":
        last = max(int(k.split(".")[1]) for k in state if k.startswith("body."))
        out = state[f"body.{last}.weight"].shape[0]
        net = SRVGGNetCompact(last // 2 - 1, state["body.0.weight"].shape[0], int(round((out / 3) ** 0.5)))
    else:
        return None
    net.load_state_dict(state, strict=True)
    return net
