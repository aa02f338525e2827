"""Bad input, probed: every public entry point refuses it clearly, and nothing is written.

One row per bad input per entry point. Each row acts on a scratch folder
(a copy of a small split, a tiny model) and must raise the named error with
a message that names the parameter or file; the scratch folder must be the
same afterwards, byte for byte, except for what the row itself tampered
with before the call.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import (
    cam,
    composite,
    dataset,
    evaluation,
    explorer,
    gradcam,
    localisation,
    model,
    recipes,
    runs,
    training,
)
from helpers.__main__ import main

SPLIT = "test"


@dataclass
class Scratch:
    """The folder a probe works in: ``root/test`` (a 20-composite split) and a tiny saved model."""

    root: Path
    network: object
    model_path: Path

    @property
    def split(self) -> Path:
        return self.root / SPLIT

    def composites(self) -> composite.Composites:
        return dataset.load(self.split)


@pytest.fixture(scope="module")
def tiny_network():
    return model.build_gap_cnn(blocks=((4,),), last_filters=4, top=(), non_negative_head=True)


@pytest.fixture
def scratch(tmp_path, small_dataset_root, tiny_network):
    root = tmp_path / "data"
    shutil.copytree(small_dataset_root / SPLIT, root / SPLIT)
    path = model.save(tiny_network, tmp_path / "models" / "tiny.keras")
    return Scratch(root, tiny_network, path)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the SHA-256 of its bytes, and every folder."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "folder"
        for p in sorted(folder.rglob("*"))
    }


def rewrite_arrays(folder: Path, change: Callable[[dict], None]) -> None:
    with np.load(folder / "arrays.npz") as stored:
        arrays = {name: stored[name] for name in dataset.ARRAYS}
    change(arrays)
    np.savez_compressed(folder / "arrays.npz", **arrays)


def rewrite_settings(folder: Path, change: Callable[[dict], object]) -> None:
    settings = json.loads((folder / "settings.json").read_text())
    (folder / "settings.json").write_text(json.dumps(change(settings)))


def reverse_images(arrays: dict) -> None:
    arrays["images"] = arrays["images"][::-1].copy()


def noise_images(arrays: dict) -> None:
    arrays["images"] = np.random.default_rng(0).integers(
        0, 256, arrays["images"].shape, dtype=np.uint8
    )


def float_images(s: Scratch) -> composite.Composites:
    """The split with its images scaled to [0, 1], as a user might hand them over."""
    parts = s.composites()
    return composite.Composites(**{**parts.__dict__, "images": parts.images / 255.0})


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@dataclass
class Probe:
    entry: str
    bad: str
    tamper: Callable[[Scratch], None] | None  # done before the snapshot: the bad input itself
    call: Callable[[Scratch], object]
    error: type[BaseException]
    match: str


def cli(*args: str) -> Callable[[Scratch], object]:
    """Run ``python -m helpers`` in-process with ``{root}``, ``{split}`` and ``{model}`` filled in."""

    def run(s: Scratch) -> object:
        filled = [
            a.format(root=s.root, split=s.split, model=s.model_path, tmp=s.root.parent)
            for a in args
        ]
        status = main(filled)
        if status != 0:
            raise SystemExit(status)
        return status

    return run


def load_test(s: Scratch) -> composite.Composites:
    return dataset.load(s.split, dataset.settings_for(SPLIT, 0, count=20))


def tampered_full_test_split(s: Scratch) -> None:
    """A standard test split (1,000 composites) beside the scratch one, its images then reversed in arrays.npz."""
    dataset.build(s.root.parent / "full", splits=(SPLIT,))
    rewrite_arrays(s.root.parent / "full" / SPLIT, reverse_images)


def two_item_test_split(s: Scratch) -> None:
    """A whole test split built as `python -m helpers data --items 2` builds it: 32 x 64 canvases."""
    dataset.build(s.root.parent / "items2", splits=(SPLIT,), items_per_image=2)


def canvases(*shape: int) -> np.ndarray:
    """Two blank uint8 canvases of ``shape`` (height, width[, channels])."""
    return np.zeros((2, *shape), np.uint8)


def composites_of(items: int, slot: int = 32) -> composite.Composites:
    """Two composites of ``items`` products in slots of ``slot`` pixels: canvases of slot x slot * items."""
    return composite.compose(
        np.full((8, 28, 28), 200, np.uint8),
        np.arange(8),
        np.arange(8),
        2,
        np.random.default_rng(0),
        items_per_image=items,
        slot=slot,
        source_split="test",
    )


def write_record(record: object) -> Callable[[Scratch], None]:
    """Write ``record`` as the JSON record beside the scratch model (``tiny.json``)."""
    return lambda s: s.model_path.with_suffix(".json").write_text(
        record if isinstance(record, str) else json.dumps(record)
    )


def recorded_as_built(change: Callable[[Scratch], object]) -> Callable[[Scratch], None]:
    """Apply ``change``, then record the files' new hashes, as if the split had been built that way."""

    def tamper(s: Scratch) -> None:
        change(s)
        rewrite_settings(
            s.split, lambda d: {**d, "sha256": dataset.file_hashes(s.split, d["count"])}
        )

    return tamper


