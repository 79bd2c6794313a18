"""Noise → image GANs: the simple (dense) GAN and the DCGAN, trained as PyTorch's DCGAN example does.

Adam (lr 2e-4, β1 0.5), BCE-with-logits, the non-saturating generator loss,
one discriminator step then ``g_steps`` generator steps per batch (2 by
default: with one, the discriminator wins the first hundreds of steps and the
generator barely moves; measured in benchmarks/README.md), N(0, 0.02) weights. Images are scaled to -1..1 (tanh's range). A fixed noise batch
(seeded by the run's seed) gives the sample grid, so grids compare across
steps and runs.
"""

from __future__ import annotations

import numpy as np

from ganrt.kinds import GENERATION

GRID = 8  # samples per side of the grid


class GanRecipe:
    kind = GENERATION

    def __init__(self, name: str):
        self.name = name

    def setup(self, config, device) -> None:
        import torch

        from ganrt.models.archs import gan
        from ganrt.notify import notify
        from ganrt.train.data import load_images

        gan.check_size(config.size, config.channels)
        self.config, self.device = config, device
        notify(f"loading {config.data} at {config.size}×{config.size}×{config.channels}")
        data = load_images(config.data, config.size, config.channels)
        if len(data) < config.batch:
            from ganrt.errors import UsageError

            raise UsageError(f"--data holds {len(data)} image(s), fewer than one batch ({config.batch})")
        self.data = data
        self.images = torch.from_numpy(data.images)  # uint8, scaled per batch (small: kept as bytes)
        if self.name == "gan":
            self.g = gan.SimpleGenerator(config.noise_dim, config.size, config.channels, config.width * 4)
            self.d = gan.SimpleDiscriminator(config.size, config.channels, config.width * 4)
        else:
            self.g = gan.DCGANGenerator(config.noise_dim, config.size, config.channels, config.width)
            self.d = gan.DCGANDiscriminator(config.size, config.channels, config.width)
        torch.manual_seed(config.seed)
        gan.init_weights(self.g)
        gan.init_weights(self.d)
        self.g.to(device).train()
        self.d.to(device).train()
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr, betas=betas)
        self.fixed_noise = torch.from_numpy(
            np.random.default_rng(config.seed).standard_normal((GRID * GRID, config.noise_dim)).astype(np.float32))
        self.per_epoch = len(data) // config.batch

    def networks(self) -> dict:
        return {"generator": self.g, "discriminator": self.d}

    def optimizers(self) -> dict:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def generator(self):
        return self.g

    def batch(self, step: int):
        """The real images of ``step``: epoch e is a permutation seeded by (seed, e), read in order."""
        import torch

        from ganrt.train.trainer import step_seed

        epoch, i = divmod(step - 1, self.per_epoch)
        order = np.random.default_rng(step_seed(self.config.seed, epoch, stream=1)).permutation(len(self.images))
        idx = torch.from_numpy(order[i * self.config.batch:(i + 1) * self.config.batch])
        return self.images[idx].to(self.device).float().div_(127.5).sub_(1.0)

    def step(self, ctx) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        real = self.batch(ctx.step)
        n = real.shape[0]
        noise = torch.randn(n, self.config.noise_dim, device=self.device)
        ones, zeros = torch.ones(n, device=self.device), torch.zeros(n, device=self.device)
        with ctx.autocast():
            fake = self.g(noise)
            d_real = self.d(real)
            d_fake = self.d(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(d_real.float(), ones)
                      + F.binary_cross_entropy_with_logits(d_fake.float(), zeros))
        ctx.optimize(loss_d, self.opt_d)
        for k in range(self.config.g_steps):
            with ctx.autocast():
                if k:
                    fake = self.g(torch.randn(n, self.config.noise_dim, device=self.device))
                loss_g = F.binary_cross_entropy_with_logits(self.d(fake).float(), ones)  # non-saturating
            ctx.optimize(loss_g, self.opt_g)
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()),
                "d_real": float(torch.sigmoid(d_real.detach().float()).mean()),
                "d_fake": float(torch.sigmoid(d_fake.detach().float()).mean())}

    def sample(self, module, path, latest) -> None:
        import torch

        was_training = module.training
        module.eval()
        with torch.inference_mode():
            images = module(self.fixed_noise.to(self.device)).float().cpu().numpy()
        module.train(was_training)
        write_grid(images, path, value_range=(-1.0, 1.0))
        write_grid(images, latest, value_range=(-1.0, 1.0))

    def metadata(self) -> dict[str, str]:
        from ganrt.train.recipes import recipe_info

        c = self.config
        return {"ganrt.format": "1", "ganrt.kind": GENERATION, "ganrt.arch": recipe_info(self.name).arch,
                "ganrt.recipe": self.name, "ganrt.noise_dim": str(c.noise_dim), "ganrt.image_size": str(c.size),
                "ganrt.out_channels": str(c.channels), "ganrt.in_channels": str(c.channels),
                "ganrt.width": str(c.width * 4 if self.name == "gan" else c.width), "ganrt.value_range": "-1,1",
                "ganrt.scale": "1", "ganrt.data": self.data.source}


def grid_image(images: np.ndarray, value_range=(-1.0, 1.0), columns: int | None = None, pad: int = 2) -> np.ndarray:
    """N × C × H × W in ``value_range`` → one uint8 H × W (× 3) grid, ``columns`` per row."""
    from ganrt.kinds import to_unit_range

    n, c, h, w = images.shape
    cols = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    unit = np.rint(to_unit_range(images, value_range) * 255).astype(np.uint8)
    grid = np.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), 255, np.uint8)
    for k in range(n):
        r, q = divmod(k, cols)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = unit[k]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def write_grid(images: np.ndarray, path, value_range=(-1.0, 1.0), columns: int | None = None, scale: int = 1) -> None:
    import cv2

    from ganrt.pipelines.imageio.write import write_image

    grid = grid_image(images, value_range, columns)
    if scale > 1:
        grid = cv2.resize(grid, (grid.shape[1] * scale, grid.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    write_image(path, grid)
