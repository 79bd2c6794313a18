"""Damage detection and repair on real photos with synthetic damage: precision, recall, PSNR in the holes.

For each photo (scikit-image's and scikit-learn's bundled pictures) and seed, scratches (light and
dark), dust specks and a tear are drawn (``ganrt.pipelines.repair.damage.synthetic_damage``); the detector's
mask is scored against the true one (pixel precision and recall, 2 px tolerance), per damage type
too, and the repair (OpenCV Telea and Navier–Stokes, on the detected mask and on the true one) is
scored by PSNR inside the true damage against the undamaged photo. Also: the share of an undamaged
photo the detector flags (false alarms on clean scans), and seconds per megapixel.

Writes results/damage_detection.{json,md} and docs/repair-sheet.jpg (damaged | mask | repaired, from
the bundled samples in samples/).

    python benchmarks/damage_detection.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import write  # noqa: E402

from ganrt.pipelines.repair.damage import detect, precision_recall, synthetic_damage  # noqa: E402
from ganrt.pipelines.repair.inpaint import OpenCVFiller  # noqa: E402

SEEDS = range(3)
KINDS = {"scratches": dict(scratches=4, specks=0, tears=0), "specks": dict(scratches=0, specks=25, tears=0),
         "tear": dict(scratches=0, specks=0, tears=1)}


def photos() -> dict[str, np.ndarray]:
    import skimage.data as sd
    from sklearn.datasets import load_sample_image

    return {"astronaut": sd.astronaut(), "coffee": sd.coffee(), "chelsea": sd.chelsea(), "rocket": sd.rocket(),
            "china": load_sample_image("china.jpg"), "flower": load_sample_image("flower.jpg")}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def main() -> None:
    rows = []
    for name, img in photos().items():
        row: dict = {"photo": name, "size": f"{img.shape[1]}x{img.shape[0]}"}
        scores, gains, seconds = [], {"telea": [], "ns": [], "telea_true_mask": []}, []
        for seed in SEEDS:
            damaged, truth = synthetic_damage(img, np.random.default_rng(seed))
            t0 = time.perf_counter()
            found = detect(damaged)
            seconds.append(time.perf_counter() - t0)
            scores.append(precision_recall(found, truth))
            hole = truth > 0
            before = psnr(damaged[hole], img[hole])
            for key, filler, mask in (("telea", OpenCVFiller("telea"), found), ("ns", OpenCVFiller("ns"), found),
                                      ("telea_true_mask", OpenCVFiller("telea"), truth)):
                fixed = filler.fill(damaged, mask)
                assert np.array_equal(fixed[mask == 0], damaged[mask == 0])
                gains[key].append((before, psnr(fixed[hole], img[hole])))
        row["precision"], row["recall"] = (float(v) for v in np.mean(scores, axis=0))
        for kind, counts in KINDS.items():
            per = [precision_recall(detect(d), t) for d, t in
                   (synthetic_damage(img, np.random.default_rng(s), **counts) for s in SEEDS)]
            row[f"recall_{kind}"] = float(np.mean([r for _p, r in per]))
        row["clean_flagged_%"] = 100.0 * float((detect(img) > 0).mean())
        row["hole_psnr_damaged"] = float(np.mean([b for b, _a in gains["telea"]]))
        for key, pairs in gains.items():
            row[f"hole_psnr_{key}"] = float(np.mean([a for _b, a in pairs]))
        row["s_per_MP"] = float(np.mean(seconds)) / (img.shape[0] * img.shape[1] / 1e6)
        rows.append(row)
    mean = {"photo": "mean", **{k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k not in ("photo", "size")}}
    rows.append(mean)
    columns = ["photo", "size", "precision", "recall", "recall_scratches", "recall_specks", "recall_tear",
               "clean_flagged_%", "hole_psnr_damaged", "hole_psnr_telea", "hole_psnr_ns", "hole_psnr_telea_true_mask",
               "s_per_MP"]
    write("damage_detection", rows, columns, "Damage detection and OpenCV repair on synthetic damage",
          notes=f"{len(SEEDS)} seeds per photo; pixel precision/recall with 2 px tolerance; PSNR (dB) inside the "
                "true damage against the undamaged photo; clean_flagged: share of the undamaged photo the "
                "detector marks.")
    sheet()


def sheet(out: Path = Path(__file__).parent.parent / "docs" / "repair-sheet.jpg") -> None:
    """damaged | mask | repaired for three of the bundled samples (samples/), as README's contact sheet."""
    import cv2

    samples = Path(__file__).parent.parent / "samples"
    rows = []
    for i, name in enumerate(("chelsea.jpg", "coffee.jpg", "astronaut.jpg")):
        img = cv2.cvtColor(cv2.imread(str(samples / name)), cv2.COLOR_BGR2RGB)
        damaged, _truth = synthetic_damage(img, np.random.default_rng(10 + i))
        mask = detect(damaged)
        repaired = OpenCVFiller("telea").fill(damaged, mask)
        h = 240
        fit = lambda a: cv2.resize(a, (round(a.shape[1] * h / a.shape[0]), h), interpolation=cv2.INTER_AREA)  # noqa: E731
        gap = np.full((h, 6, 3), 255, np.uint8)
        rows.append(np.hstack([fit(damaged), gap, fit(np.repeat(mask[..., None], 3, 2)), gap, fit(repaired)]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
