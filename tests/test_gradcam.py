"""Grad-CAM against hand-computed gradients, its equivalence with CAM, and the extra scores."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import cam, gradcam
from helpers.composite import EMPTY, compose
from helpers.model import build_gap_cnn

CONV1_W = np.array([1.0, -1.5]).reshape(1, 1, 1, 2)  # 1 -> 2 maps
CONV1_B = np.array([0.0, 0.6])
LAST_W = np.array([[1.0, -2.0, 0.5], [-0.5, 1.0, 1.5]])  # 2 -> 3 maps
LAST_B = np.array([0.1, 0.0, -0.3])
DENSE_W = np.arange(30, dtype=float).reshape(3, 10) / 10 - 1.5
DENSE_B = np.linspace(-1, 1, 10)
HW = 4 * 8


def tiny_model(frozen: bool = False) -> keras.Model:
    """Canvas (4, 8) -> 1x1 conv `conv1` (ReLU) -> 1x1 conv `last_conv` (ReLU) -> GAP -> Dense(10, sigmoid)."""
    inputs = keras.Input((4, 8))
    x = keras.layers.Reshape((4, 8, 1))(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    conv1 = keras.layers.Conv2D(2, 1, activation="relu", name="conv1")
    last = keras.layers.Conv2D(3, 1, activation="relu", name="last_conv")
    dense = keras.layers.Dense(10, activation="sigmoid", name="predictions")
    outputs = dense(keras.layers.GlobalAveragePooling2D(name="gap")(last(conv1(x))))
    model = keras.Model(inputs, outputs)
    conv1.set_weights([CONV1_W, CONV1_B])
    last.set_weights([LAST_W.reshape(1, 1, 2, 3), LAST_B])
    dense.set_weights([DENSE_W, DENSE_B])
    model.trainable = not frozen
    return model


def by_hand(images: np.ndarray):
    """Feature maps of both convolutions and the pre-activation of `last_conv`, in numpy."""
    a1 = np.maximum(images[..., None] / 255 * CONV1_W.reshape(2) + CONV1_B, 0)  # (N, 4, 8, 2)
    pre2 = a1 @ LAST_W + LAST_B
    return a1, pre2, np.maximum(pre2, 0)


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(5, 4, 8), dtype=np.uint8)


def test_grad_cam_at_last_conv_equals_hand_gradient(images):
    _, _, a2 = by_hand(images)
    gradient = DENSE_W / HW  # dz_c / df_k(x, y), the same at every position
    expected = np.maximum(np.einsum("nhwk,kc->nhwc", a2, gradient), 0)
    result = gradcam.grad_cam(tiny_model(), images, "all", normalize="none", upsampled=False)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-6)


def test_grad_cam_at_an_earlier_layer_equals_hand_gradient(images):
    a1, pre2, _ = by_hand(images)
    # dz_c / da1_j(x, y) = sum_k W2[j, k] * [pre2_k(x, y) > 0] * w[k, c] / (h w)
    gradient = np.einsum("jk,nhwk,kc->nhwjc", LAST_W, (pre2 > 0).astype(float), DENSE_W) / HW
    alpha = gradient.mean(axis=(1, 2))  # (N, 2, 10)
    expected = np.maximum(np.einsum("nhwj,njc->nhwc", a1, alpha), 0)
    result = gradcam.grad_cam(tiny_model(), images, "all", layer="conv1", normalize="none", upsampled=False)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-6)


def test_grad_cam_plus_plus_equals_hand_formula(images):
    _, _, a2 = by_hand(images)
    g = DENSE_W / HW  # (3, 10), constant over space
    total = a2.sum(axis=(1, 2))[:, :, None]  # (N, 3, 1)
    denominator = 2 * g**2 + total * g**3
    alpha = np.divide(g**2, denominator, out=np.zeros_like(denominator), where=g != 0)
    weights = HW * alpha * np.maximum(g, 0)  # summed over the h*w equal positions
    expected = np.maximum(np.einsum("nhwk,nkc->nhwc", a2, weights), 0)
    result = gradcam.grad_cam(tiny_model(), images, "all", method="grad_cam_pp", normalize="none", upsampled=False)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-4, atol=1e-6)


def test_one_class_per_image_picks_that_class(images):
    model = tiny_model()
    classes = np.array([0, 3, 9, 3, 5])
    every = gradcam.grad_cam(model, images, "all", layer="conv1", normalize="none").maps
    one = gradcam.grad_cam(model, images, classes, layer="conv1", normalize="none").maps
    assert one.shape == (5, 4, 8)
    np.testing.assert_allclose(one, every[np.arange(5), :, :, classes], rtol=1e-5, atol=1e-7)


def test_frozen_layers_still_give_gradients(images):
    maps = gradcam.grad_cam(tiny_model(frozen=True), images, "all", layer="conv1", normalize="none").maps
    np.testing.assert_allclose(maps, gradcam.grad_cam(tiny_model(), images, "all", layer="conv1", normalize="none").maps)


def test_probabilities_equal_predict(images):
    model = tiny_model()
    result = gradcam.grad_cam(model, images, "all")
    np.testing.assert_allclose(result.probabilities, model.predict(images, verbose=0), rtol=1e-5)


def test_grad_cam_before_relu_is_cam_over_hw_on_a_gap_network():
    model = build_gap_cnn(((8,),), last_filters=8)
    images = np.random.default_rng(1).integers(0, 256, size=(3, 32, 128), dtype=np.uint8)
    cam_maps = cam.class_activation_maps(model, images, upsampled=False).maps
    signed = gradcam.grad_cam(model, images, "all", normalize="none", relu=False, upsampled=False).maps
    h, w = cam_maps.shape[1:3]
    np.testing.assert_allclose(signed * h * w, cam_maps, rtol=1e-4, atol=1e-5)
    published = gradcam.grad_cam(model, images, "all", normalize="none", upsampled=False).maps
    np.testing.assert_allclose(published * h * w, np.maximum(cam_maps, 0), rtol=1e-4, atol=1e-5)


def test_maps_are_canvas_sized_and_normalised(images):
    maps = gradcam.grad_cam(tiny_model(), images, "all", layer="conv1").maps
    assert maps.shape == (5, 4, 8, 10) and maps.dtype == np.float32
    peaks = maps.max(axis=(1, 2))
    assert np.all((np.isclose(peaks, 1, atol=1e-6)) | (peaks == 0)) and maps.min() >= 0


def test_feature_layers_lists_the_maps_of_a_gap_network():
    table = gradcam.feature_layers(build_gap_cnn(((8,),), last_filters=8, top=(8,), fold=4))
    assert table["layer"].iloc[-1] == "last_conv"
    assert "gap" not in set(table["layer"]) and "block1_conv1" in set(table["layer"])
    assert tuple(table.set_index("layer").loc["last_conv", ["height", "width", "maps"]]) == (4, 16, 8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": "nope"}, r"model has no layer named 'nope'; layers with 4-D feature maps: \['reshape.*'conv1', 'last_conv'\]"),
        ({"layer": "gap"}, r"layer 'gap' gives output of shape \(None, 3\); Grad-CAM needs a layer inside the network with 4-D feature maps"),
        ({"method": "score_cam"}, r"method must be one of \('grad_cam', 'grad_cam_pp'\); got 'score_cam'"),
        ({"normalize": "max"}, r"normalize must be one of \('none', 'per_map', 'per_image'\); got 'max'"),
        ({"classes": "every"}, r"classes must be 'all' or an integer array of shape \(5,\); got 'every'"),
        ({"classes": np.zeros((5, 2), int)}, r"classes must be 'all' or an integer array of shape \(5,\), one class per image; got int64 \(5, 2\)"),
        ({"classes": np.zeros(5)}, r"classes must be .* got float64 \(5,\)"),
        ({"classes": np.array([0, 1, 2, 10, 1])}, r"classes must be class ids from 0 to 9; got values from 0 to 10"),
        ({"batch_size": 0}, r"batch_size must be a positive integer; got 0"),
    ],
)
def test_bad_arguments_are_refused(images, kwargs, message):
    arguments = {"classes": "all", **kwargs}
    with pytest.raises(ValueError, match=message):
        gradcam.grad_cam(tiny_model(), images, **arguments)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 8), np.uint8), r"images must have shape \(N, 4, 8\) or \(N, 4, 8, 1\); got \(4, 8\)"),
        (np.zeros((2, 4, 8), np.float32), r"images must be uint8 canvases \(0-255\); got float32"),
    ],
)
def test_bad_images_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        gradcam.grad_cam(tiny_model(), bad, "all")


def test_model_without_dense_head_is_refused(images):
    inputs = keras.Input((4, 8))
    x = keras.layers.Conv2D(10, 1, name="last_conv")(keras.layers.Reshape((4, 8, 1))(inputs))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(ValueError, match=r"the model's last layer must be Dense\(10\); got GlobalAveragePooling2D"):
        gradcam.grad_cam(model, images, "all")


# --- the box test -------------------------------------------------------------


def test_box_iou_by_hand():
    ious = gradcam.box_iou([0, 0, 4, 4], np.array([[2, 2, 6, 6], [0, 0, 4, 4], [4, 0, 8, 4]]))
    np.testing.assert_allclose(ious, [4 / 28, 1.0, 0.0])


def test_largest_region_wins_over_the_highest_peak():
    heatmap = np.zeros((8, 16))
    heatmap[1, 1] = 1.0  # the peak, alone
    heatmap[2:6, 9:15] = 0.3  # a larger region above 20 % of the peak
    heatmap[7, 0] = 0.19  # below the threshold
    assert gradcam.largest_region_box(heatmap) == (9, 2, 15, 6)
    assert gradcam.largest_region_box(heatmap, threshold=0.5) == (1, 1, 2, 2)


def test_diagonal_neighbours_are_separate_regions():
    heatmap = np.zeros((4, 4))
    heatmap[0, 0] = heatmap[1, 1] = heatmap[2, 2] = 1.0
    heatmap[3, 0:2] = 1.0
    assert gradcam.largest_region_box(heatmap) == (0, 3, 2, 4)


def test_map_without_positive_values_has_no_box():
    assert gradcam.largest_region_box(np.zeros((4, 4))) is None
    assert gradcam.largest_region_box(-np.ones((4, 4))) is None


@pytest.fixture
def two_products():
    """One 8x16 canvas: a Trouser (class 1) in the left slot, a Bag (class 8) in the right one."""
    return np.array([[1, 8]]), np.array([[[0, 0, 8, 8], [8, 0, 16, 8]]])


def test_box_scores_by_hand(two_products):
    items, boxes = two_products
    maps = np.zeros((1, 8, 16, 10))
    maps[0, 1:7, 1:7, 1] = 1.0  # box (1, 1, 7, 7): IoU 36 / 64 with the trouser: a hit
    maps[0, :, 12:16, 8] = 1.0  # box (12, 0, 16, 8): IoU 32 / 64 = 0.5 exactly: a hit
    scores = gradcam.box_scores(maps, items, boxes)
    per_label = scores["per_label"].set_index("class")
    assert per_label.loc["Trouser", "iou"] == pytest.approx(36 / 64) and per_label.loc["Trouser", "box_hit"]
    assert per_label.loc["Bag", "iou"] == pytest.approx(0.5) and per_label.loc["Bag", "box_hit"]
    assert tuple(per_label.loc["Bag", ["x0", "y0", "x1", "y1"]]) == (12, 0, 16, 8)
    assert scores["overall"]["box_hit"] == 1.0


def test_box_on_the_wrong_product_misses(two_products):
    items, boxes = two_products
    maps = np.zeros((1, 8, 16, 10))
    maps[0, 0:8, 4:12, 1] = 1.0  # half on the trouser, half on the bag: IoU 32 / 96
    maps[0, 0:8, 0:8, 8] = 1.0  # the Bag map covers the trouser exactly: IoU 0 with the bag
    per_label = gradcam.box_scores(maps, items, boxes)["per_label"].set_index("class")
    assert per_label.loc["Trouser", "iou"] == pytest.approx(1 / 3) and not per_label.loc["Trouser", "box_hit"]
    assert per_label.loc["Bag", "iou"] == 0 and not per_label.loc["Bag", "box_hit"]


def test_box_scores_skip_empty_slots_and_count_an_empty_map_as_a_miss():
    items = np.array([[3, EMPTY]])
    boxes = np.array([[[0, 0, 8, 8], [EMPTY] * 4]])
    scores = gradcam.box_scores(np.zeros((1, 8, 16, 10)), items, boxes)
    assert len(scores["per_label"]) == 1
    assert scores["per_label"]["iou"].iloc[0] == 0 and scores["per_label"]["x0"].iloc[0] == EMPTY


def test_box_scores_refuse_a_bad_map_shape(two_products):
    items, boxes = two_products
    with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W, 10\) with N = 1; got \(1, 8, 16\)"):
        gradcam.box_scores(np.zeros((1, 8, 16)), items, boxes)


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
    scores = gradcam.deletion_scores(mean_model(), image, maps, pairs, steps=4)
    flat = np.sort(image.ravel())[::-1].astype(float)
    means = [np.concatenate([np.zeros(k), flat[k:]]).mean() / 255 for k in (0, 8, 16, 24, 32)]
    expected = 1 / (1 + np.exp(-(8 * np.array(means) - 2)))
    np.testing.assert_allclose(scores["curves"].to_numpy()[0], expected, rtol=1e-5)
    assert list(scores["curves"].columns) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert scores["per_label"]["deletion_auc"].iloc[0] == pytest.approx(np.trapezoid(expected, dx=0.25), rel=1e-5)
    assert scores["per_label"]["class"].iloc[0] == "Coat" and scores["per_label"]["start"].iloc[0] == pytest.approx(expected[0], rel=1e-5)


def test_a_map_on_what_matters_deletes_faster_than_its_reverse():
    image = np.random.default_rng(2).integers(0, 256, size=(1, 4, 8), dtype=np.uint8)
    pairs = np.ones((1, 10), bool)
    right = np.repeat(image[..., None].astype(float), 10, axis=-1)
    area = lambda maps: gradcam.deletion_scores(mean_model(), image, maps, pairs)["overall"]["deletion_auc"]  # noqa: E731
    assert area(right) < area(-right)


def test_equal_saliency_is_deleted_in_a_fixed_random_order():
    order = gradcam.deletion_order(np.zeros((4, 8)), seed=3)
    assert sorted(order) == list(range(32)) and list(order) != list(range(32))
    np.testing.assert_array_equal(order, gradcam.deletion_order(np.zeros((4, 8)), seed=3))
    ranked = np.zeros((4, 8))
    ranked[2, 5], ranked[0, 1] = 2.0, 1.0
    assert list(gradcam.deletion_order(ranked)[:2]) == [2 * 8 + 5, 1]


def test_deletion_refuses_mismatched_maps_and_pairs():
    image = np.zeros((2, 4, 8), np.uint8)
    with pytest.raises(ValueError, match=r"maps must have shape \(2, 4, 8, 10\); got \(2, 4, 8\)"):
        gradcam.deletion_scores(mean_model(), image, np.zeros((2, 4, 8)), np.ones((2, 10), bool))
    with pytest.raises(ValueError, match=r"pairs must be a bool array of shape \(2, 10\); got \(10,\)"):
        gradcam.deletion_scores(mean_model(), image, np.zeros((2, 4, 8, 10)), np.ones(10, bool))


# --- all scores side by side ---------------------------------------------------


def test_compare_methods_gives_one_row_per_method_and_every_score(fashion_data):
    (_, _), (x_test, y_test) = fashion_data
    composites = compose(x_test, y_test, np.arange(200), 6, np.random.default_rng(0), source_split="test")
    model = build_gap_cnn(((8,),), last_filters=8, top=())
    model.get_layer("predictions").bias.assign(np.full(10, 10.0))  # every label found, so deletion has pairs to score
    maps = {
        "CAM": cam.class_activation_maps(model, composites.images, "per_map").maps,
        "Grad-CAM": gradcam.grad_cam(model, composites.images, "all").maps,
    }
    table = gradcam.compare_methods(model, composites, maps, deletion_images=3, steps=4)
    assert list(table["overall"].index) == ["CAM", "Grad-CAM"]
    assert list(table["overall"].columns) == list(gradcam.SCORES)
    assert table["per_class"].shape == (10, 8) and table["curves"].shape == (5, 2)
    assert table["overall"].to_numpy().min() >= 0 and table["overall"].drop(columns="deletion_auc").to_numpy().max() <= 1
    assert set(table["per_label"]["method"]) == {"CAM", "Grad-CAM"}


def test_a_layer_bypassed_by_a_skip_connection_still_works(images):
    """The network cannot be cut at `conv_b` (the sum also reads `skip`): the slower whole-network pass gives the same maps."""
    inputs = keras.Input((4, 8))
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Reshape((4, 8, 1))(inputs))
    conv_a, conv_b, skip = (keras.layers.Conv2D(2, 1, name=name) for name in ("conv_a", "conv_b", "skip"))
    summed = keras.layers.Add(name="add")([conv_b(conv_a(x)), skip(x)])
    dense = keras.layers.Dense(10, activation="sigmoid")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(summed)))
    conv_a.set_weights([np.array([1.0, -1.0]).reshape(1, 1, 1, 2), np.array([0.0, 1.0])])
    conv_b.set_weights([np.array([[1.0, 0.5], [-0.5, 2.0]]).reshape(1, 1, 2, 2), np.array([0.1, -0.2])])
    skip.set_weights([np.array([0.3, -0.7]).reshape(1, 1, 1, 2), np.zeros(2)])
    dense.set_weights([DENSE_W[:2], DENSE_B])
    x = images[..., None] / 255
    b = (x * [1.0, -1.0] + [0.0, 1.0]) @ np.array([[1.0, 0.5], [-0.5, 2.0]]) + [0.1, -0.2]
    expected = np.maximum(np.einsum("nhwk,kc->nhwc", b, DENSE_W[:2] / HW), 0)
    result = gradcam.grad_cam(model, images, "all", layer="conv_b", normalize="none", upsampled=False)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-6)
    assert gradcam.grad_cam(model, images, "all", layer="add").maps.shape == (5, 4, 8, 10)


# --- the notebook 05 figures ---------------------------------------------------


def test_notebook_05_figures_are_returned_and_check_their_input():
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.figure import Figure

    from helpers import plots

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 32, 128), dtype=np.uint8)
    maps = {"CAM": rng.random((2, 32, 128)), "Grad-CAM": rng.random((2, 32, 128))}
    overall = pd.DataFrame(rng.random((2, 4)), index=["CAM", "Grad-CAM"], columns=list(gradcam.SCORES))
    per_class = pd.concat({score: pd.DataFrame(rng.random((10, 2)), columns=["CAM", "Grad-CAM"]) for score in gradcam.SCORES}, axis=1)
    curves = pd.DataFrame(rng.random((11, 2)), index=np.linspace(0, 1, 11), columns=["CAM", "Grad-CAM"])
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
    with pytest.raises(ValueError, match=r"maps\['CAM'\] must have shape \(2, 32, 128\); got \(2, 32, 64\)"):
        plots.method_grid(images, {"CAM": rng.random((2, 32, 64))}, ["Bag", "Coat"])
    plt.close("all")
