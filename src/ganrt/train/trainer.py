"""The trainer core every recipe runs on: resumable steps, EMA, AMP, checkpoints, samples, metrics.

A run directory holds:
- ``config.toml``: every setting (``ganrt.train.config``);
- ``checkpoints/step-NNNNNNN.pt``: the full state (networks, optimisers, AMP
  scaler, EMA, RNG states, step), written atomically every
  ``checkpoint_every`` steps and on Ctrl-C/SIGTERM, the last few kept;
- ``samples/``: the recipe's sample images (a fixed-noise grid, a validation
  strip) every ``sample_every`` steps, ``latest.png`` the newest;
- ``metrics.jsonl`` (one JSON line per logged step) and ``losses.png``;
- ``generator.safetensors``: the generator (its EMA weights) with the
  metadata ``ganrt.models`` loads it by, so every other command takes the
  run (``--model RUN``); recipes that validate (super-resolution) also keep
  ``generator-best.safetensors``, the best by validation PSNR so far.

Every random draw of step *k* comes from generators seeded by (seed, k):
batch order, noise, dropout, degradations. A run resumed from a checkpoint
therefore continues exactly as the uninterrupted run would have, bit for bit
on the same CPU.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ganrt.errors import GanrtError, Interrupted, ModelLoadError, ResourceError, UsageError
from ganrt.fsutil import atomic_path
from ganrt.train.config import TrainConfig

if TYPE_CHECKING:
    from ganrt.train.recipes import Recipe

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
SAMPLES = "samples"
METRICS = "metrics.jsonl"
MODEL_FILE = "generator.safetensors"
BEST_FILE = "generator-best.safetensors"
LOG_EVERY = 10


class TrainingDiverged(GanrtError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """The seed of draw ``stream`` at ``step`` (independent of everything that happened before)."""
    return (seed * 1_000_003 + step * 7_919 + stream * 104_729) % (2**63 - 1)


@dataclass
class StepContext:
    """What a recipe's step may use: the step number, its seeds, AMP and the optimiser helper."""

    step: int
    seed: int
    device: object
    amp_dtype: object | None
    scaler: object | None

    def rng(self, stream: int = 0):
        """A numpy generator for this step's draws of ``stream``."""
        import numpy as np

        return np.random.default_rng(step_seed(self.seed, self.step, stream))

    def autocast(self):
        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def optimize(self, loss, optimizer, params=None) -> None:
        """Backward and step, through the fp16 gradient scaler when there is one."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            optimizer.step()


class EMA:
    """Exponential moving average of a network's weights (buffers copied), with the usual warm-up:
    decay min(d, (1 + t) / (10 + t)), so a short run's average is not its initial weights."""

    def __init__(self, module, decay: float):
        import copy

        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    def update(self, module) -> None:
        import torch

        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for mine, theirs in zip(self.module.parameters(), module.parameters()):
                mine.mul_(d).add_(theirs.detach(), alpha=1 - d)
            for mine, theirs in zip(self.module.buffers(), module.buffers()):
                mine.copy_(theirs)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


def resolve_device(name: str):
    import torch

    from ganrt.runtime.backends import resolve_device as resolved

    return torch.device(resolved(name))


def amp_dtype(setting: str, device):
    """bf16 on CPUs with bf16 instructions and on GPUs that have it, fp16 on older GPUs; or none."""
    import torch

    from ganrt.machine import cpu_has_bf16

    if setting == "off":
        return None
    if setting == "bf16":
        return torch.bfloat16
    if setting == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


