"""Scores of class maps against the product boxes, each against a hand computation."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from helpers import cam, gradcam, localisation
from helpers.composite import EMPTY, compose
from helpers.model import build_gap_cnn


@pytest.fixture
def two_products():
    """One 8x16 canvas: a Trouser (class 1) in the left slot, a Bag (class 8) in the right one."""
    items = np.array([[1, 8]])
    boxes = np.array([[[0, 0, 8, 8], [8, 0, 16, 8]]])
    return items, boxes


def test_pointing_game_and_energy_share_by_hand(two_products):
    items, boxes = two_products
    maps = np.zeros((1, 8, 16, 10), np.float32)
    maps[0, 2, 3, 1] = 3.0  # Trouser map peaks inside the trouser: a hit, all energy inside
    maps[0, 2, 3, 8] = 1.0  # Bag map: 1 of its 4 units of positive mass lies outside the bag,
    maps[0, 5, 12, 8] = 3.0  # 3 inside, where its peak is
    maps[0, 0, 0, 8] = -5.0  # negative values do not count as energy
    scores = localisation.peak_and_energy_scores(maps, items, boxes)
    per_label = scores["per_label"].set_index("class")
    assert per_label.loc["Trouser", "pointing_game"] and per_label.loc[
        "Trouser", "energy_share"
    ] == pytest.approx(1.0)
    assert per_label.loc["Bag", "pointing_game"] and per_label.loc[
        "Bag", "energy_share"
    ] == pytest.approx(0.75)
    assert scores["overall"]["pointing_game"] == pytest.approx(1.0)


def test_pointing_game_miss(two_products):
    items, boxes = two_products
    maps = np.zeros((1, 8, 16, 10), np.float32)
    maps[0, 1, 12, 1] = 2.0  # Trouser map peaks on the bag
    maps[0, 1, 1, 1] = 1.0
    per_label = localisation.peak_and_energy_scores(maps, items, boxes)["per_label"].set_index(
        "class"
    )
    assert not per_label.loc["Trouser", "pointing_game"]
    assert per_label.loc["Trouser", "energy_share"] == pytest.approx(1 / 3)


def test_empty_slots_are_not_scored():
    items = np.array([[3, EMPTY]])
    boxes = np.array([[[0, 0, 8, 8], [EMPTY] * 4]])
    maps = np.random.default_rng(0).normal(size=(1, 8, 16, 10))
    assert len(localisation.peak_and_energy_scores(maps, items, boxes)["per_label"]) == 1


def test_bad_map_shape_is_refused(two_products):
    items, boxes = two_products
    with pytest.raises(ValueError, match=r"maps must have shape \(1, H, W, 10\); got \(1, 8, 16\)"):
        localisation.peak_and_energy_scores(np.zeros((1, 8, 16)), items, boxes)


@pytest.mark.parametrize("score", [localisation.peak_and_energy_scores, localisation.box_scores])
def test_maps_that_do_not_cover_the_boxes_are_refused(two_products, score):
    items, boxes = two_products  # boxes on an 8 x 16 canvas
    with pytest.raises(
        ValueError,
        match=r"maps must be at the canvas size of the boxes: maps of 4 x 8 pixels, "
        r"boxes reaching x = 16, y = 8; upsample",
    ):
        score(np.zeros((1, 4, 8, 10)), items, boxes)  # e.g. maps at a layer's resolution


# --- the box test -------------------------------------------------------------


def test_box_iou_by_hand():
    ious = localisation.box_iou([0, 0, 4, 4], np.array([[2, 2, 6, 6], [0, 0, 4, 4], [4, 0, 8, 4]]))
    np.testing.assert_allclose(ious, [4 / 28, 1.0, 0.0])


def test_largest_region_wins_over_the_highest_peak():
    heatmap = np.zeros((8, 16))
    heatmap[1, 1] = 1.0  # the peak, alone
    heatmap[2:6, 9:15] = 0.3  # a larger region above 20 % of the peak
    heatmap[7, 0] = 0.19  # below the threshold
    assert localisation.largest_region_box(heatmap) == (9, 2, 15, 6)
    assert localisation.largest_region_box(heatmap, threshold=0.5) == (1, 1, 2, 2)


def test_diagonal_neighbours_are_separate_regions():
    heatmap = np.zeros((4, 4))
    heatmap[0, 0] = heatmap[1, 1] = heatmap[2, 2] = 1.0
    heatmap[3, 0:2] = 1.0
    assert localisation.largest_region_box(heatmap) == (0, 3, 2, 4)


def test_map_without_positive_values_has_no_box():
    assert localisation.largest_region_box(np.zeros((4, 4))) is None
    assert localisation.largest_region_box(-np.ones((4, 4))) is None


def test_box_scores_by_hand(two_products):
    items, boxes = two_products
    maps = np.zeros((1, 8, 16, 10))
    maps[0, 1:7, 1:7, 1] = 1.0  # box (1, 1, 7, 7): IoU 36 / 64 with the trouser: a hit
    maps[0, :, 12:16, 8] = 1.0  # box (12, 0, 16, 8): IoU 32 / 64 = 0.5 exactly: a hit
    scores = localisation.box_scores(maps, items, boxes)
    per_label = scores["per_label"].set_index("class")
    assert (
        per_label.loc["Trouser", "iou"] == pytest.approx(36 / 64)
        and per_label.loc["Trouser", "box_hit"]
    )
    assert per_label.loc["Bag", "iou"] == pytest.approx(0.5) and per_label.loc["Bag", "box_hit"]
    assert tuple(per_label.loc["Bag", ["x0", "y0", "x1", "y1"]]) == (12, 0, 16, 8)
    assert scores["overall"]["box_hit"] == 1.0


def test_box_on_the_wrong_product_misses(two_products):
    items, boxes = two_products
    maps = np.zeros((1, 8, 16, 10))
    maps[0, 0:8, 4:12, 1] = 1.0  # half on the trouser, half on the bag: IoU 32 / 96
    maps[0, 0:8, 0:8, 8] = 1.0  # the Bag map covers the trouser exactly: IoU 0 with the bag
    per_label = localisation.box_scores(maps, items, boxes)["per_label"].set_index("class")
    assert (
        per_label.loc["Trouser", "iou"] == pytest.approx(1 / 3)
        and not per_label.loc["Trouser", "box_hit"]
    )
    assert per_label.loc["Bag", "iou"] == 0 and not per_label.loc["Bag", "box_hit"]


def test_box_scores_skip_empty_slots_and_count_an_empty_map_as_a_miss():
    items = np.array([[3, EMPTY]])
    boxes = np.array([[[0, 0, 8, 8], [EMPTY] * 4]])
    scores = localisation.box_scores(np.zeros((1, 8, 16, 10)), items, boxes)
    assert len(scores["per_label"]) == 1
    assert scores["per_label"]["iou"].iloc[0] == 0 and scores["per_label"]["x0"].iloc[0] == EMPTY


def test_box_scores_refuse_a_bad_map_shape(two_products):
    items, boxes = two_products
    with pytest.raises(ValueError, match=r"maps must have shape \(1, H, W, 10\); got \(1, 8, 16\)"):
        localisation.box_scores(np.zeros((1, 8, 16)), items, boxes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, r"threshold must be a number in \(0, 1\]; got 0"),
        ({"min_iou": 1.5}, r"min_iou must be a number in \(0, 1\]; got 1.5"),
    ],
)
def test_box_scores_refuse_a_threshold_outside_zero_one(two_products, kwargs, message):
    items, boxes = two_products
    with pytest.raises(ValueError, match=message):
        localisation.box_scores(np.zeros((1, 8, 16, 10)), items, boxes, **kwargs)


def test_items_and_boxes_that_do_not_fit_are_refused(two_products):
    items, boxes = two_products
    with pytest.raises(
        ValueError,
        match=r"items and boxes must have shapes \(N, S\) and \(N, S, 4\); got \(1, 2\) and \(1, 2\)",
    ):
        localisation.peak_and_energy_scores(np.zeros((1, 8, 16, 10)), items, boxes[..., 0])


# --- the deletion curve --------------------------------------------------------


def mean_model() -> keras.Model:
    """Canvas (4, 8): p_c = sigmoid(8 * mean pixel / 255 - 2) for every class."""
    inputs = keras.Input((4, 8))
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Reshape((4, 8, 1))(inputs))
    conv = keras.layers.Conv2D(1, 1, name="last_conv")
    dense = keras.layers.Dense(10, activation="sigmoid")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv(x))))
    conv.set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    dense.set_weights([np.full((1, 10), 8.0), np.full(10, -2.0)])
    return model


def test_deletion_curve_and_area_by_hand():
    image = np.arange(32, dtype=np.uint8).reshape(1, 4, 8) * 8  # 0, 8, ..., 248
    saliency = image[0].astype(float)  # brightest pixels first
    maps = np.repeat(saliency[None, :, :, None], 10, axis=-1)
    pairs = np.zeros((1, 10), bool)
    pairs[0, 4] = True
    scores = localisation.deletion_scores(mean_model(), image, maps, pairs, steps=4)
    flat = np.sort(image.ravel())[::-1].astype(float)
    means = [np.concatenate([np.zeros(k), flat[k:]]).mean() / 255 for k in (0, 8, 16, 24, 32)]
    expected = 1 / (1 + np.exp(-(8 * np.array(means) - 2)))
    np.testing.assert_allclose(scores["curves"].to_numpy()[0], expected, rtol=1e-5)
    assert list(scores["curves"].columns) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert scores["per_label"]["deletion_auc"].iloc[0] == pytest.approx(
        np.trapezoid(expected, dx=0.25), rel=1e-5
    )
    assert scores["per_label"]["class"].iloc[0] == "Coat" and scores["per_label"]["start"].iloc[
        0
    ] == pytest.approx(expected[0], rel=1e-5)


def test_a_map_on_what_matters_deletes_faster_than_its_reverse():
    image = np.random.default_rng(2).integers(0, 256, size=(1, 4, 8), dtype=np.uint8)
    pairs = np.ones((1, 10), bool)
    right = np.repeat(image[..., None].astype(float), 10, axis=-1)

    def area(maps):
        return localisation.deletion_scores(mean_model(), image, maps, pairs)["overall"][
            "deletion_auc"
        ]

    assert area(right) < area(-right)


def test_equal_saliency_is_deleted_in_a_fixed_random_order():
    order = localisation.deletion_order(np.zeros((4, 8)), seed=3)
    assert sorted(order) == list(range(32)) and list(order) != list(range(32))
    np.testing.assert_array_equal(order, localisation.deletion_order(np.zeros((4, 8)), seed=3))
    ranked = np.zeros((4, 8))
    ranked[2, 5], ranked[0, 1] = 2.0, 1.0
    assert list(localisation.deletion_order(ranked)[:2]) == [2 * 8 + 5, 1]


def test_deletion_refuses_mismatched_maps_and_pairs():
    image = np.zeros((2, 4, 8), np.uint8)
    with pytest.raises(ValueError, match=r"maps must have shape \(2, 4, 8, 10\); got \(2, 4, 8\)"):
        localisation.deletion_scores(
            mean_model(), image, np.zeros((2, 4, 8)), np.ones((2, 10), bool)
        )
    with pytest.raises(
        ValueError, match=r"pairs must be a bool array of shape \(2, 10\); got \(10,\)"
    ):
        localisation.deletion_scores(
            mean_model(), image, np.zeros((2, 4, 8, 10)), np.ones(10, bool)
        )


# --- all scores side by side ---------------------------------------------------


def test_compare_methods_gives_one_row_per_method_and_every_score(fashion_data):
    (_, _), (x_test, y_test) = fashion_data
    composites = compose(
        x_test, y_test, np.arange(200), 6, np.random.default_rng(0), source_split="test"
    )
    model = build_gap_cnn(((8,),), last_filters=8, top=())
    model.get_layer("predictions").bias.assign(
        np.full(10, 10.0)
    )  # every label found, so deletion has pairs to score
    maps = {
        "CAM": cam.class_activation_maps(model, composites.images, "per_map").maps,
        "Grad-CAM": gradcam.grad_cam(model, composites.images, "all").maps,
    }
    table = localisation.compare_methods(model, composites, maps, deletion_images=3, steps=4)
    assert list(table["overall"].index) == ["CAM", "Grad-CAM"]
    assert list(table["overall"].columns) == list(localisation.SCORES)
    assert table["per_class"].shape == (10, 8) and table["curves"].shape == (5, 2)
    assert set(table["per_label"]["method"]) == {"CAM", "Grad-CAM"}
    for (
        method,
        maps_of_method,
    ) in maps.items():  # the table's scores are those of each score's own function
        located = localisation.peak_and_energy_scores(
            maps_of_method, composites.items, composites.boxes
        )["overall"]
        boxed = localisation.box_scores(maps_of_method, composites.items, composites.boxes)[
            "overall"
        ]
        assert table["overall"].loc[method, "pointing_game"] == pytest.approx(
            located["pointing_game"]
        )
        assert table["overall"].loc[method, "energy_share"] == pytest.approx(
            located["energy_share"]
        )
        assert table["overall"].loc[method, "box_hit"] == pytest.approx(boxed["box_hit"])
        labels = table["per_label"][table["per_label"]["method"] == method]
        deleted = labels.dropna(subset=["deletion_auc"])  # NaN for the labels deletion leaves out
        assert 0 < deleted["image"].nunique() <= 3  # deletion_images
        assert deleted["deletion_auc"].mean() == pytest.approx(
            table["overall"].loc[method, "deletion_auc"]
        )


# --- bootstrap intervals ----------------------------------------------------------


def labels_of(method: str, image: list[int], **scores) -> pd.DataFrame:
    """A per_label table of one method: one row per label (classes 0, 1, ...), every score given or 0.5."""
    return pd.DataFrame(
        {
            "method": method,
            "image": image,
            "class": range(len(image)),
            **dict.fromkeys(localisation.SCORES, 0.5),
            **scores,
        }
    )


def test_bootstrap_draws_composites_with_all_their_labels():
    # composite 0 has three labels, all hits; composite 1 one label, a miss. Drawing
    # composites, a resample's mean is 1 (0 twice), 3/4 (each once) or 0 (1 twice).
    table = labels_of("CAM", [0, 0, 0, 1], pointing_game=[1.0, 1.0, 1.0, 0.0])
    intervals = localisation.bootstrap_intervals(table, resamples=2000)
    assert tuple(intervals.loc[("CAM", "pointing_game")]) == (0.75, 0.0, 1.0)


def test_bootstrap_intervals_leave_out_labels_without_a_score():
    table = labels_of("CAM", [0, 1, 2, 3], deletion_auc=[0.2, 0.4, np.nan, np.nan])
    intervals = localisation.bootstrap_intervals(table)
    assert intervals.loc[("CAM", "deletion_auc"), "value"] == pytest.approx(0.3)
    assert (
        0.2
        <= intervals.loc[("CAM", "deletion_auc"), "low"]
        <= 0.3
        <= intervals.loc[("CAM", "deletion_auc"), "high"]
        <= 0.4
    )


def test_bootstrap_differences_are_paired_on_the_same_draws():
    shares = np.random.default_rng(0).random(40)
    image = list(range(40))
    table = pd.concat(
        [
            labels_of("CAM", image, energy_share=shares),
            labels_of("same", image, energy_share=shares),
            labels_of("shifted", image, energy_share=shares + 0.1),
        ]
    )
    alone = localisation.bootstrap_intervals(table).xs("energy_share", level="score")
    paired = localisation.bootstrap_intervals(table, baseline="CAM").xs(
        "energy_share", level="score"
    )
    assert list(paired.index) == ["same", "shifted"]
    assert tuple(paired.loc["same"]) == (0, 0, 0)
    np.testing.assert_allclose(paired.loc["shifted"], 0.1)
    assert alone.loc["shifted", "high"] - alone.loc["shifted", "low"] > 0.1  # wide alone


def test_bootstrap_intervals_refuse_a_table_without_scores_or_an_unknown_baseline():
    table = labels_of("CAM", [0, 1])
    with pytest.raises(ValueError, match=r"it lacks \['box_hit'\]"):
        localisation.bootstrap_intervals(table.drop(columns="box_hit"))
    with pytest.raises(ValueError, match=r"baseline must be one of \('CAM',\); got 'Grad-CAM'"):
        localisation.bootstrap_intervals(table, baseline="Grad-CAM")


def test_bootstrap_intervals_refuse_a_score_without_any_value():
    table = labels_of("CAM", [0, 1], deletion_auc=[np.nan, np.nan])
    with pytest.raises(ValueError, match="per_label has no deletion_auc value to resample"):
        localisation.bootstrap_intervals(table)


def test_bootstrap_intervals_refuse_methods_that_score_different_labels():
    table = pd.concat(
        [labels_of("CAM", [0, 1, 2]), labels_of("Grad-CAM", [0, 1, 2], box_hit=[1, 0, np.nan])]
    )
    with pytest.raises(
        ValueError,
        match=r"every method must score the same \(image, class\) pairs for box_hit, .*"
        r"'Grad-CAM' scores 2 pairs, 'CAM' 3",
    ):
        localisation.bootstrap_intervals(table, baseline="CAM")
