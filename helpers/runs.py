"""Training and evaluation runs from the command line, and the run record (JSON) beside each model.

What ``python -m helpers train | evaluate`` do; the record says how a model
was made (recipe, seed, machine, time, history) and what it scored on the
test split.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np

from helpers import cam, composite, dataset, evaluation, localisation, model, recipes, training
from helpers._checks import check_choice, check_output_file


def machine() -> dict:
    """Describe where a run happens: processor, cores, backend and versions."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "device": "GPU" if training.gpu_visible() else "CPU",
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def metrics_record(network: keras.Model, composites: composite.Composites) -> dict:
    """Evaluate ``network`` on ``composites`` at threshold 0.5; JSON-ready.

    The images must be raw uint8 canvases, as the network scales them itself.
    """
    images = cam.check_images(network, composites.images)
    probabilities = network.predict(images, batch_size=500, verbose=0)
    report = evaluation.report(composites.labels, probabilities)
    per_class = report.pop("per_class")
    return {
        **{k: round(v, 6) for k, v in report.items()},
        "per_class": per_class.round(6).to_dict(orient="index"),
    }


def localisation_record(network: keras.Model, composites: composite.Composites) -> dict:
    """Score the class activation maps of every true label of ``composites`` (pointing game, energy share); JSON-ready."""
    maps = cam.class_activation_maps(network, composites.images).maps
    overall = localisation.peak_and_energy_scores(maps, composites.items, composites.boxes)[
        "overall"
    ]
    return {name: round(float(value), 6) for name, value in overall.items()}


def train_and_save(
    recipe_name: str, out: Path, *, seed: int = 0, data_root: Path = dataset.DEFAULT_ROOT
) -> dict:
    """Train with a named recipe; write ``out`` (.keras) and its ``.json`` record.

    Every argument is checked, and ``out`` and its ``.json`` neighbour must
    be writable, before the training starts.

    Returns
    -------
    dict
        The record written next to the model.
    """
    recipe = recipes.RECIPES[check_choice(recipe_name, "recipe_name", recipes.RECIPES)]
    out = check_output_file(out, "out", ".keras")
    check_output_file(out.with_suffix(".json"), "out", None)  # the record beside it
    splits = dataset.load_splits(
        data_root, seed
    )  # checks the seed and the data before the training
    start = time.perf_counter()
    network, history = training.train(recipe, splits["train"], splits["val"], seed=seed)
    seconds = time.perf_counter() - start
    val_probabilities = network.predict(splits["val"].images, batch_size=500, verbose=0)
    record = {
        "recipe_name": recipe_name,
        "recipe": dataclasses.asdict(recipe),
        "seed": seed,
        "training_seconds": round(seconds, 1),
        "epochs_run": len(history["loss"]),
        "best_epoch": int(np.argmax(history["val_exact_match"])) + 1
        if recipe.keep_best_epoch
        else None,  # None: the last one kept
        "machine": machine(),
        "training_dtype": training.training_dtype(recipe),
        "parameters": network.count_params(),
        "val_thresholds": evaluation.tune_thresholds(splits["val"].labels, val_probabilities)
        .round(2)
        .tolist(),
        "history": {k: [round(float(v), 6) for v in values] for k, values in history.items()},
        "test_metrics": metrics_record(network, splits["test"]),
        "test_localisation": localisation_record(network, splits["test"]),
    }
    model.save(network, out)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def evaluate_file(
    model_path: Path, data_root: Path = dataset.DEFAULT_ROOT, *, seed: int = 0
) -> dict:
    """Load a saved model and return its test metrics."""
    network = model.load(model_path)
    test = dataset.load_splits(data_root, seed, splits=("test",))["test"]
    return metrics_record(network, test)
