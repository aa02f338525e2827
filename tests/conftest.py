"""Shared fixtures: the real Fashion-MNIST and the standard splits, built once."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import composite, dataset, fashion


@pytest.fixture(autouse=True)
def same_random_state():
    """Start every test from one random state (Python, numpy, Keras), so no random weight init can make a test flaky."""
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def fashion_data():
    """The real Fashion-MNIST, verified."""
    return fashion.load()


@pytest.fixture(scope="session")
def splits(fashion_data):
    """The standard train/val/test composites for seed 0, in memory."""
    return composite.standard_splits(fashion_data, seed=0)


@pytest.fixture(scope="session")
def small_dataset_root(tmp_path_factory, fashion_data):
    """A small standard dataset written to disk (seed 0, 60/20/20 composites)."""
    root = tmp_path_factory.mktemp("small-dataset")
    built = composite.standard_splits(fashion_data, 0, sizes={"train": 60, "val": 20, "test": 20})
    for split, composites in built.items():
        settings = dataset.settings_for(split, 0, count=len(composites))
        dataset.save(composites, root / split, settings)
    return root


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def labels():
    """Four multi-hot label sets of 2, 1, 4 and 3 labels."""
    y = np.zeros((4, 10), np.uint8)
    y[0, [1, 8]] = 1
    y[1, [2]] = 1
    y[2, [0, 3, 5, 9]] = 1
    y[3, [4, 6, 7]] = 1
    return y
