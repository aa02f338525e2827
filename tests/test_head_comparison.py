"""Softmax vs sigmoid heads: targets, training, decoding and scoring."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers import head_comparison as hc
from helpers import plots


@pytest.fixture
def labels():
    y = np.zeros((4, 10), np.uint8)
    y[0, [1, 8]] = 1
    y[1, [2]] = 1
    y[2, [0, 3, 5, 9]] = 1
    y[3, [4, 6, 7]] = 1
    return y


@pytest.fixture
def tiny_budget():
    return hc.Budget(train_size=16, epochs=1, batch_size=8, blocks=((4,),), last_filters=8)


def test_softmax_targets_share_one_between_the_labels(labels):
    targets = hc.targets_for("softmax", labels)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    np.testing.assert_allclose(targets[0, [1, 8]], [0.5, 0.5])
    np.testing.assert_allclose(targets[2, [0, 3, 5, 9]], 0.25)
    assert targets.dtype == np.float32


def test_sigmoid_targets_are_the_multi_hot_labels(labels):
    np.testing.assert_array_equal(hc.targets_for("sigmoid", labels), labels.astype(np.float32))


def test_unknown_head_is_refused(labels):
    with pytest.raises(ValueError, match=r"head must be one of \['softmax', 'sigmoid'\]; got 'relu'"):
        hc.targets_for("relu", labels)


def test_a_row_without_labels_is_refused(labels):
    labels[1] = 0
    with pytest.raises(ValueError, match="every row of labels needs at least one label"):
        hc.targets_for("softmax", labels)


def test_labels_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"labels must have shape \(N, 10\); got \(3, 9\)"):
        hc.targets_for("sigmoid", np.ones((3, 9)))


def test_decode_threshold_keeps_labels_at_or_above_it():
    y_prob = np.full((1, 10), 0.1)
    y_prob[0, [2, 5]] = [0.5, 0.7]
    np.testing.assert_array_equal(np.flatnonzero(hc.decode_threshold(y_prob, 0.5)[0]), [2, 5])
    per_class = np.full(10, 0.6)
    np.testing.assert_array_equal(np.flatnonzero(hc.decode_threshold(y_prob, per_class)[0]), [5])


def test_decode_threshold_refuses_a_threshold_outside_zero_one():
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        hc.decode_threshold(np.zeros((1, 10)), 1.0)


def test_probabilities_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match=r"y_prob must hold probabilities in \[0, 1\]"):
        hc.decode_threshold(np.full((1, 10), 2.0), 0.5)


def test_decode_top_k_takes_the_k_most_probable_per_row():
    y_prob = np.array([[0.4, 0.1, 0.3, 0, 0, 0, 0, 0, 0.2, 0], [0, 0, 0, 0, 0, 0, 0, 0.9, 0, 0.8]])
    decoded = hc.decode_top_k(y_prob, np.array([3, 1]))
    np.testing.assert_array_equal(np.flatnonzero(decoded[0]), [0, 2, 8])
    np.testing.assert_array_equal(np.flatnonzero(decoded[1]), [7])


def test_decode_top_k_breaks_ties_by_class_order():
    np.testing.assert_array_equal(np.flatnonzero(hc.decode_top_k(np.full((1, 10), 0.1), 2)[0]), [0, 1])


def test_decode_top_k_refuses_k_out_of_range():
    with pytest.raises(ValueError, match=r"k must be one integer or one per row \(2\), each from 1 to 10"):
        hc.decode_top_k(np.zeros((2, 10)), np.array([0, 2]))


def test_scores_of_a_perfect_and_a_half_right_prediction(labels):
    perfect = hc.scores(labels, labels)
    assert perfect == {"exact_match": 1.0, "per_label_accuracy": 1.0, "label_count_accuracy": 1.0, "micro_f1": 1.0}
    half = labels.copy()
    half[0, 8] = 0  # one label missed
    half[1, 3] = 1  # one label too many
    result = hc.scores(labels, half)
    assert result["exact_match"] == pytest.approx(0.5)
    assert result["per_label_accuracy"] == pytest.approx(38 / 40)
    assert result["label_count_accuracy"] == pytest.approx(0.5)


def test_scores_refuse_probabilities_as_predictions(labels):
    with pytest.raises(ValueError, match="y_pred must hold only 0 and 1"):
        hc.scores(labels, labels * 0.7)


def test_threshold_sweep_and_best_threshold(labels):
    y_prob = labels * 0.3 + 0.05  # the right answer needs a threshold in (0.05, 0.35]
    sweep = hc.threshold_sweep(labels, y_prob, grid=[0.02, 0.2, 0.5])
    assert list(sweep.columns) == list(hc.SCORES)
    np.testing.assert_allclose(sweep["exact_match"], [0.0, 1.0, 0.0])
    assert hc.best_threshold(labels, y_prob, grid=[0.02, 0.2, 0.5]) == pytest.approx(0.2)


def test_best_threshold_prefers_the_lowest_of_tied_thresholds(labels):
    assert hc.best_threshold(labels, labels * 0.9 + 0.05, grid=[0.3, 0.5, 0.7]) == pytest.approx(0.3)


def test_comparison_has_one_row_per_decoding(labels):
    table = hc.comparison(labels, {"right": labels, "nothing": np.zeros_like(labels)})
    assert list(table.index) == ["right", "nothing"]
    assert table.loc["nothing", "exact_match"] == 0.0
    assert table.loc["nothing", "per_label_accuracy"] == pytest.approx(1 - labels.mean())


@pytest.mark.parametrize("head", ["softmax", "sigmoid"])
def test_train_head_returns_a_model_with_that_head(head, tiny_budget):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 32, 128), dtype=np.uint8)
    labels = np.zeros((20, 10), np.uint8)
    labels[np.arange(20), rng.integers(0, 10, 20)] = 1
    network, history = hc.train_head(head, images, labels, budget=tiny_budget, verbose=0)
    probabilities = network.predict(images[:3], verbose=0)
    assert probabilities.shape == (3, 10)
    assert network.get_layer("predictions").activation.__name__ == head
    if head == "softmax":
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert len(history["loss"]) == len(history["seconds"]) == 1


def test_train_head_refuses_images_that_do_not_fit_the_labels(tiny_budget, labels):
    with pytest.raises(ValueError, match=r"images must be uint8 of shape \(N, 32, 128\) with N = len\(labels\) = 4; got uint8 \(3, 32, 128\)"):
        hc.train_head("sigmoid", np.zeros((3, 32, 128), np.uint8), labels, budget=tiny_budget)


@pytest.mark.parametrize(("field", "value"), [("epochs", 0), ("batch_size", 2.5), ("train_size", True)])
def test_budget_refuses_a_count_that_is_not_a_positive_integer(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a positive integer; got {value!r}"):
        hc.Budget(**{field: value})


def test_budget_refuses_a_learning_rate_of_zero():
    with pytest.raises(ValueError, match="learning_rate must be positive; got 0"):
        hc.Budget(learning_rate=0)


def test_threshold_curves_marks_the_chosen_thresholds(labels):
    y_prob = labels * 0.3 + 0.05
    sweep = hc.threshold_sweep(labels, y_prob, grid=[0.1, 0.2, 0.5])
    figure = plots.threshold_curves({"a": sweep, "b": sweep}, {"a": 0.2})
    assert isinstance(figure, Figure)
    assert len(figure.axes[0].lines) == 2 + 1 + 1  # two curves, one marker, the 0.5 line
    plt.close(figure)


def test_threshold_curves_refuses_an_unknown_score(labels):
    sweep = hc.threshold_sweep(labels, labels * 0.5, grid=[0.5])
    with pytest.raises(ValueError, match="has no column 'f2'"):
        plots.threshold_curves({"a": sweep}, {}, score="f2")


def test_head_probabilities_has_one_panel_per_model(labels):
    figure = plots.head_probabilities(np.zeros((32, 128), np.uint8), {"x": np.full(10, 0.1), "y": np.full(10, 0.5)}, labels[0])
    assert len(figure.axes) == 3
    plt.close(figure)
