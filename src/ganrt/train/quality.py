"""Quality of generated images without any downloaded network (no Inception, so no FID).

- A classifier trained on the same labelled data (multinomial logistic
  regression on the pixels) scores the samples: mean confidence, the entropy
  of the class distribution (a generator that makes every digit scores near
  log 10), and an Inception-Score-like exp(E KL(p(y|x) ‖ p(y))).
- Memorisation: each sample's distance to its nearest training image,
  against the same for held-out real images (copies of the training set score
  near 0).
- Pixel statistics: how far the mean image, the per-pixel spread and the
  value histogram are from the real images'.

``score`` returns the same figures for any set of images, so the training
data's own figures (held-out half) and an untrained generator's give the scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Quality:
    mean_confidence: float
    class_entropy: float  # nats; log(10) = 2.30 for ten classes equally made
    inception_like: float
    nn_distance: float  # mean L2 distance (pixels in 0..1, per pixel RMS) to the nearest training image
    mean_image_error: float
    std_image_error: float
    histogram_distance: float  # 1-D Wasserstein distance between pixel-value distributions

    def as_dict(self) -> dict:
        return {k: round(v, 4) for k, v in asdict(self).items()}


class Judge:
    """Everything ``score`` compares with, fitted on one half of a labelled set (uint8 N×C×H×W)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int = 0):
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(seed)
        order = rng.permutation(len(images))
        half = len(order) // 2
        self.held = images[order[half:]]
        self.train_x = self._flat(images[order[:half]])
        self.held_x = self._flat(self.held)
        self.classifier = LogisticRegression(max_iter=300, C=0.5)
        self.classifier.fit(self.train_x, labels[order[:half]])
        self.accuracy = float(self.classifier.score(self.held_x, labels[order[half:]]))
        self.real_mean, self.real_std = self.train_x.mean(axis=0), self.train_x.std(axis=0)

    @staticmethod
    def _flat(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float32) / 255.0

    def score(self, images: np.ndarray) -> Quality:
        """Figures of uint8 N×C×H×W images (generated, or real for the reference)."""
        x = self._flat(images)
        p = self.classifier.predict_proba(x)
        marginal = p.mean(axis=0)
        kl = (p * (np.log(p + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
        d2 = (x ** 2).sum(1)[:, None] - 2 * x @ self.train_x.T + (self.train_x ** 2).sum(1)[None, :]
        nn = np.sqrt(np.maximum(d2.min(axis=1), 0) / x.shape[1])
        quantiles = np.linspace(0, 1, 101)
        wasserstein = float(np.abs(np.quantile(x, quantiles) - np.quantile(self.train_x, quantiles)).mean())
        return Quality(
            mean_confidence=float(p.max(axis=1).mean()),
            class_entropy=float(-(marginal * np.log(marginal + 1e-12)).sum()),
            inception_like=float(np.exp(kl.mean())),
            nn_distance=float(nn.mean()),
            mean_image_error=float(np.abs(x.mean(axis=0) - self.real_mean).mean()),
            std_image_error=float(np.abs(x.std(axis=0) - self.real_std).mean()),
            histogram_distance=wasserstein,
        )

    def reference(self) -> Quality:
        """The held-out real half's own figures: what a perfect generator would score."""
        return self.score(self.held)
