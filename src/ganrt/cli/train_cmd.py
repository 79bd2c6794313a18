"""`ganrt train RECIPE`: train a generator on the trainer core; the run folder is loadable as a model.

Options left out keep their defaults for a new run, and the run's own
settings (``RUN/config.toml``) with ``--resume``; options given override them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganrt.cli.common import OverwriteOpt, QuietOpt, console, flag, handle_errors, setup_logging
from ganrt.cli.help_classes import GanrtCommand, GanrtSubGroup
from ganrt.train.recipes import RECIPES

train_app = typer.Typer(help="Train a generator: gan, dcgan (noise → image); srgan, esrgan (super-resolution).",
                        no_args_is_help=True,
                        add_completion=False, cls=GanrtSubGroup)

DataOpt = Annotated[str | None, typer.Option("--data", help="A folder of images, an MNIST-format IDX file, or 'digits' (scikit-learn's handwritten digits).")]
RunOpt = Annotated[Path | None, typer.Option("--run", help="The run folder (default: runs/RECIPE).")]
ResumeOpt = Annotated[bool, flag("--resume", help="Continue the run folder's last checkpoint (its settings, overridden by the options given).")]
MaxStepsOpt = Annotated[int | None, typer.Option("--max-steps", help="Train until this step (default 2000).")]
BatchOpt = Annotated[int | None, typer.Option("--batch", help="Images per step (default 64).")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Adam learning rate (default 2e-4).")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of every random draw (default 0): same seed, same run.")]
DeviceOpt = Annotated[str | None, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N (default auto).")]
AmpOpt = Annotated[str | None, typer.Option("--amp", help="Mixed precision: auto (bf16 on CPUs/GPUs that have it, fp16 on older GPUs), off, bf16, fp16.")]
EmaOpt = Annotated[float | None, typer.Option("--ema", help="EMA decay of the exported generator's weights (default 0.999; 0 = off).")]
SampleOpt = Annotated[int | None, typer.Option("--sample-every", help="Write samples and the loss curve every N steps (default 100).")]
CheckpointOpt = Annotated[int | None, typer.Option("--checkpoint-every", help="Save the full state every N steps (default 100).")]


def _noise_command(recipe: str):
    @handle_errors
    def command(
        data: DataOpt = None,
        run: RunOpt = None,
        size: Annotated[int | None, typer.Option("--size", help="Image side: 28, 32 or 64 (default 28).")] = None,
        channels: Annotated[int | None, typer.Option("--channels", help="1 (gray) or 3 (colour) (default 1).")] = None,
        noise_dim: Annotated[int | None, typer.Option("--noise-dim", help="Length of the noise vector (default 100).")] = None,
        width: Annotated[int | None, typer.Option("--width", help="Network width: DCGAN feature maps (default 64).")] = None,
        batch: BatchOpt = None,
        g_steps: Annotated[int | None, typer.Option("--g-steps", help="Generator updates per discriminator update (default 2).")] = None,
        max_steps: MaxStepsOpt = None,
        lr: LrOpt = None,
        seed: SeedOpt = None,
        device: DeviceOpt = None,
        amp: AmpOpt = None,
        ema: EmaOpt = None,
        sample_every: SampleOpt = None,
        checkpoint_every: CheckpointOpt = None,
        resume: ResumeOpt = False,
        overwrite: OverwriteOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        train_run(recipe, run, resume=resume, overwrite=overwrite, quiet=quiet, data=data, size=size,
                  channels=channels, noise_dim=noise_dim, width=width, batch=batch, g_steps=g_steps,
                  max_steps=max_steps, lr=lr,
                  seed=seed, device=device, amp=amp, ema_decay=ema, sample_every=sample_every,
                  checkpoint_every=checkpoint_every)

    return command


def _sr_command(recipe: str):
    @handle_errors
    def command(
        data: Annotated[str | None, typer.Option("--data", help="A folder of high-resolution photos (recursive).")] = None,
        run: RunOpt = None,
        scale: Annotated[int | None, typer.Option("--scale", help="Upscaling factor: 2 or 4 (default 4).")] = None,
        lr_data: Annotated[str | None, typer.Option("--lr-data", help="Paired low-resolution folder (same relative names) instead of made-up ones.")] = None,
        degrade: Annotated[str | None, typer.Option("--degrade", help="How low-resolution inputs are made: bicubic or realesrgan (second-order blur, resize, noise, JPEG).")] = None,
        crop: Annotated[int | None, typer.Option("--crop", help="High-resolution crop side (default 96 for srgan, 128 for esrgan).")] = None,
        val_data: Annotated[str | None, typer.Option("--val-data", help="Held-out photos for validation (default: the last images of --data).")] = None,
        val_count: Annotated[int | None, typer.Option("--val-count", help="Images of --data held out for validation when no --val-data (default 2).")] = None,
        pretrain_steps: Annotated[int | None, typer.Option("--pretrain-steps", help="srgan: L1-only steps before the GAN phase (default: two thirds of --max-steps).")] = None,
        perceptual_weights: Annotated[str | None, typer.Option("--perceptual-weights", help="ImageNet VGG19 weights in torchvision's layout, for the perceptual loss.")] = None,
        init: Annotated[str | None, typer.Option("--init", help="esrgan: the RRDB generator to fine-tune (default RealESRGAN_x4plus).")] = None,
        blocks: Annotated[int | None, typer.Option("--blocks", help="srgan: residual blocks (default 16).")] = None,
        width: Annotated[int | None, typer.Option("--width", help="srgan: feature channels (default 64).")] = None,
        batch: Annotated[int | None, typer.Option("--batch", help="Crops per step (default 16 for srgan, 4 for esrgan).")] = None,
        max_steps: MaxStepsOpt = None,
        seed: SeedOpt = None,
        device: DeviceOpt = None,
        amp: AmpOpt = None,
        ema: EmaOpt = None,
        sample_every: Annotated[int | None, typer.Option("--val-every", help="Validate (PSNR/SSIM, strip) every N steps (default 100).")] = None,
        checkpoint_every: CheckpointOpt = None,
        resume: ResumeOpt = False,
        overwrite: OverwriteOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        train_run(recipe, run, resume=resume, overwrite=overwrite, quiet=quiet, data=data, scale=scale,
                  lr_data=lr_data, degrade=degrade, crop=crop, val_data=val_data, val_count=val_count,
                  pretrain_steps=pretrain_steps, perceptual_weights=perceptual_weights, init=init, blocks=blocks,
                  width=width, batch=batch, max_steps=max_steps,
                  seed=seed, device=device, amp=amp, ema_decay=ema, sample_every=sample_every,
                  checkpoint_every=checkpoint_every)

    return command


def _check_data(settings: dict) -> None:
    """A missing --data is said before torch is imported (a mistyped name costs no 20 s)."""
    from ganrt.errors import UsageError

    data = settings.get("data")
    if data and data != "digits" and not Path(data).expanduser().exists():
        raise UsageError(f"--data {data}: no such file or folder (or use 'digits')")


def _holds_training(run: Path) -> bool:
    """Whether a run folder holds trained weights or a checkpoint: work a failed command must not delete."""
    from ganrt.train.trainer import CHECKPOINTS, MODEL_FILE

    return (run / MODEL_FILE).exists() or any((run / CHECKPOINTS).glob("*.pt"))


def _opened_config(recipe: str, run: Path, *, resume: bool, overwrite: bool, settings: dict):
    """The run's settings (new, or read back and overridden), after every check that needs no torch:
    nothing in ``run`` has been touched yet."""
    from ganrt.errors import UsageError
    from ganrt.train import run_folder
    from ganrt.train.config import TrainConfig
    from ganrt.train.trainer import CHECKPOINTS

    if resume:
        config = TrainConfig.load(run)
        if config.recipe != recipe:
            raise UsageError(f"{run} is a {config.recipe} run; continue it with `ganrt train {config.recipe} --resume`")
        config.check_resumable(settings)
        config.override(**settings)
        if not any((run / CHECKPOINTS).glob("step-*.pt")):
            raise UsageError(f"{run} has nothing to resume from: no checkpoint in {run / CHECKPOINTS} (deleted?); "
                             "start afresh with --overwrite, or choose another --run")
    else:
        if run_folder.holds_user_files(run):
            if not overwrite:
                what = "a training run" if run_folder.is_marked(run) else "files"
                raise UsageError(f"{run} already holds {what}: use --resume to continue it, --overwrite to start "
                                 "afresh, or another --run")
            if not run_folder.is_marked(run):
                raise UsageError(f"{run} is not a run ganrt made (it has no {run_folder.MARKER}), so --overwrite "
                                 "deletes nothing in it; choose another --run")
        if not settings.get("data"):
            raise UsageError("--data is required for a new run (a folder, an IDX file, or 'digits')")
        config = TrainConfig(recipe=recipe, data=settings.pop("data")).override(**settings)
    run_folder.check_paths(run, {key: config.value(key) for key in run_folder.PATH_SETTINGS})
    return config


def _fit(run: Path, config, recipe: str, *, resume: bool, quiet: bool):
    """Train in the held run folder; returns (trainer, steps done)."""
    from ganrt.cli.progress import RateBar
    from ganrt.train.recipes import make_recipe
    from ganrt.train.trainer import Trainer

    trainer = Trainer(run, config, make_recipe(recipe))
    with RateBar(f"training {recipe}", config.max_steps, quiet, unit="steps") as bar:
        def progress(step: int, losses: dict) -> None:
            shown = "  ".join(f"{k.removeprefix('loss_')} {v:.3f}" for k, v in losses.items() if k.startswith("loss"))
            bar.update(step, rates=f"{losses['steps_per_s']:.2f} steps/s  {shown}")

        trainer.on_progress = progress
        return trainer, trainer.fit(resume=resume)


def train_run(recipe: str, run: Path | None, *, resume: bool, overwrite: bool, quiet: bool, **settings) -> None:
    """Create or resume the run folder, train, and say where the result is."""
    setup_logging(quiet)
    import time

    from ganrt.train import run_folder
    from ganrt.train.config import check_options
    from ganrt.train.recipes import recipe_info

    check_options(settings)
    _check_data(settings)
    if not resume and settings.get("batch") is None:  # a new run starts with its recipe's batch size
        settings["batch"] = recipe_info(recipe).defaults.get("batch")
    run = run or Path("runs") / recipe
    config = _opened_config(recipe, run, resume=resume, overwrite=overwrite, settings=settings)
    made, was_empty = not run.exists(), not run_folder.holds_user_files(run)
    began = time.perf_counter()
    try:
        with run_folder.locked(run):
            if overwrite and not resume:
                run_folder.clear(run, keep_marker=False)
            if not run_folder.is_marked(run):  # a new run, or one an older ganrt made, resumed
                run_folder.mark(run, recipe)
            try:
                trainer, done = _fit(run, config, recipe, resume=resume, quiet=quiet)
            except BaseException:
                if not resume and not _holds_training(run):  # nothing to resume: the same command can run again
                    run_folder.clear(run, keep_marker=False)
                raise
    finally:
        if was_empty:
            run_folder.tidy_if_empty(run, made=made)
    if not quiet:
        console().print(f"trained {recipe} to step {trainer.step} ({done} step(s) in {time.perf_counter() - began:.1f} s"
                        f" on {trainer.device.type}{', ' + str(trainer.amp).removeprefix('torch.') if trainer.amp else ''}"
                        f"): {run / 'generator.safetensors'}; samples in {run / 'samples'}", markup=False)


COMMANDS = {"noise": _noise_command, "sr": _sr_command}  # the options each family of recipes takes
for _info in RECIPES:
    _command = COMMANDS[_info.options](_info.name)
    _command.__doc__ = _info.summary
    train_app.command(_info.name, cls=GanrtCommand)(_command)
