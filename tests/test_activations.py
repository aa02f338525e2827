"""Hand-written activations and losses against Keras and finite differences."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import activations


@pytest.fixture
def logits_and_targets():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3, size=(6, 10))
    y = np.zeros((6, 10))
    for row, labels in enumerate([[1], [2, 8], [0, 3, 5], [1, 4, 7, 9], [6], [2, 3]]):
        y[row, labels] = 1
    return z, y


def test_sigmoid_and_softmax_match_keras(logits_and_targets):
    z, _ = logits_and_targets
    np.testing.assert_allclose(activations.sigmoid(z), keras.ops.convert_to_numpy(keras.activations.sigmoid(z)), rtol=1e-6)
    np.testing.assert_allclose(activations.softmax(z), keras.ops.convert_to_numpy(keras.activations.softmax(z)), rtol=1e-6)


def test_softmax_sums_to_one_and_sigmoid_does_not(logits_and_targets):
    z, _ = logits_and_targets
    np.testing.assert_allclose(activations.softmax(z).sum(axis=1), 1.0)
    assert not np.allclose(activations.sigmoid(z).sum(axis=1), 1.0)


def test_binary_cross_entropy_matches_keras(logits_and_targets):
    z, y = logits_and_targets
    expected = keras.ops.convert_to_numpy(keras.losses.BinaryCrossentropy(from_logits=True)(y, z))
    assert activations.binary_cross_entropy(y, z) == pytest.approx(float(expected), rel=1e-5)


def test_categorical_cross_entropy_matches_keras_on_normalised_targets(logits_and_targets):
    z, y = logits_and_targets
    expected = keras.ops.convert_to_numpy(keras.losses.CategoricalCrossentropy(from_logits=True)(y / y.sum(1, keepdims=True), z))
    assert activations.categorical_cross_entropy(y, z) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(
    ("loss", "gradient", "scale"),
    [
        (activations.binary_cross_entropy, activations.binary_cross_entropy_gradient, 10),
        (activations.categorical_cross_entropy, activations.categorical_cross_entropy_gradient, 1),
    ],
)
def test_gradients_match_finite_differences(logits_and_targets, loss, gradient, scale):
    z, y = logits_and_targets
    z, y = z[:1], y[1:2]
    eps = 1e-6
    numeric = np.zeros_like(z)
    for c in range(z.shape[1]):
        step = np.zeros_like(z)
        step[0, c] = eps
        numeric[0, c] = (loss(y, z + step) - loss(y, z - step)) / (2 * eps)
    np.testing.assert_allclose(gradient(y, z) / scale, numeric, atol=1e-6)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"targets and logits must have the same shape; got \(2, 10\) and \(2, 9\)"):
        activations.binary_cross_entropy(np.zeros((2, 10)), np.zeros((2, 9)))
