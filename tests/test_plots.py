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
from helpers.composite import EMPTY
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


def test_label_statistics_gives_each_split_one_colour_in_both_panels(splits):
    labels = {name: splits[name].labels for name in ("train", "val", "test")}
    left, right = plots.label_statistics(labels).axes
    legend = left.get_legend()
    colour = {
        text.get_text(): handle.get_facecolor()
        for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)
    }
    assert list(colour) == list(labels)
    expected = {  # the bar height each split must have, per tick label of each panel
        left: {
            name: dict(
                zip("1234", np.bincount(y.sum(axis=1), minlength=5)[1:] / len(y), strict=True)
            )
            for name, y in labels.items()
        },
        right: {
            name: dict(zip(CLASS_NAMES, y.mean(axis=0), strict=True)) for name, y in labels.items()
        },
    }
    checked = 0
    for ax, heights in expected.items():
        ticks = [tick.get_text() for tick in ax.get_xticklabels()]
        for bar in ax.patches:
            tick = ticks[round(bar.get_x() + bar.get_width() / 2)]
            owners = [name for name in labels if np.isclose(heights[name][tick], bar.get_height())]
            if bar.get_height() > 0 and len(owners) == 1:  # a tie in height names no split
                assert bar.get_facecolor() == colour[owners[0]], (ax.get_title(), tick)
                checked += 1
    assert checked >= 35  # most of the 3 x 3 + 3 x 10 bars have a height only one split has


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
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == [
        "a",
        "b",
        "threshold 0.5",
    ]  # the 0.5 line is named in the legend, off the curves


def test_threshold_curves_refuses_an_unknown_score(labels):
    sweep = evaluation.threshold_sweep(labels, labels * 0.5, grid=[0.5])
    with pytest.raises(ValueError, match="has no column 'f2'"):
        plots.threshold_curves({"a": sweep}, {}, score="f2")


def test_head_probabilities_has_one_panel_per_model_under_the_boxed_composite(splits):
    test = splits["test"]
    figure = plots.head_probabilities(test, 3, {"x": np.full(10, 0.1), "y": np.full(10, 0.5)})
    top, *panels = figure.axes
    assert [ax.get_title() for ax in panels] == ["x", "y"]
    assert [text.get_text() for text in top.texts] == [CLASS_NAMES[c] for c in test.items[3]]
    assert len(top.patches) == len(test.items[3])  # one box per product


