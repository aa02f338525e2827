"""Hand-written activations, losses and training targets against Keras and finite differences."""

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
    np.testing.assert_allclose(
        activations.sigmoid(z), keras.ops.convert_to_numpy(keras.activations.sigmoid(z)), rtol=1e-6
    )
    np.testing.assert_allclose(
        activations.softmax(z), keras.ops.convert_to_numpy(keras.activations.softmax(z)), rtol=1e-6
    )


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
    expected = keras.ops.convert_to_numpy(
        keras.losses.CategoricalCrossentropy(from_logits=True)(y / y.sum(1, keepdims=True), z)
    )
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
    with pytest.raises(
        ValueError, match=r"targets and logits must have the same shape; got \(2, 10\) and \(2, 9\)"
    ):
        activations.binary_cross_entropy(np.zeros((2, 10)), np.zeros((2, 9)))


def test_logit_sweep_matches_the_losses_and_gradients(trouser_and_bag):
    y, z = trouser_and_bag
    sweep = activations.logit_sweep(y, z, label=1, values=np.array([-2.0, 0.0, 5.0]))
    at_zero = z.copy()
    at_zero[1] = 0.0
    row = sweep.iloc[1]
    assert row["logit"] == 0.0
    assert row["binary cross-entropy"] == pytest.approx(
        10 * activations.binary_cross_entropy(y, at_zero)
    )
    assert row["categorical cross-entropy"] == pytest.approx(
        activations.categorical_cross_entropy(y, at_zero)
    )
    assert row["binary gradient"] == pytest.approx(activations.sigmoid(0.0) - 1)
    assert row["categorical gradient"] == pytest.approx(activations.softmax(at_zero)[1] - 0.5)


def test_logit_sweep_gradients_match_the_slope_of_the_loss(trouser_and_bag):
    y, z = trouser_and_bag
    values = np.linspace(-6, 6, 1201)
    sweep = activations.logit_sweep(y, z, label=1, values=values)
    for name in ("binary", "categorical"):
        slope = np.gradient(sweep[f"{name} cross-entropy"].to_numpy(), values)
        np.testing.assert_allclose(
            slope[1:-1], sweep[f"{name} gradient"].to_numpy()[1:-1], atol=1e-3
        )


def test_categorical_loss_punishes_a_second_confident_label_and_binary_does_not(trouser_and_bag):
    y, z = trouser_and_bag
    sweep = activations.logit_sweep(y, z, label=1, values=np.array([3.0, 8.0]))
    assert sweep["categorical gradient"].iloc[1] > 0  # pushing Trouser past Bag raises the loss
    assert (sweep["binary gradient"] < 0).all()  # binary always asks for more


def test_logit_sweep_refuses_a_label_out_of_range(trouser_and_bag):
    y, z = trouser_and_bag
    with pytest.raises(ValueError, match="label must be an integer from 0 to 9; got 10"):
        activations.logit_sweep(y, z, label=10, values=np.zeros(3))


def test_logit_sweep_refuses_a_batch(trouser_and_bag):
    y, z = trouser_and_bag
    with pytest.raises(
        ValueError,
        match=r"y and z must be one vector each, of the same length; got \(1, 10\) and \(10,\)",
    ):
        activations.logit_sweep(y[None], z, label=1, values=np.zeros(3))


def test_logit_sweep_refuses_a_target_without_labels():
    with pytest.raises(
        ValueError, match="y must be a multi-hot vector of 0 and 1 with at least one label"
    ):
        activations.logit_sweep(np.zeros(10), np.zeros(10), label=1, values=np.zeros(3))


def test_problem_table_pairs_multi_label_with_sigmoid_and_binary_cross_entropy():
    table = activations.problem_table()
    assert len(table) == 5
    assert table.loc["multi-label", "last layer"] == "1 unit per class, sigmoid"
    assert table.loc["multi-label", "Keras loss"] == "binary_crossentropy"
    assert "softmax" in table.loc["multi-class, single-label", "last layer"]
    assert "linear" in table.loc["regression to arbitrary values", "last layer"]


# --- training targets of each head ----------------------------------------------


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
