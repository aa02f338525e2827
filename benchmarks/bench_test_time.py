"""Test-time steps: do 1-pixel shifts or "at most four labels" buy exact match?

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
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from helpers import composite, evaluation, fashion, model

DATA_SEEDS = (0, 1, 2)
SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (rows, columns)
STEPS = ("plain", "mean of 1-pixel shifts", "1 to 4 labels")


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


def exact_matches(network, test: composite.Composites) -> dict[str, float]:
    """Test exact match of each of :data:`STEPS` for one network on one test split."""
    plain = network.predict(test.images, batch_size=500, verbose=0)
    views = [
        network.predict(shifted(test.images, *shift), batch_size=500, verbose=0) for shift in SHIFTS
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
    return {
        step: evaluation.set_scores(test.labels, labels)["exact_match"]
        for step, labels in decoded.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("networks", nargs="+", type=Path, help=".keras files")
    args = parser.parse_args()
    data = fashion.load()
    tests = {seed: composite.standard_splits(data, seed)["test"] for seed in DATA_SEEDS}
    rows = []
    for path in args.networks:
        network = model.load(path)
        for seed, test in tests.items():
            scores = exact_matches(network, test)
            rows.append(scores)
            print(
                f"{path.name:40s} data seed {seed}: "
                + ", ".join(f"{step} {value:.3f}" for step, value in scores.items()),
                flush=True,
            )
    for step in STEPS:
        gains = np.array([row[step] - row["plain"] for row in rows])
        print(
            f"{step:24s} mean {np.mean([row[step] for row in rows]):.3f}; "
            f"minus plain: mean {gains.mean():+.3f} ({gains.min():+.3f} to {gains.max():+.3f})"
        )


if __name__ == "__main__":
    main()
