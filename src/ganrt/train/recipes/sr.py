"""Super-resolution GANs: SRGAN from scratch, and ESRGAN fine-tuning of an RRDB generator.

- ``srgan``: SRResNet generator and VGG-style discriminator (the SRGAN
  paper), two phases as BasicSR's recipe: PSNR-oriented pre-training with L1
  (lr 5e-4: measured faster than BasicSR's 2e-4 over a few hundred CPU steps)
  for ``--pretrain-steps``, then GAN training (L1 content loss, the
  perceptual loss when VGG19 weights are given, adversarial weight 1e-3,
  lr 1e-4).
- ``esrgan``: an RRDB generator initialised from the built-in weights (or any
  RRDB file), Real-ESRGAN's U-Net discriminator with spectral norm, L1 1.0 +
  perceptual 1.0 + GAN 0.1, Adam 1e-4 β (0.9, 0.99), EMA 0.999, second-order
  degradations by default.

Validation every ``sample_every`` steps on held-out images: PSNR and SSIM on
the Y channel with ``crop_border = scale`` (BasicSR's convention), with a
bicubic baseline, and an LR | SR | HR strip; the trainer keeps the best by PSNR.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ganrt.kinds import SUPER_RESOLUTION
from ganrt.errors import UsageError

log = logging.getLogger(__name__)



class SRRecipe:
    kind = SUPER_RESOLUTION

    def __init__(self, name: str):
        self.name = name

    # --- settings ------------------------------------------------------------------------------
    def opt(self, key: str):
        value = self.config.extra.get(key)
        from ganrt.train.recipes import recipe_info

        return recipe_info(self.name).defaults.get(key) if value in (None, "") else value

    def setup(self, config, device) -> None:
        import torch

        from ganrt.notify import notify
        from ganrt.train.sr_data import PairBatches, load_pairs, validation_pairs

        self.config, self.device = config, device
        scale, crop = int(self.opt("scale")), int(self.opt("crop"))
        if scale not in (2, 4):
            raise UsageError(f"--scale must be 2 or 4, not {scale}")
        if crop % scale or crop < 16 * scale // 2:
            raise UsageError(f"--crop must be a multiple of the scale and at least {16 * scale // 2}, not {crop}")
        self.scale, self.crop = scale, crop
        lr_data = self.opt("lr_data")
        notify(f"loading {config.data}" + (f" paired with {lr_data}" if lr_data else ""))
        pairs = load_pairs(Path(config.data), Path(lr_data) if lr_data else None, scale, crop)
        val_dir = self.opt("val_data")
        self.validation, train_pairs = validation_pairs(Path(val_dir) if val_dir else None, pairs,
                                                        int(self.opt("val_count")), scale)
        self.batches = PairBatches(train_pairs, scale=scale, crop=crop, how=str(self.opt("degrade")),
                                   batch=config.batch, seed=config.seed)
        torch.manual_seed(config.seed)
        self.g, self.d = self.build_networks()
        self.g.to(device).train()
        self.d.to(device).train()
        betas = tuple(self.opt("betas"))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=float(self.opt("lr")), betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=float(self.opt("lr")), betas=betas)
        self.pretrain_steps = int(self.opt("pretrain_steps") if self.opt("pretrain_steps") is not None
                                  else config.max_steps * 2 // 3)
        weights = self.opt("perceptual_weights")
        self.perceptual = None
        if weights:
            from ganrt.train.perceptual import PerceptualLoss

            self.perceptual = PerceptualLoss(Path(weights), device)
        else:
            log.warning("no --perceptual-weights (ImageNet VGG19, torchvision layout): training with L1 + "
                        "adversarial losses only")

    def build_networks(self):
        raise NotImplementedError

    def networks(self) -> dict:
        return {"generator": self.g, "discriminator": self.d}

    def optimizers(self) -> dict:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def generator(self):
        return self.g

    # --- one step ------------------------------------------------------------------------------
    def step(self, ctx) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        lr, hr = (t.to(self.device) for t in self.batches.get(ctx.step))
        pretraining = ctx.step <= self.pretrain_steps
        rate = float(self.opt("pretrain_lr") if pretraining else self.opt("lr"))
        for group in self.opt_g.param_groups + self.opt_d.param_groups:
            group["lr"] = rate
        if pretraining:
            with ctx.autocast():
                loss = F.l1_loss(self.g(lr).float(), hr)
            ctx.optimize(loss, self.opt_g)
            return {"loss_pixel": float(loss.detach())}
        with ctx.autocast():
            sr = self.g(lr)
            real, fake = self.d(hr).float(), self.d(sr.detach()).float()
            loss_d = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                      + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        ctx.optimize(loss_d, self.opt_d)
        with ctx.autocast():
            sr = sr.float()
            pixel = F.l1_loss(sr, hr)
            judged = self.d(sr).float()
            adversarial = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))
            loss_g = pixel * self.pixel_weight() + float(self.opt("adv_weight")) * adversarial
            perceptual = self.perceptual(sr, hr) if self.perceptual is not None else None
            if perceptual is not None:
                loss_g = loss_g + perceptual
        ctx.optimize(loss_g, self.opt_g)
        out = {"loss_pixel": float(pixel.detach()), "loss_adv": float(adversarial.detach()),
               "loss_d": float(loss_d.detach())}
        if perceptual is not None:
            out["loss_perceptual"] = float(perceptual.detach())
        return out

    def pixel_weight(self) -> float:
        return 1.0

    def close(self) -> None:
        self.batches.close()

    # --- validation ----------------------------------------------------------------------------
    def validate(self, module) -> dict[str, float]:
        """PSNR/SSIM (Y, crop_border = scale) of the generator and of bicubic on the held-out images."""
        import cv2
        import torch

        from ganrt.quality import psnr_y, ssim_y

        if not self.validation:
            return {}
        scores = {"psnr_y": [], "ssim_y": [], "bicubic_psnr_y": []}
        self._strip = None
        was = module.training
        module.eval()
        for i, (_name, lr, hr) in enumerate(self.validation):
            x = torch.from_numpy(lr.transpose(2, 0, 1)[None].astype(np.float32) / 255).to(self.device)
            with torch.inference_mode():
                sr = module(x).float().clamp(0, 1)[0].cpu().numpy().transpose(1, 2, 0)
            want = hr.astype(np.float32) / 255
            bicubic = cv2.resize(lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
            scores["psnr_y"].append(psnr_y(sr, want, self.scale))
            scores["ssim_y"].append(ssim_y(sr, want, self.scale))
            scores["bicubic_psnr_y"].append(psnr_y(bicubic, want, self.scale))
            if i == 0:
                near = cv2.resize(lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_NEAREST)
                gap = np.full((hr.shape[0], 4, 3), 255, np.uint8)
                self._strip = np.hstack([near, gap, np.rint(sr * 255).astype(np.uint8), gap, hr])
        module.train(was)
        return {k: float(np.mean(v)) for k, v in scores.items()}

    def sample(self, module, path, latest) -> None:
        from ganrt.pipelines.imageio.write import write_image

        self.last_validation = self.validate(module)
        if self._strip is not None:
            write_image(path, self._strip.copy())
            write_image(latest, self._strip.copy())

    def metadata(self) -> dict[str, str]:
        return {"ganrt.recipe": self.name, "ganrt.scale": str(self.scale), "ganrt.data": str(self.config.data)}


class SRGANRecipe(SRRecipe):
    def build_networks(self):
        from ganrt.models.archs.srgan import SRResNet, VGGDiscriminator

        return (SRResNet(self.scale, int(self.opt("blocks")), self.config.width),
                VGGDiscriminator(3, self.config.width))

    def metadata(self) -> dict[str, str]:
        from ganrt.train.recipes import recipe_info

        return {**super().metadata(), "ganrt.format": "1", "ganrt.kind": SUPER_RESOLUTION,
                "ganrt.arch": recipe_info(self.name).arch,
                "ganrt.blocks": str(self.opt("blocks")), "ganrt.width": str(self.config.width),
                "ganrt.in_channels": "3", "ganrt.out_channels": "3", "ganrt.value_range": "0,1"}


class ESRGANRecipe(SRRecipe):
    def build_networks(self):
        import copy

        from ganrt.models import load_model
        from ganrt.models.archs.srgan import UNetDiscriminatorSN

        init = str(self.opt("init"))
        model = load_model(init)
        if model.arch not in ("RRDBNet", "ESRGAN") or model.kind != SUPER_RESOLUTION:
            raise UsageError(f"--init {init} is a {model.arch} model; ESRGAN fine-tuning needs an RRDB (ESRGAN) "
                             "generator such as RealESRGAN_x4plus")
        if model.scale != self.scale:
            raise UsageError(f"--init {init} upscales ×{model.scale}; --scale is {self.scale}")
        self.init_model = model
        g = copy.deepcopy(model.module)
        for p in g.parameters():
            p.requires_grad_(True)
        return g, UNetDiscriminatorSN(3, 64)

    def metadata(self) -> dict[str, str]:
        # no ganrt.arch: the state dict has the ESRGAN key names spandrel (and chaiNNer) detect
        return {**super().metadata(), "ganrt.init": str(self.opt("init")),
                "ganrt.init_sha256": self.init_model.checksum}