def test_head_probabilities_refuses_an_index_past_the_composites(splits):
    with pytest.raises(ValueError, match="index must be an integer from 0 to 999; got 1000"):
        plots.head_probabilities(splits["test"], 1000, {"x": np.full(10, 0.1)})


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
    assert loss_ax.get_title().startswith("Loss") and loss_ax.get_xlabel() == "epoch"
    assert loss_ax.get_yscale() == "log"
    assert [list(line.get_ydata()) for line in loss_ax.get_lines()] == [
        history["loss"],
        history["val_loss"],
    ]
    assert list(score_ax.get_lines()[2].get_ydata()) == history["val_exact_match"]
    assert list(score_ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert [text.get_text() for text in score_ax.get_legend().get_texts()][
        2
    ] == "exact match, validation"


def test_training_history_marks_the_best_validation_epoch():
    history = {"loss": [0.5, 0.3, 0.2], "val_loss": [0.45, 0.35, 0.3]}
    history["val_exact_match"] = [0.1, 0.6, 0.4]
    score_ax = plots.training_history(history).axes[1]
    marked = score_ax.get_lines()[-1]
    assert (list(marked.get_xdata()), list(marked.get_ydata())) == ([2], [0.6])
    assert [text.get_text() for text in score_ax.texts] == ["best validation exact match, epoch 2"]


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


def test_figure2_boxes_the_products_and_orders_the_maps_by_logit(splits):
    test = splits["test"]
    index = int(np.flatnonzero(test.labels.sum(axis=1) == 3)[0])
    first, second, missed = np.flatnonzero(test.labels[index])
    absent = np.flatnonzero(test.labels[index] == 0)
    logits = np.full(10, -8.0)
    logits[[first, second, missed, absent[0]]] = 20.0, 30.0, -1.0, 2.0  # 20 and 30: both p = 1
    maps = np.random.default_rng(0).random((32, 128, 10)).astype(np.float32)
    figure = plots.figure2(test, index, logits, maps, top_k=3)
    image_ax, *heat_axes, bars_ax, colour_bar = figure.axes
    assert [ax.get_title() for ax in heat_axes] == [
        f"(c) CAM of {CLASS_NAMES[second]}: logit 30.0, p = 1.00 (true, predicted)",
        f"(c) CAM of {CLASS_NAMES[first]}: logit 20.0, p = 1.00 (true, predicted)",
        f"(c) CAM of {CLASS_NAMES[absent[0]]}: logit 2.0, p = 0.88 (false alarm)",
    ]
    np.testing.assert_array_equal(heat_axes[2].images[1].get_array(), maps[..., absent[0]])
    np.testing.assert_array_equal(image_ax.images[0].get_array(), test.images[index])
    products = test.items[index][test.items[index] >= 0]
    assert len(image_ax.patches) == len(products)  # a box per product, named under it
    names = [tick.get_text() for tick in image_ax.get_xticklabels()]
    names += [tick.get_text() for tick in image_ax.get_xticklabels(minor=True)]
    assert sorted(names) == sorted(CLASS_NAMES[c] for c in products)
    figure.canvas.draw()
    for ax in heat_axes:  # the maps line up with the image above them
        np.testing.assert_allclose(ax.get_position().intervalx, image_ax.get_position().intervalx)
    colours = [bar.get_facecolor()[:3] for bar in bars_ax.containers[0]]
    assert colours[missed] == plots.OUTCOMES["true, missed"]
    assert colours[absent[0]] == plots.OUTCOMES["false alarm"]
    assert colours[absent[1]] == plots.OUTCOMES["correctly absent"]
    assert bars_ax.texts[missed].get_text() == "0.27"  # each bar's value
    assert [text.get_text() for text in bars_ax.get_legend().get_texts()] == [
        *plots.OUTCOMES,
        "threshold 0.5",
    ]
    assert colour_bar.get_xlabel() == "class activation"
    plt.close("all")


def test_figure2_refuses_logits_or_maps_of_another_shape(splits):
    with pytest.raises(
        ValueError,
        match=r"logits must have shape \(10,\) and maps \(32, 128, 10\); got \(9,\) and \(32, 128, 10\)",
    ):
        plots.figure2(splits["test"], 0, np.zeros(9), np.zeros((32, 128, 10)))
    with pytest.raises(ValueError, match="index must be an integer from 0 to 999; got 1000"):
        plots.figure2(splits["test"], 1000, np.zeros(10), np.zeros((32, 128, 10)))
    with pytest.raises(
        ValueError, match=r"scale must be two numbers \(low, high\) with low < high"
    ):
        plots.figure2(splits["test"], 0, np.zeros(10), np.zeros((32, 128, 10)), scale=(1, 0))


def test_figure2_draws_its_maps_on_the_scale_given_or_on_their_own_range(splits):
    maps = np.zeros((32, 128, 10), np.float32)
    maps[..., 0], maps[0, 0, 1] = 0.25, 0.75  # the two maps of highest logit: 0.25 to 0.75
    logits = np.linspace(5, -5, 10)
    for scale, limits in ((None, (0, 0.75)), ((0, 1), (0, 1))):
        figure = plots.figure2(splits["test"], 0, logits, maps, top_k=2, scale=scale)
        image_ax, *heat_axes, bars_ax, _ = figure.axes
        assert [ax.images[1].get_clim() for ax in heat_axes] == [limits] * 2
        assert bars_ax.get_title() == "(b) predicted probabilities, true labels in bold"
        plt.close(figure)


def test_each_label_has_one_outcome_at_the_threshold():
    assert plots.outcomes([0.9, 0.2, 0.7, 0.1], [1, 1, 0, 0], threshold=0.5) == [
        "true, predicted",
        "true, missed",
        "false alarm",
        "correctly absent",
    ]
    assert plots.outcomes([0.9, 0.2], [1, 1], threshold=0.1) == ["true, predicted"] * 2
    with pytest.raises(
        ValueError, match=r"true_labels must have the shape of probabilities \(3,\); got \(2,\)"
    ):
        plots.outcomes([0.9, 0.2, 0.7], [1, 1])


def test_ranking_by_logit_breaks_the_ties_of_probabilities_rounded_to_1():
    logits = np.array([23.6, 39.9, -5.2, -5.9, 22.5, -7.2, -4.7, 22.4, -7.2, -6.6], np.float32)
    probabilities = 1 / (1 + np.exp(-logits))  # float32, as the network gives them
    assert (probabilities[[0, 1, 4, 7]] == 1).all() and np.argmax(probabilities) == 0
    assert plots.ranking(logits)[:4].tolist() == [1, 0, 4, 7]
    with pytest.raises(ValueError, match=r"logits must have shape \(10,\); got \(9,\)"):
        plots.ranking(logits[:9])


def test_label_legend_names_each_colour_then_the_threshold_then_the_outline():
    _, ax = plt.subplots()
    legend = plots.label_legend(ax, {"a": "red", "b": "blue"}, 0.3, outline="before")
    assert [text.get_text() for text in legend.get_texts()] == ["a", "b", "threshold 0.3", "before"]
    assert legend.legend_handles[1].get_facecolor()[:3] == (0, 0, 1)
    assert not legend.legend_handles[-1].get_fill()
    plt.close("all")


def test_cam_steps_draws_the_maps_it_is_given(one_image):
    image, _, _, _ = one_image
    rng = np.random.default_rng(1)
    features, weights = rng.random((4, 16, 6)), rng.normal(size=(6, 10))
    small, upsampled = features @ weights[:, 8], rng.random((32, 128))
    figure = plots.cam_steps(image, features, weights, 8, small, upsampled, shown=4)
    assert figure.get_suptitle().startswith(
        "CAM of Bag. Top: the 4 of 6 feature maps with the largest"
    )
    feature_axes = figure.axes[:4]
    terms = features.mean(axis=(0, 1)) * weights[:, 8]
    strongest = int(np.argmax(np.abs(terms)))
    assert (
        feature_axes[0].get_title()
        == f"f{strongest}: weight {weights[strongest, 8]:+.2f}, term {terms[strongest]:+.1f}"
    )
    assert len({ax.images[0].get_clim() for ax in feature_axes}) == 1  # one scale
    assert any(ax.get_ylabel() == "feature value" for ax in figure.axes)
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
    legend = ax.get_legend()
    assert legend.texts[-1].get_text() == "" and not legend.legend_handles[-1].get_visible()
    plots.update_probability_bars(ax, after, truth, before)
    assert (
        legend.texts[-1].get_text() == "before covering" and legend.legend_handles[-1].get_visible()
    )
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


def test_bar_charts_share_one_colour_for_true_labels_and_say_so(splits):
    present = splits["test"].labels[0].astype(bool)
    figure = plots.head_probabilities(
        splits["test"], 0, {"a": np.full(10, 0.3), "b": np.full(10, 0.6)}
    )
    bars_ax = figure.axes[1]
    colours = [patch.get_facecolor()[:3] for patch in bars_ax.patches]
    expected = [tuple(plots.PRESENT) if t else tuple(plots.ABSENT) for t in present]
    assert colours == expected and 0 < present.sum() < 10
    assert [text.get_text() for text in bars_ax.get_legend().get_texts()] == [
        "true label",
        "not present",
        "threshold 0.5",
    ]
    truth = np.zeros(10, bool)
    truth[[1, 8]] = True
    _, ax = plt.subplots()
    plots.probability_bars(
        ax, np.where(truth, 0.9, 0.3), truth
    )  # true labels found, the rest absent
    assert ax.patches[8].get_facecolor()[:3] == tuple(plots.PRESENT) and ax.patches[
        0
    ].get_facecolor()[:3] == tuple(plots.ABSENT)


def test_method_grid_outlines_and_names_the_products_in_every_panel():
    images = np.zeros((2, 32, 128), np.uint8)
    maps = {"CAM": np.zeros((2, 32, 128)), "Grad-CAM": np.zeros((2, 32, 128))}
    items = np.array([[1, 8, EMPTY, 0], [3, 3, 9, 2]])
    boxes = np.tile(
        np.array([[2, 2, 30, 30], [34, 2, 62, 30], [-1] * 4, [98, 2, 126, 30]]), (2, 1, 1)
    )
    boxes[1, 2] = [66, 2, 94, 30]
    figure = plots.method_grid(images, maps, ["Trouser", "Dress"], items=items, boxes=boxes)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    names = [
        sorted(
            (tick, label.get_text())
            for minor in (False, True)
            for tick, label in zip(
                ax.get_xticks(minor=minor), ax.get_xticklabels(minor=minor), strict=True
            )
        )
        for ax in panels
    ]  # each name under its box, on two alternating lines
    assert names[0] == names[1] == [(15.5, "Trouser"), (47.5, "Bag"), (111.5, "T-shirt/top")]
    assert [name for _, name in names[2]] == ["Dress", "Dress", "Ankle boot", "Pullover"]
    assert [len(ax.patches) for ax in panels] == [3, 3, 4, 4]
    with pytest.raises(ValueError, match="items and boxes must be given together"):
        plots.method_grid(images, maps, ["Trouser", "Dress"], items=items)


def test_equivalence_scatter_draws_its_points_above_a_thin_dashed_line():
    rng = np.random.default_rng(0)
    values = rng.random((3, 4, 16))
    ax = plots.equivalence_scatter(values, values / 64, 64).axes[0]
    points, line = ax.collections[0], ax.lines[0]
    assert points.get_zorder() > line.get_zorder()
    assert line.get_linestyle() != "-" and line.get_linewidth() < 1


def test_box_test_legend_entries_all_show_on_the_legend_background():
    rng = np.random.default_rng(0)
    figure = plots.box_test(
        rng.integers(0, 256, (32, 128), dtype=np.uint8),
        rng.random((32, 128)),
        (1, 2, 30, 31),
        np.array([[0, 0, 28, 28]]),
    )
    for handle in figure.axes[0].get_legend().get_lines():
        white = matplotlib.colors.to_rgb(handle.get_color()) == (1, 1, 1)
        assert not white or handle.get_path_effects(), "a white entry needs an outline"


def test_score_bars_draw_the_intervals_they_are_given():
    overall = pd.DataFrame(
        [[0.9, 0.8, 0.7, 0.3], [0.5, 0.4, 0.3, 0.6]],
        index=["CAM", "random maps"],
        columns=list(localisation.SCORES),
    )
    intervals = (
        overall.stack()
        .rename("value")
        .to_frame()
        .assign(low=lambda t: t["value"] - 0.05, high=lambda t: t["value"] + 0.1)
    )
    figure = plots.score_bars(overall, intervals)
    ax = figure.axes[0]  # the pointing game
    (errorbars,) = [
        c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)
    ]
    segments = errorbars.lines[2][0].get_segments()
    np.testing.assert_allclose([(s[0][0], s[1][0]) for s in segments], [(0.85, 1.0), (0.45, 0.6)])
    with pytest.raises(ValueError, match="intervals must have low and high for every"):
        plots.score_bars(overall, intervals.drop(("CAM", "box_hit")))


