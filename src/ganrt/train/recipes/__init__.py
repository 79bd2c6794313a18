"""Training recipes, one table: what `ganrt train NAME` builds and how it steps.

A recipe has ``setup(config, device)``, ``networks()`` and ``optimizers()``
(what a checkpoint holds), ``generator()`` (what EMA averages and the run
exports), ``step(ctx)`` (one training step; returns its losses as floats),
``sample(module, path, latest)`` and ``metadata()`` (how ``ganrt.models``
loads the exported generator).
"""

from __future__ import annotations


def make_recipe(name: str):
    from ganrt.errors import UsageError

    if name in ("gan", "dcgan"):
        from ganrt.train.recipes.gan import GanRecipe

        return GanRecipe(name)
    if name == "srgan":
        from ganrt.train.recipes.sr import SRGANRecipe

        return SRGANRecipe(name)
    if name == "esrgan":
        from ganrt.train.recipes.sr import ESRGANRecipe

        return ESRGANRecipe(name)
    raise UsageError(f"unknown recipe {name!r}")
