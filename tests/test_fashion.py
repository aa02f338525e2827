"""Locating, verifying and loading the real Fashion-MNIST."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers import fashion


def test_load_gives_the_standard_shapes_and_dtypes(fashion_data):
    (x_train, y_train), (x_test, y_test) = fashion_data
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}


def test_every_class_has_6000_training_and_1000_test_images(fashion_data):
    (_, y_train), (_, y_test) = fashion_data
    assert np.bincount(y_train).tolist() == [6_000] * 10
    assert np.bincount(y_test).tolist() == [1_000] * 10


def test_class_names_follow_keras_docs():
    assert fashion.CLASS_NAMES == (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


def test_source_files_match_their_sha256():
    folder = fashion.locate()
    assert folder is not None
    assert fashion.problems(folder) == []


@pytest.fixture
def copied_files(tmp_path):
    folder = fashion.locate()
    for name in fashion.SHA256:
        shutil.copy(folder / name, tmp_path / name)
    return tmp_path


def test_chosen_folder_with_a_corrupt_file_is_refused_with_both_hashes(copied_files, monkeypatch):
    corrupt = copied_files / "t10k-labels-idx1-ubyte.gz"
    original = corrupt.read_bytes()
    corrupt.write_bytes(original[:100] + bytes([original[100] ^ 0xFF]) + original[101:])
    monkeypatch.setenv(fashion.ENV_VAR, str(copied_files))
    with pytest.raises(fashion.FashionMNISTError) as error:
        fashion.load()
    message = str(error.value)
    assert "t10k-labels-idx1-ubyte.gz: corrupt" in message
    assert fashion.SHA256["t10k-labels-idx1-ubyte.gz"] in message
    assert fashion.sha256(corrupt) in message
    assert "apt-get install dataset-fashion-mnist" in message and fashion.ENV_VAR in message


def test_chosen_folder_with_a_missing_file_is_refused_not_bypassed(copied_files, monkeypatch):
    (copied_files / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv(fashion.ENV_VAR, str(copied_files))
    with pytest.raises(fashion.FashionMNISTError, match="train-images-idx3-ubyte.gz: missing"):
        fashion.load()


def test_chosen_folder_with_valid_files_is_used(copied_files, monkeypatch):
    monkeypatch.setenv(fashion.ENV_VAR, str(copied_files))
    assert fashion.locate() == copied_files