def test_deletion_curves_tell_every_method_apart_by_marker_and_dashes():
    curves = pd.DataFrame(
        np.ones((11, 6)), index=np.linspace(0, 1, 11), columns=[f"m{i}" for i in range(6)]
    )  # six curves on top of one another
    figure = plots.deletion_curves(curves)
    lines = figure.axes[0].lines
    styles = {
        (line.get_marker(), str(line.get_linestyle()), line.get_markersize()) for line in lines
    }
    assert len({line.get_marker() for line in lines}) == 6 and len(styles) == 6
    figure.canvas.draw()  # the legend lies right of the axes, off every curve
    legend = figure.axes[0].get_legend().get_window_extent()
    assert legend.x0 > figure.axes[0].get_window_extent().x1
    plt.close(figure)


def test_per_class_scores_fit_the_notebook_width_with_readable_annotations():
    per_class = pd.concat(
        {
            score: pd.DataFrame(np.full((10, 6), 0.5), columns=[f"m{i}" for i in range(6)])
            for score in localisation.SCORES
        },
        axis=1,
    )
    figure = plots.per_class_scores(per_class)
    width = figure.get_size_inches()[0]
    sizes = {text.get_fontsize() for ax in figure.axes for text in ax.texts}
    assert width <= 10.5 and min(sizes) >= 8
    heatmaps = [ax for ax in figure.axes if ax.get_title()]
    ticks = [tick for ax in heatmaps for tick in ax.get_xticklabels() + ax.get_yticklabels()]
    assert min(tick.get_fontsize() for tick in ticks) >= 10
    shown = [[t.get_text() for t in ax.get_xticklabels() if t.get_visible()] for ax in heatmaps]
    assert [bool(names) for names in shown] == [False, False, True, True]  # named once, below
    plt.close(figure)


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
