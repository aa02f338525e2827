"""Time to quality: test exact match against wall time, our default recipe vs the study's.

Three recipes train on the same composites (the study's recipe on the fixed
9,000, as it did) for the same wall-clock budget on this machine: the default,
the default with a signed Dense head (``non_negative_head=False``, to measure
what the non-negative head buys) and the study's; after every epoch the
test exact match is measured (outside the timed budget's logic, but inside
the wall clock). Run: ``.venv/bin/python benchmarks/bench_training.py [--budget 600]``.

``--pipelines`` instead compares two ways of feeding fresh composites to
``Model.fit``: a ``keras.utils.PyDataset`` that hands over one batch per Python
call, and ``helpers.training.fresh_composite_batches`` (``tf.data``, one draw per
epoch), training the default network on the same fresh composites.

``--pooling`` compares the default network with its blocks pooled first
(the last convolution of each block max-pooled before its batch norm and
ReLU) against the usual order (pooled after the ReLU), both fed by ``tf.data``.

``--precision`` compares the default network computing in float32 against
the same network computing in bfloat16 (Keras' ``mixed_bfloat16`` policy),
which the recipes train with where the processor has bfloat16 instructions.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time

import keras
import numpy as np

from helpers import composite, dataset, fashion, recipes, training

RATE_COMPOSITES = 3_200  # per epoch
RATE_EPOCHS = 4  # the first one (tracing) is not counted
PYDATASET, TF_DATA = "PyDataset, one batch per call", "tf.data, one draw per epoch"
POOL_FIRST, POOL_LAST = "pool, then batch norm, ReLU", "batch norm, ReLU, then pool"
BFLOAT16 = "pool first, bfloat16 compute"
NETWORKS = {  # name: (pool_first, dtype policy)
    POOL_FIRST: (True, "float32"),
    POOL_LAST: (False, "float32"),
    BFLOAT16: (True, "mixed_bfloat16"),
}


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


CURVE_RECIPES = {
    "default": recipes.RECIPES["default"],
    "signed head": dataclasses.replace(recipes.RECIPES["default"], non_negative_head=False),
    "study": recipes.RECIPES["study"],
}


def curve(recipe: recipes.Recipe, splits: dict, fashion_train, budget: float) -> list[tuple[float, float]]:
    callback = TestCurve(splits["test"], budget)
    training.train(recipe, splits["train"], splits["val"], fashion=fashion_train, seed=0, verbose=0, callbacks=[callback])
    return callback.points


class OneBatchPerCall(keras.utils.PyDataset):
    """Fresh composites handed to ``Model.fit`` one batch per Python call, redrawn every epoch."""

    def __init__(self, fashion_train: tuple[np.ndarray, np.ndarray], pool: np.ndarray, count: int, batch_size: int):
        super().__init__()
        self.fashion_train, self.pool, self.count, self.batch_size = fashion_train, pool, count, batch_size
        self.epoch = 0
        self.images, self.labels = training.draw_epoch(*fashion_train, pool, count, seed=0, epoch=0)

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.images[batch], self.labels[batch]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.images, self.labels = training.draw_epoch(*self.fashion_train, self.pool, self.count, seed=0, epoch=self.epoch)


def training_rate(network_name: str, pipeline: str, fashion_train: tuple[np.ndarray, np.ndarray]) -> float:
    """Median training composites per second of a variant of the default network fed by ``pipeline``, the first epoch (tracing) not counted."""
    pool_first, dtype = NETWORKS[network_name]
    recipe = dataclasses.replace(recipes.RECIPES["default"], pool_first=pool_first)
    pool = composite.source_pools(0)["train"]
    steps = -(-RATE_COMPOSITES // recipe.batch_size)
    if pipeline == PYDATASET:
        fit_args = {"x": OneBatchPerCall(fashion_train, pool, RATE_COMPOSITES, recipe.batch_size)}
    else:
        batches = training.fresh_composite_batches(*fashion_train, pool, RATE_COMPOSITES, recipe.batch_size, 0, RATE_EPOCHS)
        fit_args = {"x": batches, "steps_per_epoch": steps}
    keras.utils.set_random_seed(0)
    network = recipe.build(dtype)
    training.compile_for(network, recipe, RATE_EPOCHS * steps, warmup_steps=steps)
    history = network.fit(**fit_args, epochs=RATE_EPOCHS, shuffle=False, verbose=0, callbacks=[training.EpochTimer()]).history
    epoch_seconds = np.diff(history["seconds"])  # the first epoch (tracing) is not counted
    return float(np.median(RATE_COMPOSITES / epoch_seconds))


def compare_rates(baseline: tuple[str, str], candidate: tuple[str, str]) -> None:
    """Print the training rates of two (network, pipeline) runs, each in a fresh process, and their ratio."""
    rates = []
    for network, pipeline in (baseline, candidate):
        command = [sys.executable, __file__, "--network", network, "--pipeline", pipeline]
        rates.append(float(subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()[-1]))
        print(f"{network:28s} {pipeline:28s} {rates[-1]:6.0f} composites/s")
    print(f"second / first: {rates[1] / rates[0]:.2f}x the composites per second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=600, help="wall seconds per recipe (default: %(default)s)")
    parser.add_argument("--pipelines", action="store_true", help="compare input pipelines instead")
    parser.add_argument("--pooling", action="store_true", help="compare pooling before and after batch norm instead")
    parser.add_argument("--precision", action="store_true", help="compare float32 and bfloat16 compute instead")
    # One training-rate run, in its own process, for the three comparisons above:
    parser.add_argument("--network", choices=tuple(NETWORKS), help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", choices=(PYDATASET, TF_DATA), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.network:
        print(training_rate(args.network, args.pipeline or TF_DATA, fashion.load()[0]))
        return
    if args.pipelines:
        compare_rates((POOL_FIRST, PYDATASET), (POOL_FIRST, TF_DATA))
        return
    if args.pooling:
        compare_rates((POOL_LAST, TF_DATA), (POOL_FIRST, TF_DATA))
        return
    if args.precision:
        compare_rates((POOL_FIRST, TF_DATA), (BFLOAT16, TF_DATA))
        return
    splits = dataset.load_splits()
    fashion_train = fashion.load()[0]
    curves = {name: curve(recipe, splits, fashion_train, args.budget) for name, recipe in CURVE_RECIPES.items()}
    print(f"test exact match against wall time, budget {args.budget:.0f} s per recipe, this machine")
    print(f"{'minute':>8}" + "".join(f"{name:>14}" for name in curves))
    for minute in range(1, int(args.budget // 60) + 1):
        row = [max([e for t, e in points if t <= minute * 60], default=float("nan")) for points in curves.values()]
        print(f"{minute:>8}" + "".join(f"{value:>14.3f}" for value in row))
    for name, points in curves.items():
        print(f"{name}: {len(points)} epochs, best test exact match {max(e for _, e in points):.3f} at {min(t for t, e in points if e == max(e for _, e in points)):.0f} s")


if __name__ == "__main__":
    main()
