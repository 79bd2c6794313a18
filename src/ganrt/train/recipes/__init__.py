"""Training recipes, one table (``RECIPES``): what `ganrt train NAME` builds, which options its command takes, and
the settings a new run starts with.

A recipe (``Recipe``) has ``setup(config, device)``, ``networks()`` and ``optimizers()`` (what a checkpoint
holds), ``generator()`` (what EMA averages and the run exports), ``step(ctx)`` (one training step; returns its
losses as floats), ``sample(module, path, latest)`` and ``metadata()`` (how ``ganrt.models`` loads the
exported generator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path


class Recipe(Protocol):
    """What the trainer core asks of a recipe (``ganrt.train.trainer.Trainer``)."""

    kind: str  # the kind of model it exports (``ganrt.kinds``)

    def setup(self, config, device) -> None:
        """Read the data and build the networks for the run's settings (``ganrt.train.config.TrainConfig``)."""

    def networks(self) -> dict: ...

    def optimizers(self) -> dict: ...

    def generator(self): ...

    def step(self, ctx) -> dict[str, float]: ...

    def sample(self, module, path: Path, latest: Path) -> None: ...

    def metadata(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    options: str  # the options its command takes: "noise" (GANs from noise) or "sr" (super-resolution)
    summary: str  # the command's help
    make: str  # "module:Class", built with the recipe's name
    arch: str | None  # the ganrt architecture it exports (``ganrt.models.own``); None: spandrel detects it
    defaults: dict = field(default_factory=dict)  # a new run's settings where the options say nothing


RECIPES: tuple[RecipeInfo, ...] = (
    RecipeInfo("gan", "noise", "Train the simple GAN (dense layers) on noise → image.",
               "ganrt.train.recipes.gan:GanRecipe", "SimpleGAN"),
    RecipeInfo("dcgan", "noise", "Train a DCGAN (transposed convolutions) on noise → image.",
               "ganrt.train.recipes.gan:GanRecipe", "DCGAN"),
    RecipeInfo("srgan", "sr", "Train SRGAN (SRResNet + VGG discriminator) from scratch on your photos.",
               "ganrt.train.recipes.sr:SRGANRecipe", "SRResNet",
               {"batch": 16, "scale": 4, "crop": 96, "degrade": "bicubic", "blocks": 16, "adv_weight": 1e-3,
                "lr": 1e-4, "pretrain_lr": 5e-4, "betas": (0.9, 0.999), "val_count": 2}),
    RecipeInfo("esrgan", "sr", "Fine-tune an RRDB generator (RealESRGAN_x4plus or a file) on your photos.",
               "ganrt.train.recipes.sr:ESRGANRecipe", None,
               {"batch": 4, "scale": 4, "crop": 128, "degrade": "realesrgan", "adv_weight": 0.1, "lr": 1e-4,
                "pretrain_lr": 1e-4, "betas": (0.9, 0.99), "val_count": 2, "pretrain_steps": 0,
                "init": "RealESRGAN_x4plus"}),
)
RECIPE_NAMES = tuple(r.name for r in RECIPES)


def recipe_info(name: str) -> RecipeInfo:
    from ganrt.errors import UsageError

    for info in RECIPES:
        if info.name == name:
            return info
    raise UsageError(f"unknown recipe {name!r}; ganrt trains {', '.join(RECIPE_NAMES)}")


def make_recipe(name: str) -> Recipe:
    module, cls = recipe_info(name).make.split(":")
    return getattr(import_module(module), cls)(name)
