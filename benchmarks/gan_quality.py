"""Quality of GANs trained by `ganrt train`, measured offline (no Inception weights ship offline, so no FID).

For each recipe (simple GAN, DCGAN) trained on scikit-learn's digits for a few
step counts, the generator's 512 samples are scored by ``ganrt.train.quality``:
a logistic-regression classifier trained on half the digits (mean confidence,
class entropy, an Inception-Score-like figure), nearest-neighbour distance to
the training half (memorisation), and pixel statistics. The same figures for
the held-out real half and for untrained generators give the scale. Also the
DCGAN discriminator-dropout and generator-steps variants that chose the
recipe's defaults.

    python benchmarks/gan_quality.py            # about 15 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import write  # noqa: E402


def score_module(judge, module, noise_dim: int, count: int = 512) -> dict:
    import torch

    z = torch.from_numpy(np.random.default_rng(99).standard_normal((count, noise_dim)).astype(np.float32))
    with torch.inference_mode():
        x = module.eval()(z).numpy()
    return judge.score(np.rint((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8)).as_dict()


def train(recipe: str, steps: int, run: Path, **settings) -> tuple[Path, float]:
    from ganrt.train.config import TrainConfig
    from ganrt.train.recipes import make_recipe
    from ganrt.train.trainer import Trainer

    config = TrainConfig(recipe=recipe, data="digits", max_steps=steps, sample_every=steps,
                         checkpoint_every=steps).override(**settings)
    run.mkdir(parents=True, exist_ok=True)
    config.save(run)
    start = time.perf_counter()
    Trainer(run, config, make_recipe(recipe)).fit(resume=False)
    return run, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="300,1000")
    args = ap.parse_args()
    import torch

    from ganrt.models import load_model
    from ganrt.models.archs.gan import DCGANGenerator, SimpleGenerator, init_weights
    from ganrt.train.data import load_images
    from ganrt.train.quality import Judge

    digits = load_images("digits", 28, 1)
    judge = Judge(digits.images, digits.labels)
    rows = [{"generator": "real digits (held-out half)", "steps": "-", "seconds": "-", **judge.reference().as_dict()}]
    torch.manual_seed(0)
    for name, net in (("untrained simple GAN", SimpleGenerator(100, 28, 1, 256)),
                      ("untrained DCGAN", DCGANGenerator(100, 28, 1, 64))):
        init_weights(net)
        rows.append({"generator": name, "steps": 0, "seconds": 0, **score_module(judge, net, 100)})
    with tempfile.TemporaryDirectory() as tmp:
        for steps in (int(s) for s in args.steps.split(",")):
            for recipe, label, settings in (("gan", "simple GAN", {}), ("dcgan", "DCGAN", {}),
                                            ("dcgan", "DCGAN, 1 generator step", {"g_steps": 1})):
                run, seconds = train(recipe, steps, Path(tmp) / f"{recipe}-{steps}-{len(rows)}", **settings)
                model = load_model(str(run))
                rows.append({"generator": label, "steps": steps, "seconds": round(seconds, 1),
                             **score_module(judge, model.module, 100)})
                print(rows[-1], flush=True)
    notes = (f"Classifier: logistic regression on the pixels of half the digits, {judge.accuracy:.1%} accurate on "
             "the other half. inception_like = exp(E KL(p(y|x) || p(y))): 10 is every sample a confident, distinct "
             "class; class_entropy near log 10 = 2.30 means all ten digits are made; nn_distance is the RMS pixel "
             "distance to the nearest training digit (copies would score near 0); histogram_distance is the "
             "1-D Wasserstein distance between pixel-value distributions. Seconds are training time on this CPU.")
    write("gan_quality", rows, ["generator", "steps", "seconds", "mean_confidence", "class_entropy", "inception_like",
                                "nn_distance", "histogram_distance", "mean_image_error"],
          "GAN quality on scikit-learn digits, 512 samples each", notes)


if __name__ == "__main__":
    main()
