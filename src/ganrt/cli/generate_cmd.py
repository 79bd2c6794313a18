"""`ganrt generate MODEL`: images from a trained generator, through any engine.

The noise comes from ``--seed`` alone (numpy's standard normal), so the same
seed gives the same images on every backend and precision; ``--interpolate K``
walks the latent space from ``--seed`` to ``--to-seed`` in K steps (spherical
interpolation, which keeps the noise at the norm the generator was trained on).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import numpy as np

from ganrt.kinds import GENERATION
from ganrt.cli.common import BackendOpt, DeviceOpt, OverwriteOpt, PrecisionOpt, QuietOpt, ThreadsOpt, console, handle_errors, setup_logging, shown

MAX_COUNT = 100_000  # images of one --out-dir run (written as they are made)
MAX_GRID_PIXELS = 64_000_000  # one --grid sheet (it is held whole before it is written)


def noise(seed: int, count: int, dim: int) -> np.ndarray:
    import numpy as np

    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` vectors from ``a`` to ``b`` along the great circle (linear where they are parallel)."""
    import numpy as np

    na, nb = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(na, nb), -1.0, 1.0))
    ts = np.linspace(0.0, 1.0, steps)[:, None]
    if omega < 1e-6:
        return ((1 - ts) * a + ts * b).astype(np.float32)
    return ((np.sin((1 - ts) * omega) * a + np.sin(ts * omega) * b) / np.sin(omega)).astype(np.float32)


def generate_images(engine, z: np.ndarray, batch: int) -> np.ndarray:
    """The generator on noise ``z`` in batches; images in 0..1, N × C × S × S."""
    import numpy as np

    from ganrt.kinds import to_unit_range

    parts = [engine.infer(z[i:i + batch]) for i in range(0, len(z), batch)]
    return to_unit_range(np.concatenate(parts), engine.spec.value_range)


@handle_errors
def generate(
    model: Annotated[str, typer.Argument(help="A generator: a `ganrt train` run folder or its .safetensors file.")],
    count: Annotated[int, typer.Option("--count", "-n", help="How many images.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the noise: same seed, same images, on every backend.")] = 0,
    grid: Annotated[Path | None, typer.Option("--grid", help="Write one contact grid (PNG).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write one PNG per image into this folder.")] = None,
    interpolate: Annotated[int | None, typer.Option("--interpolate", help="Walk from --seed to --to-seed in this many steps (instead of --count).")] = None,
    to_seed: Annotated[int | None, typer.Option("--to-seed", help="Where --interpolate ends (default: --seed + 1).")] = None,
    scale: Annotated[int, typer.Option("--scale", help="Enlarge the grid this many times (nearest), for small images.")] = 1,
    batch: Annotated[int, typer.Option("--batch", help="Images per engine call.")] = 64,
    backend: BackendOpt = "auto",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate images from a trained generator (a grid, or a folder of PNGs)."""
    setup_logging(quiet)
    import time

    import numpy as np

    from ganrt.runtime.engine_choice import choose_engine
    from ganrt.errors import UsageError
    from ganrt.pipelines.imageio.write import write_image
    from ganrt.pipelines.archive.plan import OutputPlan
    from ganrt.train.recipes.gan import grid_image

    if (grid is None) == (out_dir is None):
        raise UsageError("give either --grid FILE.png or --out-dir DIR, not both or neither")
    if count < 1 or batch < 1 or not 1 <= scale <= 16 or (interpolate is not None and interpolate < 2):
        raise UsageError("--count and --batch must be positive, --scale 1 to 16, --interpolate at least 2")
    if max(count, interpolate or 0) > MAX_COUNT or batch > 4096:
        raise UsageError(f"--count and --interpolate make at most {MAX_COUNT:,} images per run, --batch at most 4096 "
                         "(run again with another --seed for more)")
    if not 0 <= seed < 2**63 or to_seed is not None and not 0 <= to_seed < 2**63:
        raise UsageError("--seed and --to-seed must be whole numbers from 0 to 2^63 - 1")
    if grid is not None and grid.suffix.lower() != ".png":
        raise UsageError("--grid must be a .png file")
    choice = choose_engine(model, backend, device, precision, "0", threads, kinds=(GENERATION,),
                           command="ganrt generate")
    spec = choice.model
    if interpolate:
        z = slerp(noise(seed, 1, spec.noise_dim)[0], noise(seed + 1 if to_seed is None else to_seed, 1,
                                                            spec.noise_dim)[0], interpolate)
    else:
        z = noise(seed, count, spec.noise_dim)
    if grid is not None:
        side = spec.image_size * scale
        if len(z) * side * side > MAX_GRID_PIXELS:
            raise UsageError(f"a grid of {len(z):,} images of {side}x{side} would be over {MAX_GRID_PIXELS // 10**6} "
                             "megapixels; ask for fewer (--count), or write them with --out-dir")
    plan = OutputPlan(overwrite=overwrite)
    names = [grid] if grid is not None else [out_dir / f"seed{seed}-{i:05d}.png" for i in range(len(z))]
    for path in names:
        plan.claim(path, "output")
    start = time.perf_counter()
    with choice.open() as engine:
        if grid is not None:
            pixels = np.rint(generate_images(engine, z, batch) * 255).astype(np.uint8)
            columns = len(z) if interpolate else None
            sheet = grid_image(pixels.astype(np.float32) / 255, (0.0, 1.0), columns)
            if scale > 1:
                sheet = np.repeat(np.repeat(sheet, scale, axis=0), scale, axis=1)
            write_image(grid, np.ascontiguousarray(sheet))
        else:  # batch by batch: memory follows --batch, not --count
            for first in range(0, len(z), batch):
                pixels = np.rint(generate_images(engine, z[first:first + batch], batch) * 255).astype(np.uint8)
                for path, img in zip(names[first:first + batch], pixels):
                    write_image(path, np.ascontiguousarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)))
    seconds = time.perf_counter() - start
    if not quiet:
        where = grid if grid is not None else out_dir
        console().print(f"generated {len(z)} image(s) of {spec.image_size}×{spec.image_size} with {spec.name} "
                        f"({engine.describe()}) in {seconds:.2f} s ({len(z) / max(seconds, 1e-9):.0f} images/s): "
                        f"{shown(str(where))}", markup=False)
