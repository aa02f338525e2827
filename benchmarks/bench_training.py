"""Time to quality: test exact match against wall time, our default recipe vs the study's.

Both train on the same composites (the study's recipe on the fixed 9,000, as it
did) for the same wall-clock budget on this machine; after every epoch the
test exact match is measured (outside the timed budget's logic, but inside
the wall clock). Run: ``.venv/bin/python benchmarks/bench_training.py [--budget 600]``.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from helpers import composite, dataset, fashion, model


class TestCurve(keras.callbacks.Callback):
    """Record (wall seconds, test exact match) after each epoch; stop past the budget."""

    def __init__(self, test: composite.Composites, budget: float):
        super().__init__()
        self.test, self.budget, self.points = test, budget, []
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        predicted = self.model.predict(self.test.images, batch_size=500, verbose=0) >= 0.5
        exact = float(np.mean(np.all(predicted == self.test.labels.astype(bool), axis=1)))
        self.points.append((time.perf_counter() - self.start, exact))
        if self.points[-1][0] > self.budget:
            self.model.stop_training = True


def curve(recipe_name: str, splits: dict, fashion_train, budget: float) -> list[tuple[float, float]]:
    callback = TestCurve(splits["test"], budget)
    model.train(
        model.RECIPES[recipe_name], splits["train"], splits["val"], seed=0, fashion_train=fashion_train,
        pool=composite.source_pools(0)["train"], verbose=0, callbacks=[callback],
    )
    return callback.points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=600, help="wall seconds per recipe (default: %(default)s)")
    args = parser.parse_args()
    splits = dataset.load_splits()
    fashion_train = fashion.load()[0]
    curves = {name: curve(name, splits, fashion_train, args.budget) for name in ("default", "study")}
    print(f"test exact match against wall time, budget {args.budget:.0f} s per recipe, this machine")
    print(f"{'minute':>8}" + "".join(f"{name:>12}" for name in curves))
    for minute in range(1, int(args.budget // 60) + 1):
        row = [max([e for t, e in points if t <= minute * 60], default=float("nan")) for points in curves.values()]
        print(f"{minute:>8}" + "".join(f"{value:>12.3f}" for value in row))
    for name, points in curves.items():
        print(f"{name}: {len(points)} epochs, best test exact match {max(e for _, e in points):.3f} at {min(t for t, e in points if e == max(e for _, e in points)):.0f} s")


if __name__ == "__main__":
    main()
