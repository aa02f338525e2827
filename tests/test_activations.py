"""Each head's Keras loss and the training targets it gets from the multi-hot labels."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import activations


def test_each_head_names_the_keras_loss_it_trains_with():
    assert list(activations.HEADS) == ["softmax", "sigmoid"]
    for loss in activations.HEADS.values():
        assert callable(keras.losses.get(loss))


def test_softmax_targets_share_one_between_the_labels(labels):
    targets = activations.targets_for("softmax", labels)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    np.testing.assert_allclose(targets[0, [1, 8]], [0.5, 0.5])
    np.testing.assert_allclose(targets[2, [0, 3, 5, 9]], 0.25)
    assert targets.dtype == np.float32


def test_sigmoid_targets_are_the_multi_hot_labels(labels):
    np.testing.assert_array_equal(
        activations.targets_for("sigmoid", labels), labels.astype(np.float32)
    )


def test_unknown_head_is_refused(labels):
    with pytest.raises(
        ValueError, match=r"head must be one of \('softmax', 'sigmoid'\); got 'relu'"
    ):
        activations.targets_for("relu", labels)


def test_a_row_without_labels_is_refused(labels):
    labels[1] = 0
    with pytest.raises(ValueError, match="every row of labels needs at least one label"):
        activations.targets_for("softmax", labels)


def test_labels_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"labels must have shape \(N, 10\); got \(3, 9\)"):
        activations.targets_for("sigmoid", np.ones((3, 9)))


def test_labels_other_than_zero_and_one_are_refused(labels):
    labels[0, 0] = 2
    with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
        activations.targets_for("sigmoid", labels)
