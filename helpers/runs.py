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
from helpers._checks import TRAINING_CANVAS, check_choice, check_output_file


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

    The images must be raw uint8 canvases, as the network scales them itself,
    of the size it was trained on (see :func:`helpers.cam.check_images`).
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
    """Score the class activation maps of every true label of ``composites`` (pointing game,
    energy share); JSON-ready."""
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
    be writable, before the training starts. ``data_root`` is read (see
    :func:`helpers.dataset.load_splits`: only the project's own data folder
    is built where it is missing). The record states, among the rest, the
    ``canvas`` (height, width) the network was trained on.

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
        "canvas": list(splits["train"].images.shape[1:3]),
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


def recorded_canvas(model_path: Path) -> tuple[int, int] | None:
    """The canvas (height, width) the record beside ``model_path`` says the model was trained on.

    None where there is no record (``MODEL.json``), or it predates the
    ``canvas`` field (every network of the series was trained on 32 x 128).

    Raises
    ------
    ValueError
        If the record is not a JSON object, or its ``canvas`` is not two
        positive integers.
    """
    path = Path(model_path).with_suffix(".json")
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path}, the record of {path.stem}.keras, is not valid JSON ({error})"
        ) from None
    if not isinstance(record, dict):
        raise ValueError(
            f"{path}, the record of {path.stem}.keras, is not a JSON object; "
            f"got {type(record).__name__}"
        )
    canvas = record.get("canvas")
    if canvas is None:
        return None
    if not (
        isinstance(canvas, list)
        and len(canvas) == 2
        and all(type(side) is int and side > 0 for side in canvas)
    ):
        raise ValueError(f"{path} records canvas {canvas!r}; a canvas is [height, width] in pixels")
    return tuple(canvas)


def evaluate_file(
    model_path: Path, data_root: Path = dataset.DEFAULT_ROOT, *, seed: int = 0
) -> dict:
    """Load a saved model and return its test metrics.

    ``model_path``, the record beside it and ``data_root`` are read; only
    the project's own data folder is built where its test split is missing
    (see :func:`helpers.dataset.load_splits`), any other must hold it.

    Raises
    ------
    ValueError
        If the model's record says it was trained on canvases other than the
        test split's 32 x 128, the model or the test split fails its checks,
        or ``seed`` is not a non-negative integer.
    FileNotFoundError
        If there is no model at ``model_path`` or no test split under ``data_root``.
    """
    canvas = recorded_canvas(model_path)
    if canvas is not None and canvas != TRAINING_CANVAS:
        raise ValueError(
            f"{model_path} was trained on canvases of {canvas[0]} x {canvas[1]} pixels (its record "
            f"says so); the test split's are {TRAINING_CANVAS[0]} x {TRAINING_CANVAS[1]}, "
            "which it was not trained on"
        )
    network = model.load(model_path)
    test = dataset.load_splits(data_root, seed, splits=("test",))["test"]
    return metrics_record(network, test)