@dataclass
class Trainer:
    run: Path
    config: TrainConfig
    recipe: Recipe
    on_progress: Callable[[int, dict], None] = lambda step, losses: None
    history: list[dict] = field(default_factory=list)

    def __post_init__(self):
        import torch

        self.device = resolve_device(self.config.device)
        self.amp = amp_dtype(self.config.amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp == torch.float16 else None
        self.step = 0
        self.ema: EMA | None = None

    # --- state ---------------------------------------------------------------------------------
    def state(self) -> dict:
        import numpy as np
        import torch

        nets, opts = self.recipe.networks(), self.recipe.optimizers()
        return {"format": 1, "recipe": self.config.recipe, "step": self.step,
                "networks": {k: v.state_dict() for k, v in nets.items()},
                "optimizers": {k: v.state_dict() for k, v in opts.items()},
                "ema": self.ema.state_dict() if self.ema else None,
                "scaler": self.scaler.state_dict() if self.scaler else None,
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].tolist()}}

    def load(self, state: dict) -> None:
        import torch

        if state.get("recipe") != self.config.recipe:
            raise UsageError(f"{self.run} holds a {state.get('recipe')} run, not {self.config.recipe}")
        for key, net in self.recipe.networks().items():
            net.load_state_dict(state["networks"][key])
        for key, opt in self.recipe.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step = int(state["step"])

    def checkpoints(self) -> list[Path]:
        return sorted((self.run / CHECKPOINTS).glob("step-*.pt"))

    def save_checkpoint(self) -> Path:
        """Write the full state atomically, read it back before it takes its name (a checkpoint that
        cannot be loaded never replaces a good one), then drop the oldest beyond ``keep_checkpoints``."""
        import torch

        folder = self.run / CHECKPOINTS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{self.step:07d}.pt"
        try:
            with atomic_path(path) as tmp:
                torch.save(self.state(), tmp)
                written = torch.load(tmp, map_location="cpu", weights_only=True, mmap=True)
                if int(written.get("step", -1)) != self.step:
                    raise RuntimeError("it reads back as another step")
        except RuntimeError as exc:  # torch's writer reports a full disk as a failed write
            raise _storage_error(exc, folder, f"saving the checkpoint {path.name}") from None
        for old in self.checkpoints()[: -max(1, self.config.keep_checkpoints)]:
            old.unlink(missing_ok=True)
        self.export()
        return path

    def resume(self) -> None:
        """Load the newest checkpoint that reads back; a damaged newer one is passed over, loudly. Refuses
        (ModelLoadError) when none can be read: a run never silently starts again from step 0."""
        import torch

        damaged = []
        for path in reversed(self.checkpoints()):
            try:
                state = torch.load(path, map_location=self.device, weights_only=True)
            except Exception as exc:  # noqa: BLE001 - a damaged checkpoint: try the one before
                damaged.append(path.name)
                log.warning("checkpoint %s cannot be read (%s); trying the one before", path.name,
                            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                continue
            try:
                self.load(state)
            except (KeyError, TypeError, ValueError, RuntimeError) as exc:
                raise ModelLoadError(f"{path} does not fit the run's settings ({str(exc).splitlines()[0][:200]}); "
                                     f"was {self.run / 'config.toml'} edited?") from None
            if damaged:
                log.warning("resuming %s from %s: the newer %s cannot be read", self.run, path.name,
                            ", ".join(damaged))
            self.history = self._read_metrics()
            return
        raise ModelLoadError(f"{self.run} has nothing to resume from: no checkpoint in {self.run / CHECKPOINTS} can "
                             f"be read ({', '.join(damaged) or 'none there'}); start afresh with --overwrite")

    def _read_metrics(self) -> list[dict]:
        """Metrics of the steps up to the checkpoint (lines a killed run wrote later are dropped)."""
        path = self.run / METRICS
        kept = []
        try:
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    row = json.loads(line)
                    if row.get("step", 0) <= self.step:
                        kept.append(row)
        except OSError:
            return []
        path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        return kept

    # --- outputs -------------------------------------------------------------------------------
    def export(self, name: str = MODEL_FILE, extra: dict | None = None) -> Path:
        """The generator (EMA weights) as safetensors with the metadata models load it by."""
        from safetensors.torch import save_file

        module = self.ema.module if self.ema is not None else self.recipe.generator()
        state = {k: v.detach().float().cpu().contiguous() for k, v in module.state_dict().items()}
        meta = {**self.recipe.metadata(), "ganrt.step": str(self.step), "ganrt.ema": str(self.ema is not None).lower(),
                "ganrt.params": str(sum(p.numel() for p in module.parameters())), "ganrt.name": self.run.name,
                **(extra or {})}
        path = self.run / name
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata=meta)
        return path

    def best_psnr(self) -> float:
        """The best validation PSNR of the run so far (from its metrics), or -inf."""
        found = [r["val_psnr_y"] for r in self.history if "val_psnr_y" in r]
        return max(found) if found else float("-inf")

    def _log(self, losses: dict, rate: float) -> None:
        row = {"step": self.step, **{k: round(v, 6) for k, v in losses.items()}, "steps_per_s": round(rate, 3),
               "time": round(time.time(), 3)}
        self.history.append(row)
        with open(self.run / METRICS, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def samples(self) -> None:
        folder = self.run / SAMPLES
        folder.mkdir(parents=True, exist_ok=True)
        module = self.ema.module if self.ema is not None else self.recipe.generator()
        self.recipe.sample(module, folder / f"step-{self.step:07d}.png", folder / "latest.png")
        scores = getattr(self.recipe, "last_validation", None)
        if scores:
            best = scores["psnr_y"] > self.best_psnr()
            row = {"step": self.step, **{f"val_{k}": round(v, 4) for k, v in scores.items()}, "best": best}
            self.history.append(row)
            with open(self.run / METRICS, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            if best:
                self.export(BEST_FILE, {"ganrt.val_psnr_y": f"{scores['psnr_y']:.3f}"})
        plot_losses([r for r in self.history if any(k.startswith("loss") for k in r)], self.run / "losses.png")

    # --- the loop ------------------------------------------------------------------------------
    def fit(self, *, resume: bool) -> int:
        """Train up to ``max_steps``. Returns the steps done by this call."""
        import torch

        from ganrt import signals

        torch.use_deterministic_algorithms(True, warn_only=True)
        self.recipe.setup(self.config, self.device)
        self.ema = EMA(self.recipe.generator(), self.config.ema_decay) if self.config.ema_decay > 0 else None
        if resume:
            self.resume()
            log.warning("resuming %s at step %d", self.run, self.step)
        self.config.save(self.run)  # only now: settings that could not set the run up are never written
        first = self.step
        started = time.perf_counter()
        try:
            while self.step < self.config.max_steps:
                step = self.step + 1
                torch.manual_seed(step_seed(self.config.seed, step))
                ctx = StepContext(step, self.config.seed, self.device, self.amp, self.scaler)
                losses = self.recipe.step(ctx)
                bad = [k for k, v in losses.items() if not math.isfinite(v)]
                if bad:
                    last = self.checkpoints()[-1].name if self.checkpoints() else "none yet"
                    raise TrainingDiverged(f"training diverged at step {step}: {', '.join(bad)} became NaN/inf; "
                                           f"the last good checkpoint ({last}) is kept: rerun with --resume and a "
                                           "lower --lr, or --amp off")
                if self.ema is not None:
                    self.ema.update(self.recipe.generator())
                self.step = step
                rate = (self.step - first) / max(time.perf_counter() - started, 1e-9)
                if step % LOG_EVERY == 0 or step == self.config.max_steps:
                    self._log(losses, rate)
                if step % self.config.sample_every == 0 or step == self.config.max_steps:
                    self.samples()
                if step % self.config.checkpoint_every == 0 or step == self.config.max_steps:
                    self.save_checkpoint()
                self.on_progress(step, {**losses, "steps_per_s": rate})
        except KeyboardInterrupt as exc:
            if self.step > first or not self.checkpoints():
                self.save_checkpoint()
            raise Interrupted(f"{signals.describe(exc)} at step {self.step}; the state is saved: rerun with "
                              "--resume to continue", signals.exit_code_for(exc)) from None
        finally:
            self._close()
        return self.step - first

    def _close(self) -> None:
        close = getattr(self.recipe, "close", None)
        if close is not None:
            close()


def _storage_error(exc: BaseException, folder: Path, action: str) -> GanrtError:
    """What a failed write means for the user: a full disk (exit 3), or a checkpoint that cannot be kept."""
    import shutil

    try:
        full = shutil.disk_usage(folder).free < (64 << 20)
    except OSError:
        full = False
    if full or "write" in str(exc).lower():
        return ResourceError(f"could not finish {action} in {folder}: the disk is full or failing; free some space "
                             "and rerun with --resume (the last good checkpoint is kept)")
    return ModelLoadError(f"{action} failed: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}")


def plot_losses(history: list[dict], path: Path) -> None:
    """The loss curves of the run so far (PNG)."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history[-1] if k.startswith("loss")]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    steps = [r["step"] for r in history]
    for key in keys:
        ax.plot(steps, [r.get(key, float("nan")) for r in history], label=key.removeprefix("loss_"))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
