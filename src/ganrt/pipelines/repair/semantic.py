"""Semantic inpainting with a trained GAN (Yeh et al. 2016, arXiv 1607.07539).

Search the generator's latent space for the image whose *known* pixels match
the damaged one and that the discriminator finds real, then blend the
generated pixels into the hole:

- contextual loss: ‖W ⊙ (G(z) − y)‖₁, where W weights each known pixel by the
  share of hole pixels in its 7 × 7 neighbourhood (pixels next to the hole
  matter most, far ones not at all);
- prior loss: λ · −log D(G(z)) (λ = 0.003, the paper's value), written with the
  discriminator's logit as softplus(−logit);
- several random restarts per image, optimised together with Adam; the one with
  the lowest total loss wins;
- Poisson blending: inside the hole, the output keeps G(z)'s gradients, with
  the known pixels around it as the boundary (Jacobi iterations).

The generator and discriminator come from a ``ganrt train gan|dcgan`` run
folder (its last checkpoint; the generator's EMA weights when the run kept
them). Images of another size are searched at the generator's size and the
result resized back; only the hole's pixels change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganrt.errors import ModelLoadError
from ganrt.pipelines.repair.inpaint import composite
from ganrt.runtime.tiling import maxval_for

if TYPE_CHECKING:
    import torch

PRIOR_WEIGHT = 0.003
WINDOW = 7


@dataclass
class GanPair:
    generator: torch.nn.Module  # noise (N, nz) → images in -1..1
    discriminator: torch.nn.Module  # images → logits
    noise_dim: int
    size: int
    channels: int
    name: str


def load_gan_run(run: Path) -> GanPair:
    """The generator (EMA weights when kept) and discriminator of a ``ganrt train gan|dcgan`` run: the newest
    checkpoint that loads as plain tensors (never one whose unpickling would run code)."""
    from ganrt.models.loader import load_model
    from ganrt.models.own import file_metadata, own_arch

    checkpoints = sorted((run / "checkpoints").glob("step-*.pt"))
    if not checkpoints or not (run / "generator.safetensors").is_file():
        raise ModelLoadError(f"{run} is not a ganrt train gan/dcgan run (no checkpoints/ and generator.safetensors)")
    meta = file_metadata(run / "generator.safetensors")
    arch = own_arch(meta) if meta.get("ganrt.arch") else None
    if arch is None or arch.critic is None:
        raise ModelLoadError(f"{run} holds a {meta.get('ganrt.recipe') or 'unknown'} run; semantic inpainting needs a "
                             "gan or dcgan run (a generator of images from noise and its discriminator)")
    d = arch.critic(meta)
    d.load_state_dict(_discriminator_state(checkpoints))
    g = load_model(str(run / "generator.safetensors")).module
    for net in (g, d):
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
    size, channels = int(meta["ganrt.image_size"]), int(meta["ganrt.out_channels"])
    return GanPair(g, d, int(meta["ganrt.noise_dim"]), size, channels, run.name)


def _discriminator_state(checkpoints: list[Path]) -> dict:
    """The discriminator's weights from the newest checkpoint that loads as tensors alone."""
    import pickle

    import torch

    refused = []
    for path in reversed(checkpoints):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)["networks"]["discriminator"]
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, KeyError, TypeError) as exc:
            refused.append(f"{path.name}: {str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}")
    raise ModelLoadError(f"no checkpoint of {checkpoints[0].parent.parent} loads as plain tensors ("
                         f"{'; '.join(refused[:3])}); nothing in them was run")


def context_weights(known: np.ndarray) -> np.ndarray:
    """W of the contextual loss: for a known pixel, the share of hole pixels in its 7×7 window."""
    import cv2

    hole = (known < 0.5).astype(np.float32)
    share = cv2.boxFilter(hole, -1, (WINDOW, WINDOW), normalize=True, borderType=cv2.BORDER_CONSTANT)
    return share * (known >= 0.5)


def poisson_blend(known_img: np.ndarray, generated: np.ndarray, hole: np.ndarray, iterations: int = 400) -> np.ndarray:
    """Pixels of ``known_img`` outside ``hole``; inside, ``generated``'s gradients fitted to that boundary."""
    x = np.where(hole[None], generated, known_img).astype(np.float32)
    g = generated.astype(np.float32)
    pad = lambda a: np.pad(a, ((0, 0), (1, 1), (1, 1)), mode="edge")  # noqa: E731
    gp = pad(g)
    lap_g = 4 * g - gp[:, :-2, 1:-1] - gp[:, 2:, 1:-1] - gp[:, 1:-1, :-2] - gp[:, 1:-1, 2:]
    for _ in range(iterations):
        xp = pad(x)
        neighbours = xp[:, :-2, 1:-1] + xp[:, 2:, 1:-1] + xp[:, 1:-1, :-2] + xp[:, 1:-1, 2:]
        x = np.where(hole[None], (neighbours + lap_g) / 4.0, x)
    return x


