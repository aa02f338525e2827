"""The GAP network, its training data, saving and loading."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from helpers import composite, model


def test_default_network_ends_in_last_conv_gap_and_sigmoid_dense():
    network = model.build_gap_cnn()
    names = [layer.name for layer in network.layers]
    assert names[-6:] == ["top_conv1", "top_bn1", "top_relu1", "last_conv", "gap", "predictions"]
    assert network.layers[-1].activation.__name__ == "sigmoid"
    assert network.output_shape == (None, 10)
    features = keras.Model(network.input, network.get_layer("last_conv").output)(np.zeros((1, 32, 128, 1)))
    assert features.shape == (1, 4, 16, 192)  # 1/8 of the canvas: fold 2, then two poolings


def test_last_convolution_of_each_block_pools_before_its_batch_norm():
    names = [layer.name for layer in model.build_gap_cnn().layers]
    start = names.index("block1_conv2")
    assert names[start:start + 8] == [
        "block1_conv2", "block1_pool", "block1_bn2", "block1_relu2",
        "block2_conv1", "block2_pool", "block2_bn1", "block2_relu1",
    ]


def test_without_batch_norm_pooling_first_computes_what_pooling_last_does():
    shape = {"blocks": ((4, 6), (5,)), "last_filters": 5, "top": (), "batch_norm": False, "fold": 1}
    pooled_first = model.build_gap_cnn(**shape)
    pooled_last = model.build_gap_cnn(**shape, pool_first=False)
    pooled_last.set_weights(pooled_first.get_weights())
    canvases = np.random.default_rng(2).integers(0, 256, (3, 32, 128, 1), dtype=np.uint8)
    np.testing.assert_allclose(pooled_first.predict(canvases, verbose=0), pooled_last.predict(canvases, verbose=0), rtol=1e-5)


def test_saved_network_takes_raw_canvases_with_or_without_channel(tmp_path):
    path = model.save(model.build_gap_cnn(((8,),), last_filters=8), tmp_path / "net.keras")
    canvases = np.random.default_rng(0).integers(0, 256, (3, 32, 128), dtype=np.uint8)
    without_channel = model.load(path).predict(canvases, verbose=0)
    with_channel = model.load(path).predict(canvases[..., None], verbose=0)
    np.testing.assert_allclose(without_channel, with_channel, rtol=1e-6)


def test_fold_is_a_lossless_rearrangement():
    x = np.arange(2 * 4 * 6, dtype="float32").reshape(2, 4, 6, 1)
    folded = keras.ops.convert_to_numpy(model.fold_patches(2)(x))
    assert folded.shape == (2, 2, 3, 4)
    np.testing.assert_array_equal(folded[0, 1, 2], [x[0, 2, 4, 0], x[0, 2, 5, 0], x[0, 3, 4, 0], x[0, 3, 5, 0]])


def test_non_negative_head_stays_non_negative_through_training_and_saving(tmp_path):
    network = model.build_gap_cnn(((8,),), last_filters=8, top=(), non_negative_head=True)
    network.compile(optimizer=keras.optimizers.SGD(10.0), loss="binary_crossentropy")
    canvases = np.random.default_rng(0).integers(0, 256, (16, 32, 128), dtype=np.uint8)
    network.fit(canvases, np.zeros((16, 10), "float32"), epochs=2, verbose=0)  # all-negative labels push every weight down
    kernel = network.get_layer("predictions").get_weights()[0]
    assert kernel.min() == 0.0 and kernel.max() >= 0.0
    reloaded = model.load(model.save(network, tmp_path / "net.keras"))
    assert isinstance(reloaded.get_layer("predictions").kernel_constraint, keras.constraints.NonNeg)


def test_non_negative_head_gives_non_negative_class_maps():
    from helpers import cam

    network = model.build_gap_cnn(((8,),), last_filters=8, top=(), non_negative_head=True)
    canvases = np.random.default_rng(1).integers(0, 256, (4, 32, 128), dtype=np.uint8)
    assert cam.class_activation_maps(network, canvases, upsampled=False).maps.min() >= 0.0


def test_recipes_use_the_non_negative_head_except_the_study():
    assert all(recipe.non_negative_head for name, recipe in model.RECIPES.items() if name != "study")
    assert not model.RECIPES["study"].non_negative_head
    assert model.RECIPES["default"].build().get_layer("predictions").kernel_constraint is not None


def test_unknown_head_activation_is_refused():
    with pytest.raises(ValueError, match="head_activation must be 'sigmoid' or 'softmax'; got 'relu'"):
        model.build_gap_cnn(head_activation="relu")


def test_fresh_composites_change_every_epoch_and_repeat_with_the_seed(fashion_data):
    (x, y), _ = fashion_data
    pool = composite.source_pools(0)["train"]
    first, again = (model.draw_epoch(x, y, pool, count=64, seed=3, epoch=0) for _ in range(2))
    assert first[0].shape == (64, 32, 128) and first[0].dtype == np.uint8 and first[1].dtype == np.float32
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], model.draw_epoch(x, y, pool, count=64, seed=3, epoch=1)[0])


def test_fresh_batches_run_through_the_epochs_in_order(fashion_data):
    (x, y), _ = fashion_data
    pool = composite.source_pools(0)["train"]
    batches = [(images.numpy(), labels.numpy()) for images, labels in model.fresh_composite_batches(x, y, pool, 40, 32, 3, epochs=2)]
    assert [len(images) for images, _ in batches] == [32, 8, 32, 8]
    for epoch in (0, 1):
        images, labels = model.draw_epoch(x, y, pool, 40, 3, epoch)
        np.testing.assert_array_equal(np.concatenate([b[0] for b in batches[2 * epoch : 2 * epoch + 2]]), images)
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches[2 * epoch : 2 * epoch + 2]]), labels)


def test_fit_draws_every_epoch_once_and_in_order(fashion_data, monkeypatch):
    (x, y), _ = fashion_data
    drawn, draw = [], model.draw_epoch
    monkeypatch.setattr(model, "draw_epoch", lambda *args: drawn.append(int(args[-1])) or draw(*args))
    network = model.build_gap_cnn(((4,),), last_filters=4, top=())
    network.compile(optimizer="adam", loss="binary_crossentropy")
    batches = model.fresh_composite_batches(x, y, composite.source_pools(0)["train"], 16, 8, 3, epochs=3)
    network.fit(batches, steps_per_epoch=2, epochs=3, shuffle=False, verbose=0)
    assert drawn == [0, 1, 2]


def test_fresh_composites_never_use_validation_products(fashion_data, splits):
    (x, y), _ = fashion_data
    pool = composite.source_pools(0)["train"]
    assert not np.isin(splits["val"].sources, pool).any()


@pytest.mark.parametrize("native", [False, True], ids=["float32", "bfloat16"])
def test_training_is_repeatable_and_keeps_the_best_epoch(splits, fashion_data, monkeypatch, native):
    monkeypatch.setattr(model, "native_bfloat16", lambda: native)
    recipe = dataclasses.replace(model.RECIPES["default"], blocks=((8,),), top=(), last_filters=8, epochs=2, composites_per_epoch=256, batch_size=64)
    small_val = dataclasses.replace(splits["val"], images=splits["val"].images[:64], labels=splits["val"].labels[:64])
    runs = [
        model.train(recipe, splits["train"], small_val, seed=1, fashion_train=fashion_data[0], pool=composite.source_pools(0)["train"], verbose=0)
        for _ in range(2)
    ]
    (first, history), (second, _) = runs
    assert set(history) >= {"loss", "val_loss", "per_label_accuracy", "val_exact_match", "seconds"}
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_validation_logs_match_keras_evaluate(splits):
    recipe = dataclasses.replace(model.RECIPES["default"], blocks=((8,),), top=(), last_filters=8)
    network = recipe.build()
    model.compile_for(network, recipe, total_steps=10, warmup_steps=1)
    val = splits["val"]
    callback = model.Validation(val.images, val.labels)
    callback.set_model(network)
    logs = {}
    callback.on_epoch_end(0, logs)
    loss, per_label = network.evaluate(val.images, val.labels.astype("float32"), verbose=0)
    assert logs["val_loss"] == pytest.approx(loss, rel=1e-4)
    assert logs["val_per_label_accuracy"] == pytest.approx(per_label, abs=1e-6)
    assert 0.0 <= logs["val_exact_match"] <= logs["val_per_label_accuracy"]


@pytest.mark.parametrize(("flags", "native"), [("avx512f avx512_bf16 avx512_vnni", True), ("amx_tile amx_bf16", True), ("avx2 fma avx512f", False)])
def test_native_bfloat16_is_read_from_the_processor_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: fpu {flags} rdpid\n")
    assert model.native_bfloat16(cpuinfo) is native


def test_no_readable_cpuinfo_means_no_bfloat16(tmp_path):
    assert model.native_bfloat16(tmp_path / "missing") is False


def test_training_dtype_is_bfloat16_only_where_asked_and_native(monkeypatch):
    recipe = model.RECIPES["default"]
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(model, "native_bfloat16", lambda: True)
    assert model.training_dtype(recipe) == "mixed_bfloat16"
    assert model.training_dtype(dataclasses.replace(recipe, bfloat16=False)) == "float32"
    monkeypatch.setattr(model, "native_bfloat16", lambda: False)
    assert model.training_dtype(recipe) == "float32"


@pytest.mark.parametrize(("setting", "dtype"), [("0", "float32"), ("False", "float32"), ("1", "mixed_bfloat16"), ("true", "mixed_bfloat16")])
def test_training_dtype_is_float32_when_onednn_is_turned_off(monkeypatch, setting, dtype):
    monkeypatch.setattr(model, "native_bfloat16", lambda: True)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", setting)
    assert model.training_dtype(model.RECIPES["default"]) == dtype


def test_mixed_network_computes_in_bfloat16_between_float32_input_and_output():
    network = model.build_gap_cnn(((8, 8),), last_filters=8, top=(8,), dtype="mixed_bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in network.layers}
    assert {policies.pop(name) for name in ("canvas", "rescale", "fold", "predictions")} == {"float32"}
    assert set(policies.values()) == {"mixed_bfloat16"}
    assert {weight.dtype for weight in network.weights} == {"float32"}
    assert network.output.dtype == "float32"


def test_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'mixed_bfloat16'; got 'float16'"):
        model.build_gap_cnn(dtype="float16")


def test_float32_copy_predicts_what_the_mixed_network_predicts():
    recipe = dataclasses.replace(model.RECIPES["default"], blocks=((8,),), top=(8,), last_filters=8, non_negative_head=False)
    mixed = recipe.build("mixed_bfloat16")
    weights = np.random.default_rng(5)
    mixed.set_weights([weights.uniform(0.5, 1.5, w.shape).astype("float32") * np.sign(w + 0.5) for w in mixed.get_weights()])
    copy = model.float32_copy(mixed, recipe)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    logits = [keras.Model(n.input, n.get_layer("gap").output) for n in (mixed, copy, recipe.build())]
    canvases = np.random.default_rng(4).integers(0, 256, (4, 32, 128), dtype=np.uint8)
    mixed_gap, copy_gap, fresh_gap = (keras.ops.convert_to_numpy(f(canvases)).astype("float32") for f in logits)
    np.testing.assert_allclose(copy_gap, mixed_gap, rtol=0.03, atol=0.01)
    assert not np.allclose(fresh_gap, mixed_gap, rtol=0.03, atol=0.01)


def test_bfloat16_training_hands_back_the_best_weights_in_float32(splits, fashion_data, monkeypatch):
    monkeypatch.setattr(model, "native_bfloat16", lambda: True)
    recipe = dataclasses.replace(model.RECIPES["default"], blocks=((8,),), top=(), last_filters=8, epochs=2, composites_per_epoch=64)
    small_val = dataclasses.replace(splits["val"], images=splits["val"].images[:64], labels=splits["val"].labels[:64])
    seen = {}
    spy = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: seen.update(dtype=spy.model.get_layer(model.LAST_CONV).compute_dtype),
        on_train_end=lambda logs: seen.update(weights=spy.model.get_weights()),  # after BestWeights restored them
    )
    network, _ = model.train(
        recipe, splits["train"], small_val, fashion_train=fashion_data[0], pool=composite.source_pools(0)["train"], verbose=0, callbacks=[spy]
    )
    assert seen["dtype"] == "bfloat16"
    assert network.get_layer(model.LAST_CONV).compute_dtype == "float32"
    for trained, handed_back in zip(seen["weights"], network.get_weights(), strict=True):
        np.testing.assert_array_equal(trained, handed_back)


def test_fresh_training_without_the_pool_is_refused(splits):
    with pytest.raises(ValueError, match="fresh composites need fashion_train"):
        model.train(model.RECIPES["default"], splits["train"], splits["val"])


def test_save_and_load_round_trip(tmp_path):
    network = model.build_gap_cnn(((8,),), last_filters=8)
    path = model.save(network, tmp_path / "net.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["net.keras"]
    canvases = np.zeros((2, 32, 128), np.uint8)
    np.testing.assert_allclose(model.load(path).predict(canvases, verbose=0), network.predict(canvases, verbose=0))


def test_save_refuses_other_suffixes(tmp_path):
    with pytest.raises(ValueError, match="model files end in .keras; got net.h5"):
        model.save(model.build_gap_cnn(((8,),), last_filters=8), tmp_path / "net.h5")


def test_load_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model at .*missing.keras; train one with `python -m helpers train`"):
        model.load(tmp_path / "missing.keras")


def test_light_recipe_is_chosen_by_the_environment(monkeypatch):
    monkeypatch.setenv(model.LIGHT_ENV, "1")
    assert model.recipe_for_this_machine()[0] == "light"
    monkeypatch.delenv(model.LIGHT_ENV)
    assert model.recipe_for_this_machine()[0] == "default"
