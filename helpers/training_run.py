"""Train, evaluate and record a model: what ``python -m helpers train | evaluate`` run."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np

from helpers import cam, composite, dataset, evaluation, fashion, model


def machine() -> dict:
    """Describe where a run happens: processor, cores, backend and versions."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "device": "GPU" if _has_gpu() else "CPU",
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _has_gpu() -> bool:
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if keras.backend.backend() == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    return False


def test_metrics(network: keras.Model, test: composite.Composites) -> dict:
    """Evaluate ``network`` on ``test`` at threshold 0.5; JSON-ready."""
    probabilities = network.predict(test.images, batch_size=500, verbose=0)
    report = evaluation.report(test.labels, probabilities)
    per_class = report.pop("per_class")
    return {**{k: round(v, 6) for k, v in report.items()}, "per_class": per_class.round(6).to_dict(orient="index")}


def test_localisation(network: keras.Model, test: composite.Composites) -> dict:
    """Score the class activation maps of every true label of ``test`` (pointing game, energy share); JSON-ready."""
    maps = cam.class_activation_maps(network, test.images).maps
    overall = cam.localisation_scores(maps, test.items, test.boxes)["overall"]
    return {"pointing_game": round(float(overall["pointing_hit"]), 6), "energy_share": round(float(overall["energy_share"]), 6)}


def train_and_save(recipe_name: str, out: Path, *, seed: int = 0, data_root: Path = dataset.DEFAULT_ROOT) -> dict:
    """Train with a named recipe; write ``out`` (.keras) and its ``.json`` record.

    Returns
    -------
    dict
        The record written next to the model.
    """
    recipe = model.RECIPES[recipe_name]
    splits = dataset.load_splits(data_root, seed)
    (x_train, y_train), _ = fashion.load()
    start = time.perf_counter()
    network, history = model.train(
        recipe, splits["train"], splits["val"], seed=seed, fashion_train=(x_train, y_train), pool=composite.source_pools(seed)["train"]
    )
    seconds = time.perf_counter() - start
    val_probabilities = network.predict(splits["val"].images, batch_size=500, verbose=0)
    record = {
        "recipe_name": recipe_name,
        "recipe": dataclasses.asdict(recipe),
        "seed": seed,
        "training_seconds": round(seconds, 1),
        "epochs_run": len(history["loss"]),
        "best_epoch": int(np.argmax(history["val_exact_match"])) + 1,
        "machine": machine(),
        "training_dtype": model.training_dtype(recipe),
        "parameters": network.count_params(),
        "val_thresholds": evaluation.tune_thresholds(splits["val"].labels, val_probabilities).round(2).tolist(),
        "history": {k: [round(float(v), 6) for v in values] for k, values in history.items()},
        "test_metrics": test_metrics(network, splits["test"]),
        "test_localisation": test_localisation(network, splits["test"]),
    }
    model.save(network, out)
    Path(out).with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def evaluate_file(model_path: Path, data_root: Path = dataset.DEFAULT_ROOT, *, seed: int = 0) -> dict:
    """Load a saved model and return its test metrics."""
    network = model.load(model_path)
    test = dataset.load_splits(data_root, seed)["test"]
    return test_metrics(network, test)