def search(pair: GanPair, images: np.ndarray, known: np.ndarray, *, restarts: int = 8, steps: int = 300,
           lr: float = 0.03, seed: int = 0, prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """G(ẑ) for each image: ``images`` N×C×S×S in -1..1, ``known`` N×S×S (1 = known pixel)."""
    import torch

    n = len(images)
    y = torch.from_numpy(images.astype(np.float32)).repeat_interleave(restarts, 0)
    w = torch.from_numpy(np.stack([context_weights(k) for k in known])[:, None]).repeat_interleave(restarts, 0)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n * restarts, pair.noise_dim, generator=gen).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        fake = pair.generator(z)
        contextual = (w * (fake - y)).abs().flatten(1).sum(1)
        prior = torch.nn.functional.softplus(-pair.discriminator(fake))
        (contextual + prior_weight * prior).sum().backward()
        opt.step()
    with torch.no_grad():
        fake = pair.generator(z)
        loss = (w * (fake - y)).abs().flatten(1).sum(1) + prior_weight * torch.nn.functional.softplus(
            -pair.discriminator(fake))
        best = loss.view(n, restarts).argmin(1)
        chosen = fake.view(n, restarts, *fake.shape[1:])[torch.arange(n), best]
    return chosen.numpy()


class SemanticFiller:
    """The repair filler of ``--inpaint RUN_DIR``: semantic inpainting with a trained GAN's G and D."""

    def __init__(self, pair: GanPair, *, restarts: int = 8, steps: int = 300, seed: int = 0):
        self.pair, self.restarts, self.steps, self.seed = pair, restarts, steps, seed

    @property
    def name(self) -> str:
        return f"semantic inpainting (Yeh et al.) with {self.pair.name}"

    def fill_batch(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Images N×H×W×C (uint8/uint16) and masks N×H×W (non-zero = hole) → the images, holes filled."""
        import cv2

        top = float(maxval_for(images.dtype))
        s, c = self.pair.size, self.pair.channels
        n, h, w = images.shape[:3]
        small, known, full_known = [], [], []
        for img, mask in zip(images, masks):
            x = img.astype(np.float32) / top
            if x.ndim == 2:
                x = x[..., None]
            if c == 1 and x.shape[2] == 3:
                x = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
            elif c == 3 and x.shape[2] == 1:
                x = np.repeat(x, 3, axis=2)
            k = (mask == 0).astype(np.float32)
            if (h, w) != (s, s):
                x = cv2.resize(x, (s, s), interpolation=cv2.INTER_AREA).reshape(s, s, c)
                k = (cv2.resize(k, (s, s), interpolation=cv2.INTER_AREA) > 0.99).astype(np.float32)
            small.append(x.transpose(2, 0, 1) * 2 - 1)
            known.append(k)
            full_known.append(mask == 0)
        generated = search(self.pair, np.stack(small), np.stack(known), restarts=self.restarts, steps=self.steps,
                           seed=self.seed)
        out = []
        for img, gen, k_small, k_full in zip(images, generated, known, full_known):
            gen = (gen + 1) / 2  # C×S×S in 0..1
            if (h, w) != (s, s):
                gen = cv2.resize(gen.transpose(1, 2, 0), (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, c)
                gen = gen.transpose(2, 0, 1)
            x = img.astype(np.float32) / top
            x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
            target_c = x.shape[0]
            if gen.shape[0] != target_c:
                gen = np.repeat(gen, target_c, axis=0) if gen.shape[0] == 1 else gen.mean(0, keepdims=True)
            blended = poisson_blend(x, gen, ~k_full)
            blended = np.clip(np.rint(blended * top), 0, top).astype(img.dtype)
            blended = blended[0] if img.ndim == 2 else blended.transpose(1, 2, 0)
            out.append(composite(img, blended, ~k_full))
        return np.stack(out)

    def fill(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if not (mask > 0).any():
            return rgb.copy()
        return self.fill_batch(rgb[None], mask[None])[0]
