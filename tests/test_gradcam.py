"""Grad-CAM against hand-computed gradients, and its equivalence with CAM."""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest

from helpers import cam, gradcam
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
    result = gradcam.grad_cam(
        tiny_model(), images, "all", layer="conv1", normalize="none", upsampled=False
    )
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-6)


def test_grad_cam_plus_plus_equals_hand_formula(images):
    _, _, a2 = by_hand(images)
    g = DENSE_W / HW  # (3, 10), constant over space
    total = a2.sum(axis=(1, 2))[:, :, None]  # (N, 3, 1)
    denominator = 2 * g**2 + total * g**3
    alpha = np.divide(g**2, denominator, out=np.zeros_like(denominator), where=g != 0)
    weights = HW * alpha * np.maximum(g, 0)  # summed over the h*w equal positions
    expected = np.maximum(np.einsum("nhwk,nkc->nhwc", a2, weights), 0)
    result = gradcam.grad_cam(
        tiny_model(), images, "all", method="grad_cam_pp", normalize="none", upsampled=False
    )
    np.testing.assert_allclose(result.maps, expected, rtol=1e-4, atol=1e-6)


def test_one_class_per_image_picks_that_class(images):
    model = tiny_model()
    classes = np.array([0, 3, 9, 3, 5])
    every = gradcam.grad_cam(model, images, "all", layer="conv1", normalize="none").maps
    one = gradcam.grad_cam(model, images, classes, layer="conv1", normalize="none").maps
    assert one.shape == (5, 4, 8)
    np.testing.assert_allclose(one, every[np.arange(5), :, :, classes], rtol=1e-5, atol=1e-7)


def test_frozen_layers_still_give_gradients(images):
    maps = gradcam.grad_cam(
        tiny_model(frozen=True), images, "all", layer="conv1", normalize="none"
    ).maps
    np.testing.assert_allclose(
        maps, gradcam.grad_cam(tiny_model(), images, "all", layer="conv1", normalize="none").maps
    )


def test_probabilities_equal_predict(images):
    model = tiny_model()
    result = gradcam.grad_cam(model, images, "all")
    np.testing.assert_allclose(result.probabilities, model.predict(images, verbose=0), rtol=1e-5)


def test_grad_cam_before_relu_is_cam_over_hw_on_a_gap_network():
    model = build_gap_cnn(((8,),), last_filters=8)
    images = np.random.default_rng(1).integers(0, 256, size=(3, 32, 128), dtype=np.uint8)
    cam_maps = cam.class_activation_maps(model, images, upsampled=False).maps
    signed = gradcam.grad_cam(
        model, images, "all", normalize="none", relu=False, upsampled=False
    ).maps
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
    assert tuple(table.set_index("layer").loc["last_conv", ["height", "width", "maps"]]) == (
        4,
        16,
        8,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"layer": "nope"},
            r"model has no layer named 'nope'; layers with 4-D feature maps: \['reshape.*'conv1', 'last_conv'\]",
        ),
        (
            {"layer": "gap"},
            r"layer 'gap' gives output of shape \(None, 3\); "
            r"Grad-CAM needs a layer inside the network with 4-D feature maps",
        ),
        (
            {"method": "score_cam"},
            r"method must be one of \('grad_cam', 'grad_cam_pp'\); got 'score_cam'",
        ),
        (
            {"normalize": "max"},
            r"normalize must be one of \('none', 'per_map', 'per_image'\); got 'max'",
        ),
        (
            {"classes": "every"},
            r"classes must be 'all' or an integer array of shape \(5,\); got 'every'",
        ),
        (
            {"classes": np.zeros((5, 2), int)},
            r"classes must be 'all' or an integer array of shape \(5,\), one class per image; got int64 \(5, 2\)",
        ),
        ({"classes": np.zeros(5)}, r"classes must be .* got float64 \(5,\)"),
        (
            {"classes": np.array([0, 1, 2, 10, 1])},
            r"classes must be class ids from 0 to 9; got values from 0 to 10",
        ),
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
        (
            np.zeros((4, 8), np.uint8),
            r"images must have shape \(N, 4, 8\) or \(N, 4, 8, 1\); got \(4, 8\)",
        ),
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
    with pytest.raises(
        ValueError, match=r"the model's last layer must be Dense\(10\); got GlobalAveragePooling2D"
    ):
        gradcam.grad_cam(model, images, "all")


def test_a_layer_bypassed_by_a_skip_connection_still_works(images):
    """The network cannot be cut at `conv_b` (the sum also reads `skip`): the slower
    whole-network pass gives the same maps."""
    inputs = keras.Input((4, 8))
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Reshape((4, 8, 1))(inputs))
    conv_a, conv_b, skip = (
        keras.layers.Conv2D(2, 1, name=name) for name in ("conv_a", "conv_b", "skip")
    )
    summed = keras.layers.Add(name="add")([conv_b(conv_a(x)), skip(x)])
    dense = keras.layers.Dense(10, activation="sigmoid")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(summed)))
    conv_a.set_weights([np.array([1.0, -1.0]).reshape(1, 1, 1, 2), np.array([0.0, 1.0])])
    conv_b.set_weights(
        [np.array([[1.0, 0.5], [-0.5, 2.0]]).reshape(1, 1, 2, 2), np.array([0.1, -0.2])]
    )
    skip.set_weights([np.array([0.3, -0.7]).reshape(1, 1, 1, 2), np.zeros(2)])
    dense.set_weights([DENSE_W[:2], DENSE_B])
    x = images[..., None] / 255
    b = (x * [1.0, -1.0] + [0.0, 1.0]) @ np.array([[1.0, 0.5], [-0.5, 2.0]]) + [0.1, -0.2]
    expected = np.maximum(np.einsum("nhwk,kc->nhwc", b, DENSE_W[:2] / HW), 0)
    result = gradcam.grad_cam(
        model, images, "all", layer="conv_b", normalize="none", upsampled=False
    )
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-6)
    assert gradcam.grad_cam(model, images, "all", layer="add").maps.shape == (5, 4, 8, 10)


def test_grad_cam_refuses_canvases_the_network_was_not_trained_on():
    network = build_gap_cnn(((8,),), last_filters=8, top=())
    with pytest.raises(
        ValueError,
        match=r"images must be canvases of 32 x 128 pixels, the size the network was trained on, "
        r"so that its maps line up with the product boxes; got \(2, 32, 96\)",
    ):
        gradcam.grad_cam(network, np.zeros((2, 32, 96), np.uint8), "all")


def test_the_compiled_gradient_reads_the_weights_of_each_call(images):
    network = tiny_model()
    first = gradcam.grad_cam(network, images, "all", layer="conv1", normalize="none").maps
    for layer in (network.get_layer("last_conv"), network.layers[-1]):
        layer.set_weights([w * 1.5 + 0.01 for w in layer.get_weights()])
    again = gradcam.grad_cam(network, images, "all", layer="conv1", normalize="none").maps
    fresh = keras.models.clone_model(network)  # a new model: nothing compiled for it yet
    fresh.set_weights(network.get_weights())
    expected = gradcam.grad_cam(fresh, images, "all", layer="conv1", normalize="none").maps
    assert not np.allclose(first, again)
    np.testing.assert_allclose(again, expected, rtol=1e-5, atol=1e-6)


def test_the_compiled_gradient_does_not_keep_its_model_alive(images):
    network = tiny_model()
    gradcam.grad_cam(network, images, np.full(len(images), 3))
    alive = weakref.ref(network)
    del network
    gc.collect()
    assert alive() is None
