"""Test-time steps: do 1-pixel shifts, "at most four labels" or one global threshold buy exact match?

For each trained network given, on the test splits of data seeds 0, 1 and 2
(Fashion-MNIST test products only, so leak-free for a network trained on the
splits of any seed), this prints the test exact match of

- the plain prediction (probabilities >= 0.5),
- the mean probabilities of the canvas and its four 1-pixel shifts (up,
  down, left, right; the uncovered row or column is black),
- the plain probabilities, keeping at most the four most probable labels
  (a canvas holds four products) and at least the most probable one.

Run: ``.venv/bin/python benchmarks/bench_test_time.py models/gap_cnn.keras [more.keras ...]``
(``bench_training.py --search ... --keep DIR`` saves the networks of a search).

``--on validation`` chooses among these steps without the test split: each
network, named ``...-seed{N}.keras`` as ``--keep`` names them, is scored on the
validation split of training seed N, and a fourth step is added, one global
threshold chosen for exact match (:func:`helpers.evaluation.best_threshold`),
cross-fitted: each half of the composites (even and odd rows) is decoded with
the threshold best on the other half, so no composite scores its own choice.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import keras
import numpy as np

from helpers import composite, evaluation, fashion, model

DATA_SEEDS = (0, 1, 2)
SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (rows, columns)
CROSS_FITTED = "global threshold, cross-fitted"


def shifted(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """The canvases moved by ``rows`` down and ``columns`` right (negative: up, left), the uncovered edge black."""
    moved = np.zeros_like(images)
    height, width = images.shape[1:3]
    source = images[
        :, max(-rows, 0) : height - max(rows, 0), max(-columns, 0) : width - max(columns, 0)
    ]
    moved[:, max(rows, 0) : height - max(-rows, 0), max(columns, 0) : width - max(-columns, 0)] = (
        source
    )
    return moved


def cross_fitted_threshold(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Decode the even rows with the global threshold best (exact match) on the odd rows, and the odd with the even."""
    even = np.arange(len(labels)) % 2 == 0
    decoded = np.zeros(labels.shape, dtype=np.uint8)
    for here in (even, ~even):
        threshold = evaluation.best_threshold(labels[~here], probabilities[~here])
        decoded[here] = evaluation.decode_threshold(probabilities[here], threshold)
    return decoded


def exact_matches(
    network: keras.Model, split: composite.Composites, cross_fitted: bool = False
) -> dict[str, float]:
    """Exact match of each step (with, if asked, :data:`CROSS_FITTED`) for one network on one split."""
    plain = network.predict(split.images, batch_size=500, verbose=0)
    views = [
        network.predict(shifted(split.images, *shift), batch_size=500, verbose=0)
        for shift in SHIFTS
    ]
    averaged = np.mean([plain, *views], axis=0)
    counted = evaluation.decode_top_k(
        plain, np.clip((plain >= 0.5).sum(axis=1), 1, composite.DEFAULT_ITEMS)
    )
    decoded = {
        "plain": evaluation.decode_threshold(plain, 0.5),
        "mean of 1-pixel shifts": evaluation.decode_threshold(averaged, 0.5),
        "1 to 4 labels": counted,
    }
    if cross_fitted:
        decoded[CROSS_FITTED] = cross_fitted_threshold(split.labels, plain)
    return {
        step: evaluation.set_scores(split.labels, labels)["exact_match"]
        for step, labels in decoded.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("networks", nargs="+", type=Path, help=".keras files")
    parser.add_argument(
        "--on",
        choices=("test", "validation"),
        default="test",
        help="score on the test splits of data seeds 0-2, or on each network's own validation split",
    )
    args = parser.parse_args()
    data = fashion.load()
    validation = args.on == "validation"
    if validation:
        trained_with = [re.fullmatch(r".*-seed(\d+)\.keras", path.name) for path in args.networks]
        unnamed = [
            str(path) for path, seed in zip(args.networks, trained_with, strict=True) if not seed
        ]
        if unnamed:
            parser.error(
                f"--on validation takes networks named ...-seed{{N}}.keras, as --keep names them; got {unnamed}"
            )
        jobs = [
            (path, int(seed.group(1)))
            for path, seed in zip(args.networks, trained_with, strict=True)
        ]
    else:
        jobs = [(path, seed) for path in args.networks for seed in DATA_SEEDS]
    split = "val" if validation else "test"
    splits = {
        seed: composite.standard_splits(data, seed)[split] for seed in sorted({s for _, s in jobs})
    }
    rows = []
    for path, seed in jobs:
        scores = exact_matches(model.load(path), splits[seed], cross_fitted=validation)
        rows.append(scores)
        print(
            f"{path.name:40s} {args.on} split of data seed {seed}: "
            + ", ".join(f"{step} {value:.3f}" for step, value in scores.items()),
            flush=True,
        )
    for step in rows[0]:
        gains = np.array([row[step] - row["plain"] for row in rows])
        print(
            f"{step:31s} mean {np.mean([row[step] for row in rows]):.3f}; "
            f"minus plain: mean {gains.mean():+.3f} ({gains.min():+.3f} to {gains.max():+.3f})"
        )


if __name__ == "__main__":
    main()
