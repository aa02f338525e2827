"""The GAP network's architecture, its Dense head, saving and loading."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import model


def test_default_network_ends_in_last_conv_gap_and_sigmoid_dense():
    network = model.build_gap_cnn()
    names = [layer.name for layer in network.layers]
    assert names[-6:] == ["top_conv1", "top_bn1", "top_relu1", "last_conv", "gap", "predictions"]
    assert network.layers[-1].activation.__name__ == "sigmoid"
    assert network.output_shape == (None, 10)
    features = keras.Model(network.input, network.get_layer("last_conv").output)(
        np.zeros((1, 32, 128, 1))
    )
    assert features.shape == (1, 4, 16, 192)  # 1/8 of the canvas: fold 2, then two poolings


def test_last_convolution_of_each_block_pools_before_its_batch_norm():
    names = [layer.name for layer in model.build_gap_cnn().layers]
    start = names.index("block1_conv2")
    assert names[start : start + 8] == [
        "block1_conv2",
        "block1_pool",
        "block1_bn2",
        "block1_relu2",
        "block2_conv1",
        "block2_pool",
        "block2_bn1",
        "block2_relu1",
    ]


def test_fold_is_a_lossless_rearrangement():
    x = np.arange(2 * 4 * 6, dtype="float32").reshape(2, 4, 6, 1)
    folded = keras.ops.convert_to_numpy(model.fold_patches(2)(x))
    assert folded.shape == (2, 2, 3, 4)
    np.testing.assert_array_equal(
        folded[0, 1, 2], [x[0, 2, 4, 0], x[0, 2, 5, 0], x[0, 3, 4, 0], x[0, 3, 5, 0]]
    )


def test_non_negative_head_stays_non_negative_through_training_and_saving(tmp_path):
    network = model.build_gap_cnn(((8,),), last_filters=8, top=(), non_negative_head=True)
    network.compile(optimizer=keras.optimizers.SGD(10.0), loss="binary_crossentropy")
    canvases = np.random.default_rng(0).integers(0, 256, (16, 32, 128), dtype=np.uint8)
    before = network.get_layer("predictions").get_weights()[0]
    network.fit(
        canvases, np.zeros((16, 10), "float32"), epochs=2, verbose=0
    )  # all-negative labels push every weight down
    kernel = network.get_layer("predictions").get_weights()[0]
    assert (
        before.min() > 0.0 and kernel.min() == 0.0
    )  # the constraint clipped weights that were pushed below zero
    reloaded = model.load(model.save(network, tmp_path / "net.keras"))
    assert isinstance(reloaded.get_layer("predictions").kernel_constraint, keras.constraints.NonNeg)


def test_non_negative_head_gives_non_negative_class_maps():
    from helpers import cam

    network = model.build_gap_cnn(((8,),), last_filters=8, top=(), non_negative_head=True)
    canvases = np.random.default_rng(1).integers(0, 256, (4, 32, 128), dtype=np.uint8)
    assert cam.class_activation_maps(network, canvases, upsampled=False).maps.min() >= 0.0


def test_unknown_head_activation_is_refused():
    with pytest.raises(
        ValueError, match=r"head_activation must be one of \('softmax', 'sigmoid'\); got 'relu'"
    ):
        model.build_gap_cnn(head_activation="relu")


def test_mixed_network_computes_in_bfloat16_between_float32_input_and_output():
    network = model.build_gap_cnn(((8, 8),), last_filters=8, top=(8,), dtype="mixed_bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in network.layers}
    assert {policies.pop(name) for name in ("canvas", "rescale", "fold", "predictions")} == {
        "float32"
    }
    assert set(policies.values()) == {"mixed_bfloat16"}
    assert {weight.dtype for weight in network.weights} == {"float32"}
    assert network.output.dtype == "float32"


def test_unknown_dtype_is_refused():
    with pytest.raises(
        ValueError, match=r"dtype must be one of \('float32', 'mixed_bfloat16'\); got 'float16'"
    ):
        model.build_gap_cnn(dtype="float16")


def test_dense_head_names_what_the_model_ends_in_instead():
    inputs = keras.Input((4, 8, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(10, 1)(inputs))
    assert model.dense_head(model.build_gap_cnn(((8,),), last_filters=8)).name == "predictions"
    with pytest.raises(
        ValueError, match=r"the model's last layer must be Dense\(10\); got GlobalAveragePooling2D"
    ):
        model.dense_head(keras.Model(inputs, pooled))
    with pytest.raises(
        ValueError, match=r"the model's last layer must be Dense\(10\); got Dense\(3\)"
    ):
        model.dense_head(keras.Model(inputs, keras.layers.Dense(3)(pooled)))


def test_saved_network_takes_raw_canvases_with_or_without_channel(tmp_path):
    path = model.save(model.build_gap_cnn(((8,),), last_filters=8), tmp_path / "net.keras")
    canvases = np.random.default_rng(0).integers(0, 256, (3, 32, 128), dtype=np.uint8)
    without_channel = model.load(path).predict(canvases, verbose=0)
    with_channel = model.load(path).predict(canvases[..., None], verbose=0)
    np.testing.assert_allclose(without_channel, with_channel, rtol=1e-6)


def test_save_and_load_round_trip(tmp_path):
    network = model.build_gap_cnn(((8,),), last_filters=8)
    path = model.save(network, tmp_path / "net.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["net.keras"]
    canvases = np.zeros((2, 32, 128), np.uint8)
    np.testing.assert_allclose(
        model.load(path).predict(canvases, verbose=0), network.predict(canvases, verbose=0)
    )


def test_save_refuses_other_suffixes(tmp_path):
    with pytest.raises(ValueError, match="path must end in .keras; got net.h5"):
        model.save(model.build_gap_cnn(((8,),), last_filters=8), tmp_path / "net.h5")


def test_load_names_the_missing_file(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match="no model at .*missing.keras; train one with `python -m helpers train`",
    ):
        model.load(tmp_path / "missing.keras")


def test_layer_table_gives_each_layer_its_shape_on_the_canvas_and_its_parameters():
    network = model.build_gap_cnn(blocks=((4, 8),), last_filters=6, top=())
    table = model.layer_table(network)
    assert table["layer"].iloc[0] == "rescale" and table["layer"].iloc[-1] == "predictions"
    shapes = dict(zip(table["layer"], table["output shape"], strict=True))
    assert (
        shapes["fold"] == (16, 64, 4)
        and shapes["block1_pool"] == (8, 32, 8)
        and shapes["last_conv"] == (8, 32, 6)
    )
    assert shapes["gap"] == (6,) and shapes["predictions"] == (10,)
    assert table["parameters"].sum() == network.count_params()
    assert model.layer_table(network, canvas=(32, 32)).set_index("layer").loc[
        "last_conv", "output shape"
    ] == (8, 8, 6)
