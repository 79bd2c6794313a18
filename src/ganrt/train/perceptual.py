"""The perceptual (VGG19 feature) loss, from weights the user provides.

ImageNet VGG19 weights ship in no registry package and are never downloaded:
``--perceptual-weights vgg19.pth`` takes torchvision's layout (``features.N.
weight``/``bias``; the classifier may be left out), read with
``torch.load(weights_only=True)``. The loss is Real-ESRGAN's: L1 between
features before the activation of conv1_2, conv2_2 (×0.1), conv3_4, conv4_4 and
conv5_4 (×1), on ImageNet-normalised inputs.
"""

from __future__ import annotations

from pathlib import Path

from ganrt.errors import UsageError

LAYERS = {2: 0.1, 7: 0.1, 16: 1.0, 25: 1.0, 34: 1.0}  # index in vgg19.features → weight
VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


class PerceptualLoss:
    def __init__(self, path: Path, device):
        import torch
        from torch import nn

        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise UsageError(f"--perceptual-weights {path}: no such file") from None
        except Exception as exc:  # noqa: BLE001 - a file that is not a plain checkpoint
            raise UsageError(f"--perceptual-weights {path.name} cannot be read as a weights-only checkpoint "
                             f"({str(exc).splitlines()[0][:120]})") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        features = self._features(state, path)
        layers: list[nn.Module] = []
        channels = 3
        for i in range(max(LAYERS) + 1):
            if i in VGG19_CONVS:
                weight = features[f"{i}.weight"]
                conv = nn.Conv2d(channels, weight.shape[0], 3, 1, 1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(features[f"{i}.bias"])
                layers.append(conv)
                channels = weight.shape[0]
            elif i in (4, 9, 18, 27):
                layers.append(nn.MaxPool2d(2))
            else:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers).to(device).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    @staticmethod
    def _features(state, path: Path) -> dict:
        """``features.N.weight`` → ``N.weight`` for every VGG19 convolution, checked against VGG19's shapes."""
        expected_out = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
        if not isinstance(state, dict):
            raise UsageError(f"--perceptual-weights {path.name} holds no state dict (torchvision's VGG19 layout)")
        found = {}
        for i, out in zip(VGG19_CONVS, expected_out):
            w, b = state.get(f"features.{i}.weight"), state.get(f"features.{i}.bias")
            if w is None or b is None or tuple(w.shape[:1]) != (out,) or tuple(w.shape[2:]) != (3, 3):
                raise UsageError(f"--perceptual-weights {path.name} is not torchvision's VGG19 layout "
                                 f"(features.{i}.weight missing or not {out}×…×3×3)")
            found[f"{i}.weight"], found[f"{i}.bias"] = w.float(), b.float()
        return found

    def __call__(self, got, want):
        x, y = (got - self.mean) / self.std, (want - self.mean) / self.std
        loss = 0.0
        for i, layer in enumerate(self.net):
            x, y = layer(x), layer(y)
            if i in LAYERS:  # features before the activation, as Real-ESRGAN takes them
                loss = loss + LAYERS[i] * (x - y.detach()).abs().mean()
        return loss
