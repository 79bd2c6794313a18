"""Super-resolution GAN networks: SRGAN's generator and discriminator, Real-ESRGAN's U-Net discriminator.

- ``SRResNet`` (the SRGAN paper's generator): 9 × 9 convolution + PReLU,
  residual blocks of (3 × 3 conv, batch-norm, PReLU, 3 × 3 conv,
  batch-norm), a 3 × 3 conv + batch-norm closing a long skip, ×2
  pixel-shuffle stages with PReLU, a 9 × 9 convolution out. Images in and
  out in 0..1.
- ``VGGDiscriminator`` (the SRGAN paper's): 3 × 3 convolutions alternating
  stride 1 and 2 from 64 to 512 channels, batch-norm, LeakyReLU 0.2, then
  dense 1024 → LeakyReLU → dense 1 (a logit); pooled to 6 × 6 first, so any
  crop size works.
- ``UNetDiscriminatorSN`` (Real-ESRGAN's): a U-Net with spectral
  normalisation giving a per-pixel logit map, for ESRGAN fine-tuning.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width), nn.PReLU(width),
                                  nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        nn.init.zeros_(self.body[-1].weight)  # each block starts as the identity (Goyal et al. 2017)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRGAN's generator. ``residual``: it learns what to add to a bicubic upscale of its input (as
    VDSR does; its last convolution starts at zero, so training starts from bicubic's quality, not
    from noise); without it, the whole image, as in the SRGAN paper (which takes far more steps).
    The last batch-norm of every residual block (and of the long skip) starts with a zero scale, so
    the blocks start as identities: batch-normalised noise added to the features otherwise swamps
    the image and the network learns nothing in its first hundreds of steps (measured: +0.001 dB
    over bicubic after 300 steps, against +0.45 dB without batch-norm; see benchmarks/README.md)."""

    def __init__(self, scale: int = 4, blocks: int = 16, width: int = 64, channels: int = 3,
                 residual: bool = True):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError("SRResNet upscales ×2, ×4 or ×8")
        self.scale, self.residual = scale, residual
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, 1, 4), nn.PReLU(width))
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.body_end = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        nn.init.zeros_(self.body_end[-1].weight)
        ups: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            ups += [nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(width, channels, 9, 1, 4)
        if residual:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        out = self.tail(self.upsample(feat + self.body_end(self.body(feat))))
        if self.residual:
            out = out + nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


class VGGDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, width: int = 64):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2, True)]
        widths = [width, width, width * 2, width * 2, width * 4, width * 4, width * 8, width * 8]
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers += [nn.Conv2d(a, b, 3, 2 if i % 2 == 0 else 1, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(6)
        self.head = nn.Sequential(nn.Linear(widths[-1] * 36, 1024), nn.LeakyReLU(0.2, True), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1)).squeeze(1)


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's discriminator: a spectrally normalised U-Net, one logit per pixel."""

    def __init__(self, channels: int = 3, width: int = 64):
        super().__init__()
        sn = spectral_norm
        self.conv0 = nn.Conv2d(channels, width, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(width, width * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(width * 2, width * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(width * 4, width * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(width * 8, width * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(width * 4, width * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(width * 2, width, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(width, width, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(width, width, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(width, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        up = nn.functional.interpolate
        x0 = act(self.conv0(x), 0.2)
        x1 = act(self.conv1(x0), 0.2)
        x2 = act(self.conv2(x1), 0.2)
        x3 = act(self.conv3(x2), 0.2)
        x4 = act(self.conv4(up(x3, size=x2.shape[2:], mode="bilinear", align_corners=False)), 0.2) + x2
        x5 = act(self.conv5(up(x4, size=x1.shape[2:], mode="bilinear", align_corners=False)), 0.2) + x1
        x6 = act(self.conv6(up(x5, size=x0.shape[2:], mode="bilinear", align_corners=False)), 0.2) + x0
        out = act(self.conv7(x6), 0.2)
        out = act(self.conv8(out), 0.2)
        return self.conv9(out)
