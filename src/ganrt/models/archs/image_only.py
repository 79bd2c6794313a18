"""A network with the image as its only input.

Some architectures take optional extra arguments (Real-CUGAN's ``forward(x, alpha=1)``);
traced as they are, the exporters would make each of them a second graph input.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn


class ImageOnly(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def image_only(model: nn.Module) -> nn.Module:
    """``model`` itself when it takes just the image, else wrapped so that it does."""
    extra = list(inspect.signature(model.forward).parameters.values())[1:]
    if extra and all(p.default is not inspect.Parameter.empty for p in extra):
        return ImageOnly(model)
    return model