def pickle_into_arrays(s: Scratch) -> None:
    rewrite_arrays(
        s.split, lambda arrays: arrays.update(labels=np.array([object()] * 20, dtype=object))
    )


def edit_labels_csv(old: str, new: str) -> Callable[[Scratch], None]:
    return lambda s: (s.split / "labels.csv").write_text(
        (s.split / "labels.csv").read_text().replace(old, new, 1)
    )


def zip_without_a_model(s: Scratch) -> None:
    with zipfile.ZipFile(s.model_path, "w") as archive:
        archive.writestr("notes.txt", "no model here")


TRAINED_ON = (
    r"images must be canvases of 32 x 128 pixels, the size the network was trained on, "
    r"so that its maps line up with the product boxes; got "
)

PROBES = [
    # --- dataset.load: a split's files are tied together by the hashes in settings.json
    Probe(
        "dataset.load",
        "arrays.npz replaced by random bytes",
        lambda s: (s.split / "arrays.npz").write_bytes(np.random.default_rng(1).bytes(5000)),
        load_test,
        ValueError,
        r"test/arrays.npz changed after the split was built",
    ),
    Probe(
        "dataset.load",
        "arrays.npz truncated",
        lambda s: truncate(s.split / "arrays.npz"),
        load_test,
        ValueError,
        r"test/arrays.npz changed after the split was built",
    ),
    Probe(
        "dataset.load",
        "images in reversed order",
        lambda s: rewrite_arrays(s.split, reverse_images),
        load_test,
        ValueError,
        r"test/arrays.npz changed after the split was built",
    ),
    Probe(
        "dataset.load",
        "images replaced by noise",
        lambda s: rewrite_arrays(s.split, noise_images),
        load_test,
        ValueError,
        r"test/arrays.npz changed after the split was built",
    ),
    Probe(
        "dataset.load",
        "a PNG replaced by another image",
        lambda s: Image.fromarray(np.full((32, 128), 255, np.uint8), mode="L").save(
            s.split / "00003.png"
        ),
        load_test,
        ValueError,
        r"test/\*\.png changed after the split was built",
    ),
    Probe(
        "dataset.load",
        "a PNG deleted",
        lambda s: (s.split / "00007.png").unlink(),
        load_test,
        FileNotFoundError,
        r"test lacks 1 of its PNG files \(first: 00007.png\)",
    ),
    Probe(
        "dataset.load",
        "a labels.csv column renamed",
        edit_labels_csv("boxes", "box"),
        load_test,
        ValueError,
        r"test/labels.csv changed after the split was built",
    ),
    Probe(
        "dataset.load",
        "settings.json not JSON",
        lambda s: (s.split / "settings.json").write_text("{seed: 0"),
        load_test,
        ValueError,
        r"test/settings.json is not valid JSON",
    ),
    Probe(
        "dataset.load",
        "settings.json a list",
        lambda s: rewrite_settings(s.split, lambda d: [d]),
        load_test,
        ValueError,
        r"test/settings.json is not the settings record of a split \(a JSON object\)",
    ),
    Probe(
        "dataset.load",
        "settings.json of format 1",
        lambda s: rewrite_settings(s.split, lambda d: {**d, "format": 1}),
        load_test,
        ValueError,
        r"test was built by another version of this project \(format 1, this one reads 2\)",
    ),
    Probe(
        "dataset.load",
        "a count written as a string",
        lambda s: rewrite_settings(s.split, lambda d: {**d, "count": "20"}),
        lambda s: dataset.load(s.split),
        ValueError,
        r"settings.json is not the settings record of a split: fields \['count'\] are missing or of the wrong type",
    ),
    Probe(
        "dataset.load",
        "a count that disagrees with the files, hashes recorded",
        recorded_as_built(lambda s: rewrite_settings(s.split, lambda d: {**d, "count": 19})),
        lambda s: dataset.load(s.split),
        ValueError,
        r"settings say 19 composites, labels.csv has 20, arrays.npz 20",
    ),
    Probe(
        "dataset.load",
        "a labels.csv column renamed, hashes recorded",
        recorded_as_built(edit_labels_csv("boxes", "box")),
        load_test,
        ValueError,
        r"test/labels.csv is not a metadata table of this format",
    ),
    Probe(
        "dataset.load",
        "labels.csv naming another file, hashes recorded",
        recorded_as_built(edit_labels_csv("00003.png", "../../elsewhere.png")),
        load_test,
        ValueError,
        r"its fname column must list 00000.png, 00001.png, ... in order",
    ),
    Probe(
        "dataset.load",
        "settings.json from another seed",
        lambda s: rewrite_settings(s.split, lambda d: {**d, "seed": 1}),
        load_test,
        ValueError,
        r"built with other settings: seed=1 \(wanted 0\)",
    ),
    Probe(
        "dataset.load",
        "settings.json without file hashes",
        lambda s: rewrite_settings(
            s.split, lambda d: {k: v for k, v in d.items() if k != "sha256"}
        ),
        lambda s: dataset.load(s.split),
        ValueError,
        r"test/settings.json is not the settings record of a split: it records no file hashes",
    ),
    Probe(
        "dataset.load",
        "settings.json missing",
        lambda s: (s.split / "settings.json").unlink(),
        load_test,
        FileNotFoundError,
        r"test holds no dataset split \(no settings.json\)",
    ),
    Probe(
        "dataset.load",
        "arrays.npz a folder",
        lambda s: ((s.split / "arrays.npz").unlink(), (s.split / "arrays.npz").mkdir()),
        load_test,
        FileNotFoundError,
        r"test/arrays.npz is missing or not a file",
    ),
    Probe(
        "dataset.load",
        "arrays.npz with a pickled object array, hashes recorded",
        recorded_as_built(pickle_into_arrays),
        load_test,
        ValueError,
        r"test/arrays.npz holds pickled objects, which are never loaded",
    ),
    Probe(
        "dataset.load_splits",
        "a split built with another seed",
        None,
        lambda s: dataset.load_splits(s.root, seed=1, splits=(SPLIT,)),
        ValueError,
        r"built with other settings: .*seed=0 \(wanted 1\)",
    ),
    Probe(
        "dataset.load_splits",
        "a root that does not exist",
        None,
        lambda s: dataset.load_splits(s.root.parent / "typo", splits=(SPLIT,)),
        FileNotFoundError,
        r"no dataset at .*typo: the folder does not exist",
    ),
    Probe(
        "dataset.load_splits",
        "a root that lacks a split asked for",
        None,
        lambda s: dataset.load_splits(s.root, splits=("val", SPLIT)),
        FileNotFoundError,
        r"no dataset at .*data: it lacks val",
    ),
    Probe(
        "dataset.load_splits",
        "a split built with 2 products per canvas",
        lambda s: rewrite_settings(s.split, lambda d: {**d, "items_per_image": 2}),
        lambda s: dataset.load_splits(s.root, splits=(SPLIT,)),
        ValueError,
        r"items_per_image=2 \(wanted 4\): canvases of 32 x 64 pixels, not 32 x 128",
    ),
    Probe(
        "dataset.load_splits",
        "a negative seed",
        None,
        lambda s: dataset.load_splits(s.root, seed=-1, splits=(SPLIT,)),
        ValueError,
        r"seed must be a non-negative integer; got -1",
    ),
    # --- composite.compose: one product once, real classes
    *[
        Probe(
            "composite.compose",
            bad,
            None,
            (
                lambda bad_pool, bad_classes: (
                    lambda s: composite.compose(
                        np.zeros((8, 28, 28), np.uint8),
                        bad_classes,
                        bad_pool,
                        1,
                        np.random.default_rng(0),
                    )
                )
            )(pool, classes),
            ValueError,
            match,
        )
        for bad, pool, classes, match in [
            (
                "a pool with a repeated index",
                np.array([3, 5, 3, 7]),
                np.arange(8),
                r"pool must hold each index at most once; 1 repeat",
            ),
            (
                "a negative pool index",
                np.array([-1, 2, 4, 6]),
                np.arange(8),
                r"pool must hold indices from 0 to 7; got values from -1 to 6",
            ),
            (
                "a pool index past the images",
                np.array([0, 1, 2, 8]),
                np.arange(8),
                r"pool must hold indices from 0 to 7; got values from 0 to 8",
            ),
            (
                "a float pool",
                np.arange(4.0),
                np.arange(8),
                r"pool must be a 1-D array of integer indices; got float64 \(4,\)",
            ),
            (
                "class id -1",
                np.arange(4),
                np.array([0, 1, -1, 2, 3, 4, 5, 6]),
                r"classes must be class ids from 0 to 9; got values from -1 to 6",
            ),
            (
                "class id 10",
                np.arange(4),
                np.array([0, 1, 10, 2, 3, 4, 5, 6]),
                r"classes must be class ids from 0 to 9; got values from 0 to 10",
            ),
            (
                "class id 300",
                np.arange(4),
                np.array([0, 1, 300, 2, 3, 4, 5, 6]),
                r"classes must be class ids from 0 to 9; got values from 0 to 300",
            ),
            (
                "one class id too few",
                np.arange(4),
                np.arange(7),
                r"classes must be one integer class id per image, shape \(8,\)",
            ),
        ]
    ],
    # --- what predicts: raw uint8 canvases only (the saved model scales its input and would take anything)
    Probe(
        "cam.class_activation_maps",
        "float images in [0, 1]",
        None,
        lambda s: cam.class_activation_maps(s.network, s.composites().images / 255.0),
        ValueError,
        r"images must be uint8 canvases \(0-255\); got float64",
    ),
    Probe(
        "cam.class_activation_maps",
        "all-NaN images",
        None,
        lambda s: cam.class_activation_maps(s.network, np.full((2, 32, 128), np.nan)),
        ValueError,
        r"images must be uint8 canvases \(0-255\); got float64",
    ),
    Probe(
        "cam.class_activation_maps",
        "3-channel images",
        None,
        lambda s: cam.class_activation_maps(s.network, np.zeros((2, 32, 128, 3), np.uint8)),
        ValueError,
        r"images must have shape \(N, 32, 128\) or \(N, 32, 128, 1\); got \(2, 32, 128, 3\)",
    ),
    Probe(
        "cam.class_activation_maps",
        "one image without its batch axis",
        None,
        lambda s: cam.class_activation_maps(s.network, np.zeros((32, 128), np.uint8)),
        ValueError,
        r"images must have shape \(N, 32, 128\) or \(N, 32, 128, 1\); got \(32, 128\)",
    ),
    Probe(
        "gradcam.grad_cam",
        "float images in [0, 1]",
        None,
        lambda s: gradcam.grad_cam(s.network, s.composites().images[:2] / 255.0, "all"),
        ValueError,
        r"images must be uint8 canvases \(0-255\); got float64",
    ),
    Probe(
        "runs.metrics_record",
        "float images in [0, 1]",
        None,
        lambda s: runs.metrics_record(s.network, float_images(s)),
        ValueError,
        r"images must be uint8 canvases \(0-255\); got float64",
    ),
    Probe(
        "localisation.compare_methods",
        "float images in [0, 1]",
        None,
        lambda s: localisation.compare_methods(
            s.network, float_images(s), {"CAM": np.zeros((20, 32, 128, 10))}
        ),
        ValueError,
        r"images must be uint8 canvases",
    ),
    Probe(
        "localisation.deletion_scores",
        "a fill value past 255",
        None,
        lambda s: localisation.deletion_scores(
            s.network,
            s.composites().images[:2],
            np.zeros((2, 32, 128, 10)),
            np.ones((2, 10), bool),
            fill=300,
        ),
        ValueError,
        r"fill must be an integer from 0 to 255; got 300",
    ),
    Probe(
        "training.train",
        "float validation images",
        None,
        lambda s: training.train(recipes.RECIPES["quick"], s.composites(), float_images(s)),
        ValueError,
        r"val.images must be uint8 canvases \(0-255\); got float64",
    ),
    Probe(
        "training.train",
        "training composites of three products (32 x 96)",
        None,
        lambda s: training.train(recipes.RECIPES["quick"], composites_of(3), s.composites()),
        ValueError,
        r"train.images must be canvases of 32 x 128 pixels, the canvas the series trains on; "
        r"its maps and scores refuse any other; got \(2, 32, 96\)",
    ),
    Probe(
        "training.train",
        "validation composites of slots of 28 pixels (28 x 112)",
        None,
        lambda s: training.train(recipes.RECIPES["quick"], s.composites(), composites_of(4, 28)),
        ValueError,
        r"val.images must be canvases of 32 x 128 pixels, the canvas the series trains on",
    ),
    Probe(
        "training.train",
        "a negative seed",
        None,
        lambda s: training.train(recipes.RECIPES["quick"], s.composites(), s.composites(), seed=-1),
        ValueError,
        r"seed must be a non-negative integer; got -1",
    ),
    # --- canvases the network was not trained on: its maps would miss the product boxes
    *[
        Probe(
            "cam.class_activation_maps",
            f"canvases of {' x '.join(map(str, shape))}",
            None,
            (lambda size: lambda s: cam.class_activation_maps(s.network, canvases(*size)))(shape),
            ValueError,
            TRAINED_ON + re.escape(str((2, *shape))),
        )
        for shape in [(32, 96), (28, 28), (64, 256), (32, 96, 1), (128, 32)]
    ],
    Probe(
        "cam.class_activation_maps",
        "float canvases of the right size",
        None,
        lambda s: cam.class_activation_maps(s.network, canvases(32, 128).astype(np.float32)),
        ValueError,
        r"images must be uint8 canvases \(0-255\); got float32",
    ),
    Probe(
        "cam.class_activation_maps",
        "float canvases of another size",
        None,
        lambda s: cam.class_activation_maps(s.network, np.zeros((2, 32, 96))),
        ValueError,
        TRAINED_ON + r"\(2, 32, 96\)",
    ),
    Probe(
        "cam.feature_maps",
        "canvases of 32 x 96",
        None,
        lambda s: cam.feature_maps(s.network, canvases(32, 96)),
        ValueError,
        TRAINED_ON + r"\(2, 32, 96\)",
    ),
    Probe(
        "cam.logits",
        "canvases of 64 x 256",
        None,
        lambda s: cam.logits(s.network, canvases(64, 256)),
        ValueError,
        TRAINED_ON + r"\(2, 64, 256\)",
    ),
    Probe(
        "cam.check_images",
        "composites of 3 products (32 x 96)",
        None,
        lambda s: cam.check_images(s.network, composites_of(3).images),
        ValueError,
        TRAINED_ON + r"\(2, 32, 96\)",
    ),
    Probe(
        "gradcam.grad_cam",
        "canvases of 32 x 96",
        None,
        lambda s: gradcam.grad_cam(s.network, canvases(32, 96), "all"),
        ValueError,
        TRAINED_ON + r"\(2, 32, 96\)",
    ),
    Probe(
        "gradcam.grad_cam",
        "single products of 28 x 28",
        None,
        lambda s: gradcam.grad_cam(s.network, canvases(28, 28), np.array([0, 1])),
        ValueError,
        TRAINED_ON + r"\(2, 28, 28\)",
    ),
    Probe(
        "localisation.deletion_scores",
        "canvases of 32 x 96 with maps of their size",
        None,
        lambda s: localisation.deletion_scores(
            s.network, canvases(32, 96), np.zeros((2, 32, 96, 10)), np.ones((2, 10), bool)
        ),
        ValueError,
        TRAINED_ON + r"\(2, 32, 96\)",
    ),
    Probe(
        "localisation.compare_methods",
        "composites of 2 products (32 x 64)",
        None,
        lambda s: localisation.compare_methods(
            s.network, composites_of(2), {"CAM": np.zeros((2, 32, 64, 10))}
        ),
        ValueError,
        TRAINED_ON + r"\(2, 32, 64\)",
    ),
    Probe(
        "localisation.compare_methods",
        "maps at the resolution of last_conv",
        None,
        lambda s: localisation.compare_methods(
            s.network, s.composites(), {"CAM": np.zeros((20, 16, 64, 10))}
        ),
        ValueError,
        r"maps_by_method\['CAM'\] must have shape \(20, 32, 128, 10\); got \(20, 16, 64, 10\)",
    ),
    Probe(
        "localisation.peak_and_energy_scores",
        "maps at the resolution of last_conv",
        None,
        lambda s: localisation.peak_and_energy_scores(
            np.zeros((20, 16, 64, 10)), s.composites().items, s.composites().boxes
        ),
        ValueError,
        r"maps must be at the canvas size of the boxes: maps of 16 x 64 pixels, boxes reaching "
        r"x = \d+, y = \d+; upsample",
    ),
    Probe(
        "localisation.box_scores",
        "maps of 32 x 96 for boxes on 32 x 128",
        None,
        lambda s: localisation.box_scores(
            np.zeros((20, 32, 96, 10)), s.composites().items, s.composites().boxes
        ),
        ValueError,
        r"maps must be at the canvas size of the boxes: maps of 32 x 96 pixels",
    ),
    Probe(
        "explorer.Explorer",
        "composites of 2 products (32 x 64)",
        None,
        lambda s: explorer.Explorer(
            s.network, composites_of(2), (np.zeros((10, 28, 28), np.uint8), np.arange(10))
        ),
        ValueError,
        TRAINED_ON + r"\(2, 32, 64\)",
    ),
    Probe(
        "explorer.class_maps",
        "one canvas of 32 x 32",
        None,
        lambda s: explorer.class_maps(s.network, composites_of(1).images[:1], "Grad-CAM"),
        ValueError,
        TRAINED_ON + r"\(1, 32, 32\)",
    ),
    Probe(
        "runs.metrics_record",
        "composites of 2 products (32 x 64)",
        None,
        lambda s: runs.metrics_record(s.network, composites_of(2)),
        ValueError,
        TRAINED_ON + r"\(2, 32, 64\)",
    ),
    Probe(
        "runs.localisation_record",
        "composites in slots of 64 (64 x 256)",
        None,
        lambda s: runs.localisation_record(s.network, composites_of(4, slot=64)),
        ValueError,
        TRAINED_ON + r"\(2, 64, 256\)",
    ),
    # --- evaluation: label sets and probabilities
    Probe(
        "evaluation.report",
        "NaN probabilities",
        None,
        lambda s: evaluation.report(np.eye(10, dtype=int)[:2], np.full((2, 10), np.nan)),
        ValueError,
        r"y_prob must hold probabilities in \[0, 1\]",
    ),
    Probe(
        "evaluation.report",
        "labels other than 0 and 1",
        None,
        lambda s: evaluation.report(np.full((2, 10), 2), np.zeros((2, 10))),
        ValueError,
        r"y_true must hold only 0 and 1",
    ),
    Probe(
        "evaluation.report",
        "probabilities of another shape",
        None,
        lambda s: evaluation.report(np.zeros((2, 10), int), np.zeros((3, 10))),
        ValueError,
        r"y_prob must have shape \(2, 10\); got \(3, 10\)",
    ),
    Probe(
        "evaluation.mistaken_for",
        "label sets of two shapes",
        None,
        lambda s: evaluation.mistaken_for(np.zeros((2, 10), int), np.zeros((3, 10), int)),
        ValueError,
        r"y_pred must have the shape of y_true",
    ),
    # --- model files
    Probe(
        "model.load",
        "a truncated .keras file",
        lambda s: truncate(s.model_path),
        lambda s: model.load(s.model_path),
        ValueError,
        r"tiny.keras is not a Keras model file: a .keras file is a zip archive",
    ),
    Probe(
        "model.load",
        "a text file named .keras",
        lambda s: s.model_path.write_text("not a model"),
        lambda s: model.load(s.model_path),
        ValueError,
        r"tiny.keras is not a Keras model file",
    ),
    Probe(
        "model.load",
        "a zip archive without a model",
        zip_without_a_model,
        lambda s: model.load(s.model_path),
        ValueError,
        r"tiny.keras holds no model Keras can load",
    ),
    Probe(
        "model.load",
        "a model file named .h5",
        lambda s: shutil.copy(s.model_path, s.root.parent / "tiny.h5"),
        lambda s: model.load(s.root.parent / "tiny.h5"),
        ValueError,
        r"model files end in .keras; got tiny.h5",
    ),
    Probe(
        "model.load",
        "a missing file",
        None,
        lambda s: model.load(s.model_path.with_name("missing.keras")),
        FileNotFoundError,
        r"no model at .*missing.keras",
    ),
    Probe(
        "model.save",
        "a file name without .keras",
        None,
        lambda s: model.save(s.network, s.root / "m.h5"),
        ValueError,
        r"path must end in .keras; got m.h5",
    ),
    Probe(
        "model.save",
        "a folder that is a file",
        None,
        lambda s: model.save(s.network, s.split / "labels.csv" / "m.keras"),
        ValueError,
        r"cannot be written: .*labels.csv is a file, not a folder",
    ),
    # --- the command line: one line on stderr, exit status 2, nothing trained or written first
    Probe(
        "python -m helpers train",
        "--out m.h5",
        None,
        cli("train", "--recipe", "quick", "--data", "{root}", "--out", "{tmp}/m.h5"),
        SystemExit,
        r"error: out must end in .keras; got m.h5",
    ),
    Probe(
        "python -m helpers train",
        "--out inside a file",
        None,
        cli(
            "train", "--recipe", "quick", "--data", "{root}", "--out", "{split}/labels.csv/m.keras"
        ),
        SystemExit,
        r"error: out .* cannot be written: .*labels.csv is a file, not a folder",
    ),
    Probe(
        "python -m helpers train",
        "--out a folder",
        lambda s: (s.root.parent / "x.keras").mkdir(),
        cli("train", "--recipe", "quick", "--data", "{root}", "--out", "{tmp}/x.keras"),
        SystemExit,
        r"error: out must be a file; .*x.keras is a folder",
    ),
    Probe(
        "python -m helpers train",
        "--seed -1",
        None,
        cli(
            "train",
            "--recipe",
            "quick",
            "--data",
            "{root}",
            "--out",
            "{tmp}/m.keras",
            "--seed",
            "-1",
        ),
        SystemExit,
        r"error: seed must be a non-negative integer; got -1",
    ),
    Probe(
        "python -m helpers train",
        "an unknown --recipe",
        None,
        cli("train", "--recipe", "fastest", "--out", "{tmp}/m.keras"),
        SystemExit,
        r"invalid choice: 'fastest'",
    ),
    Probe(
        "python -m helpers train",
        "--data holding a test split only",
        None,
        cli("train", "--recipe", "quick", "--data", "{root}", "--out", "{tmp}/m.keras"),
        SystemExit,
        r"error: no dataset at .*: it lacks train, val",
    ),
    Probe(
        "python -m helpers train",
        "--data that does not exist",
        None,
        cli("train", "--recipe", "quick", "--data", "{tmp}/typo", "--out", "{tmp}/m.keras"),
        SystemExit,
        r"error: no dataset at .*typo: the folder does not exist",
    ),
    Probe(
        "python -m helpers train",
        "--data a file",
        None,
        cli("train", "--data", "{split}/labels.csv", "--out", "{tmp}/m.keras"),
        SystemExit,
        r"error: no dataset at .*labels.csv: it is a file, not a dataset folder",
    ),
    Probe(
        "runs.train_and_save",
        "a data_root that does not exist",
        None,
        lambda s: runs.train_and_save(
            "quick", s.root.parent / "m.keras", data_root=s.root.parent / "typo"
        ),
        FileNotFoundError,
        r"no dataset at .*typo: the folder does not exist",
    ),
    Probe(
        "python -m helpers evaluate",
        "--seed -1",
        None,
        cli("evaluate", "--model", "{model}", "--data", "{root}", "--seed", "-1"),
        SystemExit,
        r"error: seed must be a non-negative integer; got -1",
    ),
    Probe(
        "python -m helpers evaluate",
        "a truncated --model",
        lambda s: truncate(s.model_path),
        cli("evaluate", "--model", "{model}", "--data", "{root}"),
        SystemExit,
        r"error: .*tiny.keras is not a Keras model file",
    ),
    Probe(
        "python -m helpers evaluate",
        "a missing --model",
        None,
        cli("evaluate", "--model", "{tmp}/none.keras", "--data", "{root}"),
        SystemExit,
        r"error: no model at .*none.keras",
    ),
    Probe(
        "python -m helpers evaluate",
        "a test split with its images reversed",
        tampered_full_test_split,
        cli("evaluate", "--model", "{model}", "--data", "{tmp}/full"),
        SystemExit,
        r"error: .*full/test/arrays.npz changed after the split was built",
    ),
    Probe(
        "python -m helpers evaluate",
        "--data that does not exist",
        None,
        cli("evaluate", "--model", "{model}", "--data", "{tmp}/typo"),
        SystemExit,
        r"error: no dataset at .*typo: the folder does not exist \(check the path, or build it "
        r"with `python -m helpers data --out .*typo`\)",
    ),
    Probe(
        "python -m helpers evaluate",
        "--data an empty folder",
        lambda s: (s.root.parent / "empty").mkdir(),
        cli("evaluate", "--model", "{model}", "--data", "{tmp}/empty"),
        SystemExit,
        r"error: no dataset at .*empty: it lacks test",
    ),
    Probe(
        "python -m helpers evaluate",
        "--data a file",
        None,
        cli("evaluate", "--model", "{model}", "--data", "{split}/labels.csv"),
        SystemExit,
        r"error: no dataset at .*labels.csv: it is a file, not a dataset folder",
    ),
    Probe(
        "python -m helpers evaluate",
        "--data the folder of one split",
        None,
        cli("evaluate", "--model", "{model}", "--data", "{split}"),
        SystemExit,
        r"error: no dataset at .*test: it is the folder of one split; give the folder above it",
    ),
    Probe(
        "python -m helpers evaluate",
        "--data built with --items 2",
        two_item_test_split,
        cli("evaluate", "--model", "{model}", "--data", "{tmp}/items2"),
        SystemExit,
        r"error: .*items2/test was built with other settings: items_per_image=2 \(wanted 4\): "
        r"canvases of 32 x 64 pixels, not 32 x 128",
    ),
    Probe(
        "python -m helpers evaluate",
        "--data recorded with slots of 28",
        lambda s: rewrite_settings(s.split, lambda d: {**d, "slot": 28}),
        cli("evaluate", "--model", "{model}", "--data", "{root}"),
        SystemExit,
        r"error: .*slot=28 \(wanted 32\): canvases of 28 x 112 pixels, not 32 x 128",
    ),
    Probe(
        "python -m helpers evaluate",
        "--data built with --variable-count",
        lambda s: rewrite_settings(s.split, lambda d: {**d, "variable_count": True}),
        cli("evaluate", "--model", "{model}", "--data", "{root}"),
        SystemExit,
        r"error: .*built with other settings: .*variable_count=True \(wanted False\)",
    ),
    Probe(
        "python -m helpers evaluate",
        "a model whose record says 32 x 96",
        write_record({"seed": 0, "canvas": [32, 96]}),
        cli("evaluate", "--model", "{model}", "--data", "{root}"),
        SystemExit,
        r"error: .*tiny.keras was trained on canvases of 32 x 96 pixels \(its record says so\); "
        r"the test split's are 32 x 128, which it was not trained on",
    ),
    Probe(
        "python -m helpers evaluate",
        "a model whose record is not JSON",
        write_record("{canvas: 32 x 128"),
        cli("evaluate", "--model", "{model}", "--data", "{root}"),
        SystemExit,
        r"error: .*tiny.json, the record of tiny.keras, is not valid JSON",
    ),
    Probe(
        "python -m helpers evaluate",
        "a model whose record is a JSON list",
        write_record([32, 128]),
        cli("evaluate", "--model", "{model}", "--data", "{root}"),
        SystemExit,
        r"error: .*tiny.json, the record of tiny.keras, is not a JSON object; got list",
    ),
    Probe(
        "python -m helpers evaluate",
        "a model whose record names no canvas size",
        write_record({"canvas": "32 x 128"}),
        cli("evaluate", "--model", "{model}", "--data", "{root}"),
        SystemExit,
        r"error: .*tiny.json records canvas '32 x 128'; a canvas is \[height, width\] in pixels",
    ),
    Probe(
        "python -m helpers data",
        "--out where a split exists",
        None,
        cli("data", "--out", "{root}"),
        SystemExit,
        r"error: .*test already exists; remove it to rebuild",
    ),
    Probe(
        "python -m helpers data",
        "--items 5",
        None,
        cli("data", "--out", "{tmp}/new", "--items", "5"),
        SystemExit,
        r"argument --items: invalid choice: 5",
    ),
    Probe(
        "python -m helpers data",
        "--seed -1",
        None,
        cli("data", "--out", "{tmp}/new", "--seed", "-1"),
        SystemExit,
        r"error: seed must be a non-negative integer; got -1",
    ),
    Probe(
        "python -m helpers data",
        "--out inside a file",
        None,
        cli("data", "--out", "{split}/labels.csv/data"),
        SystemExit,
        r"error: root .*data cannot be written: .*labels.csv is a file, not a folder",
    ),
]


@pytest.mark.parametrize("probe", PROBES, ids=[f"{p.entry}: {p.bad}" for p in PROBES])
def test_bad_input_is_refused_by_name_and_nothing_is_written(probe, scratch, capsys):
    if probe.tamper:
        probe.tamper(scratch)
    before = snapshot(scratch.root.parent)
    with pytest.raises(probe.error) as raised:
        probe.call(scratch)
    message = str(raised.value)
    if (
        probe.error is SystemExit
    ):  # the command line: exit status 2, the error on the last line of stderr
        assert raised.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(probe.match, message), message
    assert "allow_pickle" not in message and "unsafe" not in message  # never advise loading pickles
    assert snapshot(scratch.root.parent) == before
