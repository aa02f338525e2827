"""Class activation maps against hand computations; upsampling and normalising maps."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import cam
from helpers.model import build_gap_cnn


def tiny_gap_model(activation: str | None = None) -> keras.Model:
    """Canvas (4, 8) -> 1x1 conv with 3 known filters (`last_conv`) -> GAP -> Dense(10)."""
    inputs = keras.Input((4, 8))
    x = keras.layers.Reshape((4, 8, 1))(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    conv = keras.layers.Conv2D(3, 1, activation=activation, name="last_conv")
    x = conv(x)
    dense = keras.layers.Dense(10, activation="sigmoid")
    outputs = dense(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    conv.set_weights([np.array([1.0, -2.0, 0.5]).reshape(1, 1, 1, 3), np.array([0.1, 0.0, -0.3])])
    dense.set_weights(
        [np.arange(30, dtype=float).reshape(3, 10) / 10 - 1.5, np.linspace(-1, 1, 10)]
    )
    return model


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(5, 4, 8), dtype=np.uint8)


def test_cam_equals_hand_computation(images):
    model = tiny_gap_model()
    conv_w = np.array([1.0, -2.0, 0.5])
    conv_b = np.array([0.1, 0.0, -0.3])
    dense_w = np.arange(30).reshape(3, 10) / 10 - 1.5
    features = (images[..., None] / 255) * conv_w + conv_b  # (N, 4, 8, 3)
    expected = np.einsum("nhwk,kc->nhwc", features, dense_w)
    result = cam.class_activation_maps(model, images, upsampled=False)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5, atol=1e-5)


def test_map_mean_plus_bias_equals_the_logit(images):
    model = tiny_gap_model(activation="relu")
    result = cam.class_activation_maps(model, images, upsampled=False)
    bias = model.layers[-1].get_weights()[1]
    logits = np.log(result.probabilities / (1 - result.probabilities))
    np.testing.assert_allclose(result.maps.mean(axis=(1, 2)) + bias, logits, rtol=1e-4, atol=1e-4)


def test_probabilities_equal_predict(images):
    model = tiny_gap_model()
    result = cam.class_activation_maps(model, images)
    np.testing.assert_allclose(result.probabilities, model.predict(images, verbose=0), rtol=1e-5)


def test_upsampling_matches_keras_bilinear_resize():
    small = np.random.default_rng(1).normal(size=(2, 4, 16, 10)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(
        keras.ops.image.resize(small, (32, 128), interpolation="bilinear", antialias=False)
    )
    np.testing.assert_allclose(cam.upsample(small, (32, 128)), expected, atol=1e-5)


def test_maps_are_canvas_sized_float32_for_every_class():
    model = build_gap_cnn(((8,),), last_filters=8)
    images = np.zeros((3, 32, 128, 1), np.uint8)
    result = cam.class_activation_maps(model, images)
    assert result.maps.shape == (3, 32, 128, 10) and result.maps.dtype == np.float32
    assert result.probabilities.shape == (3, 10)


def test_per_map_normalisation_spans_zero_to_one(images):
    maps = cam.class_activation_maps(tiny_gap_model(), images, "per_map").maps
    np.testing.assert_allclose(maps.min(axis=(1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1, atol=1e-6)


def test_per_image_normalisation_keeps_classes_comparable(images):
    raw = cam.class_activation_maps(tiny_gap_model(), images).maps
    scaled = cam.normalize_maps(raw, "per_image")
    assert scaled.min() == pytest.approx(0) and scaled.max() == pytest.approx(1)
    np.testing.assert_allclose(scaled.max(axis=(1, 2, 3)), 1, atol=1e-6)
    for raw_image, scaled_image in zip(
        raw, scaled, strict=True
    ):  # one affine scale for all 10 maps of an image
        assert np.corrcoef(raw_image.ravel(), scaled_image.ravel())[0, 1] == pytest.approx(1.0)


def test_constant_map_normalises_to_zeros():
    maps = np.ones((1, 2, 2, 10), np.float32)
    assert not cam.normalize_maps(maps, "per_map").any()


def test_unknown_normalisation_is_refused(images):
    with pytest.raises(
        ValueError, match=r"normalize must be one of \('none', 'per_map', 'per_image'\); got 'max'"
    ):
        cam.class_activation_maps(tiny_gap_model(), images, "max")


def test_model_without_last_conv_is_refused(images):
    inputs = keras.Input((4, 8))
    x = keras.layers.Reshape((4, 8, 1))(inputs)
    x = keras.layers.Conv2D(2, 1, name="conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
    with pytest.raises(ValueError, match="model has no layer named 'last_conv'"):
        cam.class_activation_maps(model, images)


def test_model_without_gap_dense_head_is_refused(images):
    inputs = keras.Input((4, 8))
    x = keras.layers.Reshape((4, 8, 1))(inputs)
    x = keras.layers.Conv2D(2, 1, name="last_conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x)))
    with pytest.raises(
        ValueError,
        match="CAM needs 'last_conv' -> GlobalAveragePooling2D -> Dense; the Dense layer is fed by Flatten",
    ):
        cam.class_activation_maps(model, images)


def test_model_with_another_last_layer_is_refused(images):
    inputs = keras.Input((4, 8))
    x = keras.layers.Reshape((4, 8, 1))(inputs)
    x = keras.layers.Conv2D(10, 1, name="last_conv")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(
        ValueError, match=r"the model's last layer must be Dense\(10\); got GlobalAveragePooling2D"
    ):
        cam.class_activation_maps(model, images)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            np.zeros((4, 8), np.uint8),
            r"images must have shape \(N, 4, 8\) or \(N, 4, 8, 1\); got \(4, 8\)",
        ),
        (np.zeros((2, 4, 8, 3), np.uint8), r"got \(2, 4, 8, 3\)"),
        (np.zeros((2, 4, 8), np.float32), "images must be uint8 canvases \\(0-255\\); got float32"),
    ],
)
def test_bad_images_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        cam.class_activation_maps(tiny_gap_model(), bad)


@pytest.mark.parametrize("shape", [(2, 32, 96), (2, 28, 28), (2, 64, 256), (2, 32, 96, 1)])
def test_a_gap_network_refuses_canvases_it_was_not_trained_on(shape):
    network = build_gap_cnn(((8,),), last_filters=8, top=())  # takes any size; trained on 32 x 128
    for compute in (cam.class_activation_maps, cam.feature_maps, cam.logits):
        with pytest.raises(
            ValueError,
            match=r"images must be canvases of 32 x 128 pixels, the size the network was trained "
            r"on, so that its maps line up with the product boxes; got \(2, ",
        ):
            compute(network, np.zeros(shape, np.uint8))


def test_a_network_of_a_fixed_input_size_takes_that_size_only():
    with pytest.raises(
        ValueError,
        match=r"images must be canvases of 4 x 8 pixels, the size the network takes; "
        r"got \(2, 32, 128\)",
    ):
        cam.class_activation_maps(tiny_gap_model(), np.zeros((2, 32, 128), np.uint8))


def test_logits_are_the_scores_before_the_sigmoid(images):
    model = tiny_gap_model(activation="relu")
    probabilities = model.predict(images, verbose=0)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-cam.logits(model, images))), probabilities, rtol=1e-5
    )
