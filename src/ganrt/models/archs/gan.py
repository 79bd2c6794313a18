"""The two noise → image GANs: the simple (dense) GAN and the DCGAN.

- ``SimpleGenerator`` / ``SimpleDiscriminator``: four dense layers each, as
  the original GAN description gives them (100-d noise → 784 values for
  28 × 28 × 1), LeakyReLU between layers, tanh output; the discriminator
  ends in one logit (trained with BCE-with-logits, the stable form of its
  sigmoid probability).
- ``DCGANGenerator`` / ``DCGANDiscriminator``: dense → reshape to F × F × K →
  transposed-convolution ×2 stages with batch-norm → tanh; the discriminator
  is strided convolutions with LeakyReLU and a little dropout, then one
  logit. Sizes 28 (F = 7), 32 and 64 (F = 4); 1 or 3 channels. Weights
  N(0, 0.02), batch-norm scales N(1, 0.02), as the DCGAN paper and PyTorch's
  DCGAN example do.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SIZES = (28, 32, 64)


def check_size(size: int, channels: int) -> None:
    from ganrt.errors import UsageError

    if size not in SIZES:
        raise UsageError(f"--size must be one of {', '.join(map(str, SIZES))}, not {size}")
    if channels not in (1, 3):
        raise UsageError(f"--channels must be 1 or 3, not {channels}")


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions and dense layers, N(1, 0.02) for batch-norm scales, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class SimpleGenerator(nn.Module):
    def __init__(self, noise_dim: int = 100, size: int = 28, channels: int = 1, width: int = 256):
        super().__init__()
        self.shape = (channels, size, size)
        dims = [noise_dim, width, width * 2, width * 4]
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        layers += [nn.Linear(dims[-1], channels * size * size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class SimpleDiscriminator(nn.Module):
    def __init__(self, size: int = 28, channels: int = 1, width: int = 256):
        super().__init__()
        dims = [channels * size * size, width * 4, width * 2, width]
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2), nn.Dropout(0.3)]
        layers.append(nn.Linear(dims[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def _start(size: int) -> tuple[int, int]:
    """(F, number of ×2 stages): 7 → 14 → 28, or 4 → … → 32/64."""
    first = 7 if size == 28 else 4
    return first, int(math.log2(size // first))


class DCGANGenerator(nn.Module):
    def __init__(self, noise_dim: int = 100, size: int = 64, channels: int = 3, width: int = 64):
        super().__init__()
        first, stages = _start(size)
        k = width * 2 ** (stages - 1)
        self.start = (k, first, first)
        self.project = nn.Sequential(nn.Linear(noise_dim, k * first * first, bias=False),
                                     nn.BatchNorm1d(k * first * first), nn.ReLU(True))
        layers: list[nn.Module] = []
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(k, k // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(k // 2), nn.ReLU(True)]
            k //= 2
        layers += [nn.ConvTranspose2d(k, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.up = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z).view(-1, *self.start))


class DCGANDiscriminator(nn.Module):
    """Strided convolutions (batch-norm after the first), LeakyReLU 0.2, a little dropout before the
    logit (more, on every layer, slowed the generator's start down: measured in benchmarks/)."""

    def __init__(self, size: int = 64, channels: int = 3, width: int = 64, dropout: float = 0.1):
        super().__init__()
        first, stages = _start(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        k = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(k, k * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(k * 2), nn.LeakyReLU(0.2, True)]
            k *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(k * first * first, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1)).squeeze(1)
