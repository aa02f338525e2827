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
ReLU) against the usual order (pooled after the ReLU, :func:`pooled_last`),
both fed by ``tf.data``.

``--precision`` compares the default network computing in float32 against
the same network computing in bfloat16 (Keras' ``mixed_bfloat16`` policy),
which the recipes train with where the processor has bfloat16 instructions.

``--search ARM,ARM --seeds 0,1,2`` runs recipe candidates (:data:`SEARCH_ARMS`)
with each training seed, each run in a fresh process, and scores them on
*validation* only: each run trains on the splits of its seed and keeps its
best validation epoch; the table gives, per arm, the mean and spread over the
seeds of the best validation exact match reached by each minute, then the
kept epoch's validation exact match, per-label accuracy and mAP. An arm beats
``--base`` (default: the current default recipe's arm) only when its mean
exceeds the base's by more than the larger of the two spreads. The test split
is never read. ``--save FILE`` keeps the runs as JSON, and ``--figure FILE``
draws the frontier from them (a new run of the same arm and seed replaces its
old one); ``--keep DIR`` saves the trained networks (for ``bench_test_time.py``).

``--final ARM --seeds 0,1,2`` trains a chosen arm and scores it once on the
test split of seed 0 (Fashion-MNIST test products only, so leak-free for every
seed), each run with its 95 % bootstrap interval
(:func:`helpers.evaluation.bootstrap_intervals`). With ``--from-kept --save
FILE --keep DIR`` it scores the networks a ``--search`` of that arm kept
instead of training them again.
Runs saved before 2026-12-06 were scored on test (``search_runs_scored_on_test.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

from helpers import composite, dataset, evaluation, fashion, model, recipes, training

RATE_COMPOSITES = 3_200  # per epoch
RATE_EPOCHS = 4  # the first one (tracing) is not counted
PYDATASET, TF_DATA = "PyDataset, one batch per call", "tf.data, one draw per epoch"
POOL_FIRST, POOL_LAST = "pool, then batch norm, ReLU", "batch norm, ReLU, then pool"
BFLOAT16 = "pool first, bfloat16 compute"
NETWORKS = {  # name: (pooled first, dtype policy)
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


SEARCH_BASE = (
    recipes.Recipe()
)  # 2x2 patches folded first, 80 epochs: the default recipe since the first search (2026-12-01)
SEARCH_ARMS = {  # name: changes to SEARCH_BASE
    "folded (80 epochs)": {},
    "folded (50 epochs)": {"epochs": 50},  # the default recipe until the first search (2026-12-01)
    # "EMA 0.99" and "label smoothing 0.1" lost (benchmarks/README.md); their
    # knobs left the recipes, and their runs stay in search_runs_scored_on_test.json.
    # A 3x3 convolution over the whole 32 x 128 canvas, pooled, before the default's blocks (no fold).
    "full-resolution first block": {"fold": 1, "blocks": ((24,), (32, 48), (96,))},
    "full-resolution first block (70 epochs)": {
        "fold": 1,
        "blocks": ((24,), (32, 48), (96,)),
        "epochs": 70,
    },
    # Keras' AdamW shrinks w by lr x weight_decay per step: 1e-4 is about 0.1 % over a run
    "weight decay 0.01": {"weight_decay": 0.01},
    "weight decay 0.04": {"weight_decay": 0.04},
    # Fashion-MNIST's standard augmentation, product by product (helpers.composite.flip_products)
    "flip": {"flip": True},
    "full-resolution first block (60 epochs)": {
        "fold": 1,
        "blocks": ((24,), (32, 48), (96,)),
        "epochs": 60,
    },
}


SCORES = ("exact_match", "per_label_accuracy", "mean_average_precision")


def search_run(arm: str, seed: int, keep: str | None = None, final: bool = False) -> dict:
    """Train one arm with one training seed; score its kept epoch on validation (or, ``final``, on test).

    Returns its per-epoch seconds and validation exact match, and the kept
    network's scores on its seed's validation split (``val_*``); with
    ``final``, its test scores with their 95 % intervals instead (``test``).
    With ``keep``, the trained network is saved there as ``{arm}-seed{seed}.keras``.
    """
    recipe = dataclasses.replace(SEARCH_BASE, **SEARCH_ARMS[arm])
    data = fashion.load()
    splits = dataset.load_splits() if seed == 0 else composite.standard_splits(data, seed)
    network, history = training.train(
        recipe, splits["train"], splits["val"], fashion=data[0], seed=seed, verbose=0
    )
    if keep:
        model.save(network, kept_network(keep, arm, seed))
    run = {
        "arm": arm,
        "seed": seed,
        "seconds": history["seconds"],
        "val": history["val_exact_match"],
    }
    if final:
        return {**run, "test": test_scores(network)}
    val = splits["val"]
    scores = evaluation.report(val.labels, network.predict(val.images, batch_size=500, verbose=0))
    return {**run, **{f"val_{name}": float(scores[name]) for name in SCORES}}


def test_scores(network: keras.Model) -> dict:
    """The network's scores on the test split of seed 0, each with its 95 % bootstrap interval."""
    test = dataset.load_splits(splits=("test",))["test"]
    probabilities = network.predict(test.images, batch_size=500, verbose=0)
    return evaluation.bootstrap_intervals(test.labels, probabilities).to_dict(orient="index")


def final_from_kept(arm: str, seeds: list[int], save: str, keep: str) -> list[dict]:
    """Score once on test the networks that ``--search ARM --keep DIR --save FILE`` trained and kept.

    The same as ``--final`` without training again: the runs in ``save`` give
    each network's minutes and validation curve, and gain its test scores.
    """
    runs = json.loads(Path(save).read_text())
    found = {
        seed: [run for run in runs if (run["arm"], run["seed"]) == (arm, seed)] for seed in seeds
    }
    paths = {seed: kept_network(keep, arm, seed) for seed in seeds}
    missing = [
        f"seed {seed}: {len(found[seed])} runs in {save}, "
        f"{paths[seed]} {'present' if paths[seed].exists() else 'missing'}"
        for seed in seeds
        if len(found[seed]) != 1 or not paths[seed].exists()
    ]
    if missing:
        raise ValueError(
            f"--from-kept needs one run of {arm!r} per seed in --save and its network in --keep; "
            + "; ".join(missing)
        )
    finals = []
    for seed in seeds:
        (run,) = found[seed]
        finals.append({"arm": arm, "seed": seed, "seconds": run["seconds"], "val": run["val"]})
        finals[-1]["test"] = test_scores(model.load(paths[seed]))
    report_final(finals)
    return finals


def kept_network(keep: str, arm: str, seed: int) -> Path:
    """Where ``--keep`` saves the network of one arm and seed."""
    return Path(keep) / f"{arm}-seed{seed}.keras"


def kept_by_minute(run: dict, minutes: int) -> list[float]:
    """The best validation exact match of the epochs finished by the end of each minute.

    nan before the first epoch and after the run.
    """
    kept = []
    for minute in range(1, minutes + 1):
        done = [run["val"][i] for i, t in enumerate(run["seconds"]) if t <= minute * 60]
        running = (minute - 1) * 60 < run["seconds"][-1]
        kept.append(max(done) if done and running else float("nan"))
    return kept


def search(
    arms: list[str],
    seeds: list[int],
    save: str | None,
    keep: str | None = None,
    final: bool = False,
    base: str | None = None,
) -> list[dict]:
    """Run every arm with every seed, each in a fresh process; print the validation table (or the test scores)."""
    runs = []
    for arm in arms:
        for seed in seeds:
            command = [
                sys.executable,
                __file__,
                "--search-run",
                arm,
                "--seeds",
                str(seed),
                *(["--keep", keep] if keep else []),
                *(["--final-run"] if final else []),
            ]
            runs.append(
                json.loads(
                    subprocess.run(
                        command, capture_output=True, text=True, check=True
                    ).stdout.splitlines()[-1]
                )
            )
            print(f"{arm} seed {seed}: {runs[-1]['seconds'][-1] / 60:.1f} min", flush=True)
            if save:  # added to the runs already there, replacing a run of the same arm and seed
                kept = [
                    run
                    for run in (json.loads(Path(save).read_text()) if Path(save).exists() else [])
                    if (run["arm"], run["seed"]) != (arm, seed)
                ]
                Path(save).write_text(json.dumps([*kept, runs[-1]]))
    if final:
        report_final(runs)
    else:
        report_search(runs, base)
    return runs


def report_final(runs: list[dict]) -> None:
    """Print each final run's test scores with their 95 % intervals."""
    for run in runs:
        scores = "; ".join(
            f"{name} {run['test'][name]['value']:.3f} "
            f"({run['test'][name]['low']:.3f}-{run['test'][name]['high']:.3f})"
            for name in SCORES
        )
        print(f"{run['arm']} seed {run['seed']}, test split of seed 0: {scores}")


def report_search(runs: list[dict], base: str | None = None) -> None:
    """Print, per arm, mean and spread (min-max) of the best validation exact match by each minute,
    then the kept epochs' validation scores, and whether each arm beats ``base`` by more than the spreads."""
    arms = list(dict.fromkeys(run["arm"] for run in runs))
    minutes = int(np.ceil(max(run["seconds"][-1] for run in runs) / 60))
    widths = [max(26, len(arm) + 2) for arm in arms]
    print("validation exact match, best epoch so far")
    print(
        f"{'minute':>6}"
        + "".join(f"{arm:>{width}}" for arm, width in zip(arms, widths, strict=True))
    )
    for minute in range(1, minutes + 1):
        cells = []
        for arm in arms:
            values = np.array(
                [kept_by_minute(run, minute)[-1] for run in runs if run["arm"] == arm]
            )
            cells.append(
                f"{np.mean(values):.3f} ({np.min(values):.3f}-{np.max(values):.3f})"
                if not np.isnan(values).any()
                else "-"
            )
        print(
            f"{minute:>6}"
            + "".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True))
        )
    exact = {arm: [run["val_exact_match"] for run in runs if run["arm"] == arm] for arm in arms}
    for arm in arms:
        mine = [run for run in runs if run["arm"] == arm]
        print(
            f"{arm}: seeds {[run['seed'] for run in mine]}, "
            f"minutes {[round(run['seconds'][-1] / 60, 1) for run in mine]}; validation "
            + "; ".join(
                f"{name} mean {np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"
                for name in SCORES
                for values in [[run[f"val_{name}"] for run in mine]]
            )
        )
    if base in exact:
        for arm in arms:
            if arm == base:
                continue
            gain = np.mean(exact[arm]) - np.mean(exact[base])
            spread = max(np.ptp(exact[arm]), np.ptp(exact[base]))
            verdict = "beats it" if gain > spread else "does not beat it"
            print(f"{arm} against {base}: {gain:+.3f} against a spread of {spread:.3f}: {verdict}")


def frontier_figure(runs: list[dict], path: str) -> None:
    """Best validation exact match so far against training minutes.

    One line per arm (mean of the seeds), a band from the lowest to the highest seed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    minutes = int(np.ceil(max(run["seconds"][-1] for run in runs) / 60))
    steps = np.arange(1, minutes + 1)
    for arm in dict.fromkeys(run["arm"] for run in runs):
        curves = np.array([kept_by_minute(run, minutes) for run in runs if run["arm"] == arm])
        running = ~np.isnan(curves).any(
            axis=0
        )  # the minutes at which every seed's run is still training, as in the table
        curves = curves[:, running]
        seeds = f"{len(curves)} seed" + ("s" if len(curves) > 1 else "")
        ax.plot(steps[running], curves.mean(axis=0), marker="o", label=f"{arm} ({seeds})")
        ax.fill_between(steps[running], curves.min(axis=0), curves.max(axis=0), alpha=0.2)
    ax.axvline(10, color="grey", linestyle=":", linewidth=1, label="budget 10 minutes")
    ax.set(
        xlabel="training minutes (this machine)",
        ylabel="validation exact match (best epoch so far)",
        title="Recipe search on validation: exact match per CPU minute",
    )
    ax.legend()
    figure.savefig(path, dpi=100)


def curve(
    recipe: recipes.Recipe, splits: dict, fashion_train, budget: float
) -> list[tuple[float, float]]:
    callback = TestCurve(splits["test"], budget)
    training.train(
        recipe,
        splits["train"],
        splits["val"],
        fashion=fashion_train,
        seed=0,
        verbose=0,
        callbacks=[callback],
    )
    return callback.points


class OneBatchPerCall(keras.utils.PyDataset):
    """Fresh composites handed to ``Model.fit`` one batch per Python call, redrawn every epoch."""

    def __init__(
        self,
        fashion_train: tuple[np.ndarray, np.ndarray],
        pool: np.ndarray,
        count: int,
        batch_size: int,
    ):
        super().__init__()
        self.fashion_train, self.pool, self.count, self.batch_size = (
            fashion_train,
            pool,
            count,
            batch_size,
        )
        self.epoch = 0
        self.images, self.labels = training.draw_epoch(*fashion_train, pool, count, seed=0, epoch=0)

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.images[batch], self.labels[batch]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.images, self.labels = training.draw_epoch(
            *self.fashion_train, self.pool, self.count, seed=0, epoch=self.epoch
        )


def pooled_last(recipe: recipes.Recipe, dtype: str) -> keras.Model:
    """``recipe``'s network with each block pooled after its ReLU, the usual order.

    Built from the recipe's network layer by layer, each block's pooling
    moved from after its last convolution to after its last ReLU.
    """
    pooled_first = recipe.build(dtype)
    x = inputs = keras.Input(shape=model.INPUT_SHAPE, name="canvas")
    pooling = None
    for layer in pooled_first.layers[1:]:
        if isinstance(layer, keras.layers.MaxPooling2D):
            pooling = layer  # applied after this block's ReLU
            continue
        x = layer(x)
        if pooling is not None and isinstance(layer, keras.layers.ReLU):
            x, pooling = pooling(x), None
    return keras.Model(inputs, x, name="gap_cnn_pooled_last")


def training_rate(
    network_name: str, pipeline: str, fashion_train: tuple[np.ndarray, np.ndarray]
) -> float:
    """Median training composites per second of a variant of the default network.

    Fed by ``pipeline``; the first epoch (tracing) is not counted.
    """
    pool_first, dtype = NETWORKS[network_name]
    recipe = recipes.RECIPES["default"]
    pool = composite.source_pools(0)["train"]
    steps = -(-RATE_COMPOSITES // recipe.batch_size)
    if pipeline == PYDATASET:
        fit_args = {"x": OneBatchPerCall(fashion_train, pool, RATE_COMPOSITES, recipe.batch_size)}
    else:
        batches = training.fresh_composite_batches(
            *fashion_train, pool, RATE_COMPOSITES, recipe.batch_size, 0, RATE_EPOCHS
        )
        fit_args = {"x": batches, "steps_per_epoch": steps}
    keras.utils.set_random_seed(0)
    network = recipe.build(dtype) if pool_first else pooled_last(recipe, dtype)
    training.compile_for(network, recipe, RATE_EPOCHS * steps, warmup_steps=steps)
    history = network.fit(
        **fit_args, epochs=RATE_EPOCHS, shuffle=False, verbose=0, callbacks=[training.EpochTimer()]
    ).history
    epoch_seconds = np.diff(history["seconds"])  # the first epoch (tracing) is not counted
    return float(np.median(RATE_COMPOSITES / epoch_seconds))


def compare_rates(baseline: tuple[str, str], candidate: tuple[str, str]) -> None:
    """Print the training rates of two (network, pipeline) runs, each in a fresh process, and their ratio."""
    rates = []
    for network, pipeline in (baseline, candidate):
        command = [sys.executable, __file__, "--network", network, "--pipeline", pipeline]
        rates.append(
            float(
                subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()[
                    -1
                ]
            )
        )
        print(f"{network:28s} {pipeline:28s} {rates[-1]:6.0f} composites/s")
    print(f"second / first: {rates[1] / rates[0]:.2f}x the composites per second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--budget", type=float, default=600, help="wall seconds per recipe (default: %(default)s)"
    )
    parser.add_argument("--pipelines", action="store_true", help="compare input pipelines instead")
    parser.add_argument(
        "--pooling", action="store_true", help="compare pooling before and after batch norm instead"
    )
    parser.add_argument(
        "--precision", action="store_true", help="compare float32 and bfloat16 compute instead"
    )
    # One training-rate run, in its own process, for the three comparisons above:
    parser.add_argument(
        "--search", help="comma-separated arms of SEARCH_ARMS to train with each seed instead"
    )
    parser.add_argument(
        "--seeds", default="0,1,2", help="training seeds for --search (default: %(default)s)"
    )
    parser.add_argument(
        "--base",
        default="folded (80 epochs)",
        help="with --search: the arm the others must beat (default: %(default)s)",
    )
    parser.add_argument(
        "--final", help="comma-separated arms to train with each seed and score once on test"
    )
    parser.add_argument("--save", help="with --search or --final: keep the runs as JSON here")
    parser.add_argument("--keep", help="with --search: save each run's network in this folder")
    parser.add_argument(
        "--from-kept",
        action="store_true",
        help="with --final, --save and --keep: score the networks --search kept instead of training again",
    )
    parser.add_argument(
        "--figure",
        help="draw the frontier (PNG) from the runs in --save's file, and print their table",
    )
    parser.add_argument("--search-run", help=argparse.SUPPRESS)  # one run, in its own process
    parser.add_argument("--final-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--network", choices=tuple(NETWORKS), help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", choices=(PYDATASET, TF_DATA), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_run:
        run = search_run(args.search_run, int(args.seeds), args.keep, args.final_run)
        print(json.dumps(run))
        return
    if args.from_kept and not (args.final and args.save and args.keep):
        parser.error("--from-kept needs --final ARM, --save FILE and --keep DIR")
    if args.search or args.final:
        arms = (args.search or args.final).split(",")
        unknown = set(arms) - set(SEARCH_ARMS)
        if unknown:
            parser.error(
                f"--search and --final take comma-separated arms of {sorted(SEARCH_ARMS)}; "
                f"got {sorted(unknown)}"
            )
        seeds = [int(seed) for seed in args.seeds.split(",")]
        if args.from_kept:
            finals = [final_from_kept(arm, seeds, args.save, args.keep) for arm in arms]
            print(json.dumps([run for runs in finals for run in runs]))
            return
        search(arms, seeds, args.save, args.keep, final=bool(args.final), base=args.base)
        return
    if args.figure:
        runs = json.loads(Path(args.save).read_text())
        report_search(runs, args.base)
        frontier_figure(runs, args.figure)
        return
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
    curves = {
        name: curve(recipe, splits, fashion_train, args.budget)
        for name, recipe in CURVE_RECIPES.items()
    }
    print(
        f"test exact match against wall time, budget {args.budget:.0f} s per recipe, this machine"
    )
    print(f"{'minute':>8}" + "".join(f"{name:>14}" for name in curves))
    for minute in range(1, int(args.budget // 60) + 1):
        row = [
            max([e for t, e in points if t <= minute * 60], default=float("nan"))
            for points in curves.values()
        ]
        print(f"{minute:>8}" + "".join(f"{value:>14.3f}" for value in row))
    for name, points in curves.items():
        best = max(e for _, e in points)
        print(
            f"{name}: {len(points)} epochs, best test exact match {best:.3f} "
            f"at {min(t for t, e in points if e == best):.0f} s"
        )


if __name__ == "__main__":
    main()
