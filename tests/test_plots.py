"""The figures: each takes the data it is given and draws it with the right axes and titles."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from helpers import evaluation, localisation, plots
from helpers.fashion import CLASS_NAMES


@pytest.fixture(autouse=True)
def close_figures():
    yield


# --- notebook 01 ------------------------------------------------------------------


def test_class_grid_has_one_row_per_class_in_class_order(fashion_data):
    (x, y), _ = fashion_data
    figure = plots.class_grid(x, y, per_class=3)
    assert len(figure.axes) == 30
    assert [figure.axes[3 * c].get_ylabel() for c in range(10)] == list(CLASS_NAMES)
    np.testing.assert_array_equal(
        figure.axes[3].images[0].get_array(), x[np.flatnonzero(y == 1)[0]]
    )


def test_composite_with_boxes_names_and_outlines_each_product(splits):
    ax = plots.composite_with_boxes(splits["test"], 0)
    items = splits["test"].items[0]
    assert [text.get_text() for text in ax.texts] == [CLASS_NAMES[c] for c in items]
    x0, y0, x1, y1 = splits["test"].boxes[0, 0]
    assert ax.patches[0].get_xy() == (x0 - 0.5, y0 - 0.5) and ax.patches[0].get_width() == x1 - x0


def test_composite_grid_titles_each_composite_with_its_label_set(splits):
    figure = plots.composite_grid(splits["train"], [0, 5, 7], columns=2)
    labels = splits["train"].labels[5]
    assert figure.axes[1].get_title() == "#5: " + ", ".join(
        CLASS_NAMES[c] for c in np.flatnonzero(labels)
    )
    assert not figure.axes[3].axison  # the fourth panel of the 2 x 2 grid stays empty


def test_label_statistics_plots_each_split_it_is_given(splits):
    figure = plots.label_statistics(
        {"train": splits["train"].labels, "test": splits["test"].labels}
    )
    left, right = figure.axes
    assert [text.get_text() for text in left.get_legend().get_texts()] == ["train", "test"]
    assert [tick.get_text() for tick in right.get_xticklabels()] == list(CLASS_NAMES)


# --- notebook 02 ------------------------------------------------------------------


def test_activation_comparison_draws_three_panels_per_row():
    z = np.array([np.linspace(-2, 2, 10), np.zeros(10)])
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    sigmoid = 1 / (1 + np.exp(-z))
    figure = plots.activation_comparison(z, softmax, sigmoid, ["a", "b"], positives=z > 1)
    assert len(figure.axes) == 6
    first = figure.axes[0]
    assert first.patches[9].get_facecolor()[:3] == tuple(plots.PRESENT) and first.patches[
        0
    ].get_facecolor()[:3] == tuple(plots.ABSENT)
    assert [text.get_text() for text in figure.axes[3].get_legend().get_texts()] == [
        "a label the logits speak for",
        "the other labels",
    ]


def test_activation_comparison_refuses_one_title_too_few():
    z = np.zeros((2, 10))
    with pytest.raises(ValueError, match=r"row_titles must have one title per row \(2\); got 1"):
        plots.activation_comparison(z, z, z, ["a"])


def _two_label_sweep() -> pd.DataFrame:
    """One label's logit swept against a second present label's logit of 0 (targets 1/2 each)."""
    logit = np.linspace(-5, 5, 11)
    share = 1 / (1 + np.exp(-logit))  # its softmax share against the other label
    return pd.DataFrame(
        {
            "logit": logit,
            "binary cross-entropy": np.log1p(np.exp(-logit)) + np.log(2),
            "categorical cross-entropy": -(np.log(share) + np.log(1 - share)) / 2,
            "binary gradient": share - 1,
            "categorical gradient": share - 0.5,
        }
    )


def test_loss_and_gradient_draws_both_losses():
    figure = plots.loss_and_gradient(_two_label_sweep(), "Trouser")
    # left: the two losses; right: the two gradients and the zero line
    assert [len(ax.get_lines()) for ax in figure.axes] == [2, 3]


def test_loss_and_gradient_refuses_a_sweep_without_its_columns():
    sweep = _two_label_sweep().drop(columns=["binary gradient"])
    with pytest.raises(ValueError, match=r"sweep lacks the columns \['binary gradient'\]"):
        plots.loss_and_gradient(sweep, "Trouser")


def test_threshold_curves_marks_the_chosen_thresholds(labels):
    y_prob = labels * 0.3 + 0.05
    sweep = evaluation.threshold_sweep(labels, y_prob, grid=[0.1, 0.2, 0.5])
    figure = plots.threshold_curves({"a": sweep, "b": sweep}, {"a": 0.2})
    assert isinstance(figure, Figure)
    assert len(figure.axes[0].lines) == 2 + 1 + 1  # two curves, one marker, the 0.5 line


def test_threshold_curves_refuses_an_unknown_score(labels):
    sweep = evaluation.threshold_sweep(labels, labels * 0.5, grid=[0.5])
    with pytest.raises(ValueError, match="has no column 'f2'"):
        plots.threshold_curves({"a": sweep}, {}, score="f2")


def test_head_probabilities_has_one_panel_per_model(labels):
    figure = plots.head_probabilities(
        np.zeros((32, 128), np.uint8), {"x": np.full(10, 0.1), "y": np.full(10, 0.5)}, labels[0]
    )
    assert len(figure.axes) == 3


# --- notebook 03 ------------------------------------------------------------------


def test_training_history_draws_the_history_it_is_given():
    history = {
        "loss": [0.5, 0.3, 0.2],
        "val_loss": [0.45, 0.35, 0.3],
        "per_label_accuracy": [0.8, 0.9, 0.95],
        "val_per_label_accuracy": [0.82, 0.9, 0.93],
        "val_exact_match": [0.1, 0.4, 0.6],
    }
    figure = plots.training_history(history)
    loss_ax, score_ax = figure.axes
    assert loss_ax.get_title() == "Loss" and loss_ax.get_xlabel() == "epoch"
    assert [list(line.get_ydata()) for line in loss_ax.get_lines()] == [
        history["loss"],
        history["val_loss"],
    ]
    assert list(score_ax.get_lines()[2].get_ydata()) == history["val_exact_match"]
    assert list(score_ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert [text.get_text() for text in score_ax.get_legend().get_texts()][
        2
    ] == "exact match, validation"


def test_training_history_draws_only_the_scores_a_softmax_head_logs():
    history = {
        "loss": [1.9, 1.8],
        "val_loss": [1.95, 1.9],
        "val_per_label_accuracy": [0.67, 0.68],
        "val_exact_match": [0.0, 0.0],
    }
    figure = plots.training_history(history, title="softmax head")
    _, score_ax = figure.axes
    assert [text.get_text() for text in score_ax.get_legend().get_texts()] == [
        "per-label accuracy, validation",
        "exact match, validation",
    ]
    assert figure.get_suptitle() == "softmax head"


def test_training_history_names_the_losses_it_needs():
    with pytest.raises(ValueError, match="'val_loss'"):
        plots.training_history({"loss": [0.5]})


def test_mistaken_for_draws_the_pairs_and_names_how_often_each_class_is_missed():
    y_true, y_pred = np.zeros((2, 10), int), np.zeros((2, 10), int)
    y_true[:, 6], y_pred[:, 0] = 1, 1
    figure = plots.mistaken_for(evaluation.mistaken_for(y_true, y_pred))
    ax = figure.axes[0]
    assert [text.get_text() for text in ax.texts] == ["2"]  # only the one non-zero pair is written
    assert ax.get_yticklabels()[6].get_text() == "Shirt (2 missed)"
    with pytest.raises(ValueError, match="10 x 10 counts"):
        plots.mistaken_for(pd.DataFrame({"missed": [1]}))


def test_per_class_heatmap_shows_four_scores_per_class():
    per_class = pd.DataFrame(
        np.full((10, 5), 0.8),
        index=list(CLASS_NAMES),
        columns=["precision", "recall", "f1", "average_precision", "support"],
    )
    figure = plots.per_class_heatmap(per_class)
    ax = figure.axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == [
        "precision",
        "recall",
        "f1",
        "average_precision",
    ]
    assert len(ax.texts) == 40 and ax.texts[0].get_text() == "0.80"


# --- notebook 04 ------------------------------------------------------------------


@pytest.fixture
def one_image():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(32, 128), dtype=np.uint8)
    probabilities = np.linspace(0.05, 0.95, 10)
    maps = rng.random((32, 128, 10)).astype(np.float32)
    labels = np.zeros(10, np.uint8)
    labels[[9, 7, 1]] = 1
    return image, probabilities, maps, labels


def test_figure2_shows_the_image_the_bars_and_the_maps_of_the_top_labels(one_image):
    image, probabilities, maps, labels = one_image
    figure = plots.figure2(image, probabilities, maps, labels, top_k=3)
    image_ax, bars_ax, *heat_axes, colour_bar = figure.axes
    assert len(heat_axes) == 3
    np.testing.assert_array_equal(image_ax.images[0].get_array(), image)
    assert image_ax.get_title() == "(a) the image; true labels: Trouser, Sneaker, Ankle boot"
    assert bars_ax.get_title() == "(b) predicted probabilities"
    np.testing.assert_allclose([bar.get_width() for bar in bars_ax.patches[:10]], probabilities)
    titles = [ax.get_title() for ax in heat_axes]
    assert titles == [
        "(c) CAM of Ankle boot: p = 0.95 (true label)",
        "(c) CAM of Bag: p = 0.85 (not present)",
        "(c) CAM of Sneaker: p = 0.75 (true label)",
    ]
    np.testing.assert_array_equal(heat_axes[1].images[1].get_array(), maps[..., 8])
    assert colour_bar.get_ylabel() == "class activation"
    relabelled = plots.figure2(
        image, probabilities, maps, labels, top_k=3, colorbar_label="activation, scaled per image"
    )
    assert relabelled.axes[-1].get_ylabel() == "activation, scaled per image"


def test_cam_steps_draws_the_maps_it_is_given(one_image):
    image, _, _, _ = one_image
    rng = np.random.default_rng(1)
    features, weights = rng.random((4, 16, 6)), rng.normal(size=(6, 10))
    small, upsampled = features @ weights[:, 8], rng.random((32, 128))
    figure = plots.cam_steps(image, features, weights, 8, small, upsampled, shown=4)
    assert figure.get_suptitle().startswith("CAM of Bag")
    feature_axes = figure.axes[:4]
    strongest = int(np.argmax(np.abs(features.mean(axis=(0, 1)) * weights[:, 8])))
    assert feature_axes[0].get_title() == f"map f{strongest}, weight {weights[strongest, 8]:+.2f}"
    sum_ax = next(
        ax for ax in figure.axes if ax.get_title().startswith("sum over all 6 maps: 4x16")
    )
    np.testing.assert_allclose(sum_ax.images[0].get_array(), small)
    upsampled_ax = next(
        ax for ax in figure.axes if ax.get_title().startswith("upsampled to 32x128")
    )
    np.testing.assert_allclose(upsampled_ax.images[1].get_array(), upsampled)


def test_cam_steps_refuses_maps_of_another_size(one_image):
    image = one_image[0]
    features, weights = np.zeros((4, 16, 6)), np.zeros((6, 10))
    with pytest.raises(
        ValueError,
        match=r"small must have shape \(4, 16\) and upsampled \(32, 128\); got \(4, 16\) and \(4, 16\)",
    ):
        plots.cam_steps(image, features, weights, 0, np.zeros((4, 16)), np.zeros((4, 16)))


def test_probability_bars_mark_the_true_labels_and_the_threshold():
    figure, ax = plt.subplots()
    truth = np.zeros(10, bool)
    truth[3] = True
    plots.probability_bars(ax, np.full(10, 0.2), truth, threshold=0.4)
    assert [tick.get_fontweight() for tick in ax.get_yticklabels()].count("bold") == 1
    assert ax.get_yticklabels()[3].get_text() == CLASS_NAMES[3]
    assert ax.get_lines()[0].get_xdata()[0] == 0.4


def test_bars_drawn_with_before_show_both_values_and_update_in_place():
    figure, ax = plt.subplots()
    truth = np.zeros(10, bool)
    truth[2] = True
    before, after = np.full(10, 0.8), np.linspace(0, 0.9, 10)
    plots.probability_bars(ax, after, truth, before=before)
    assert (
        ax.containers[1][4].get_width() == 0.8
        and ax.texts[4].get_text() == f"0.80 \u2192 {after[4]:.2f}"
    )
    truth[2], truth[5] = False, True
    plots.update_probability_bars(ax, before, truth)  # no before: the values alone, no outlines
    assert (
        ax.containers[0][4].get_width() == 0.8
        and ax.containers[1][4].get_width() == 0
        and ax.texts[4].get_text() == "0.80"
    )
    assert [tick.get_fontweight() for tick in ax.get_yticklabels()].index("bold") == 5
    assert ax.get_legend().texts[0].get_text() == "true label"
    _, plain = plt.subplots()
    plots.probability_bars(plain, after, truth)
    with pytest.raises(ValueError, match="before needs bars drawn with before"):
        plots.update_probability_bars(plain, after, truth, before)
    plt.close("all")


# --- notebook 05 ------------------------------------------------------------------


def test_every_localisation_score_has_a_title():
    assert set(plots.SCORE_TITLES) == set(localisation.SCORES)


def test_per_class_scores_gives_every_heatmap_its_colour_bar():
    per_class = pd.concat(
        {
            score: pd.DataFrame(np.full((10, 2), 0.5), columns=["CAM", "Grad-CAM"])
            for score in localisation.SCORES
        },
        axis=1,
    )
    figure = plots.per_class_scores(per_class)
    bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == len(localisation.SCORES)
    assert bars[-1].get_ylabel() == "AUC (bright = low)"


def test_bar_charts_share_one_colour_for_true_labels_and_say_so():
    truth = np.zeros(10, bool)
    truth[[1, 8]] = True
    figure = plots.head_probabilities(
        np.zeros((32, 128), np.uint8), {"a": np.full(10, 0.3), "b": np.full(10, 0.6)}, truth
    )
    bars_ax = figure.axes[1]
    colours = [patch.get_facecolor()[:3] for patch in bars_ax.patches]
    assert colours[1] == colours[8] == tuple(plots.PRESENT) and colours[0] == tuple(plots.ABSENT)
    assert [text.get_text() for text in bars_ax.get_legend().get_texts()] == [
        "true label",
        "not present",
        "threshold 0.5",
    ]
    _, ax = plt.subplots()
    plots.probability_bars(ax, np.full(10, 0.3), truth)
    assert ax.patches[8].get_facecolor()[:3] == tuple(plots.PRESENT) and ax.patches[
        0
    ].get_facecolor()[:3] == tuple(plots.ABSENT)


def test_notebook_05_figures_are_returned_and_check_their_input():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 32, 128), dtype=np.uint8)
    maps = {"CAM": rng.random((2, 32, 128)), "Grad-CAM": rng.random((2, 32, 128))}
    overall = pd.DataFrame(
        rng.random((2, 4)), index=["CAM", "Grad-CAM"], columns=list(localisation.SCORES)
    )
    per_class = pd.concat(
        {
            score: pd.DataFrame(rng.random((10, 2)), columns=["CAM", "Grad-CAM"])
            for score in localisation.SCORES
        },
        axis=1,
    )
    curves = pd.DataFrame(
        rng.random((11, 2)), index=np.linspace(0, 1, 11), columns=["CAM", "Grad-CAM"]
    )
    figures = [
        plots.equivalence_scatter(rng.normal(size=(3, 4, 16)), rng.normal(size=(3, 4, 16)), 64),
        plots.method_grid(images, maps, ["Bag", "Coat"]),
        plots.box_test(images[0], maps["CAM"][0], (1, 2, 30, 31), np.array([[0, 0, 28, 28]])),
        plots.score_bars(overall),
        plots.per_class_scores(per_class),
        plots.deletion_curves(curves),
    ]
    assert all(isinstance(figure, Figure) for figure in figures)
    with pytest.raises(ValueError, match=r"row_titles must have one title per image \(2\); got 1"):
        plots.method_grid(images, maps, ["Bag"])
    with pytest.raises(
        ValueError, match=r"maps\['CAM'\] must have shape \(2, 32, 128\); got \(2, 32, 64\)"
    ):
        plots.method_grid(images, {"CAM": rng.random((2, 32, 64))}, ["Bag", "Coat"])
