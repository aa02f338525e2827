"""Training: fresh composites, the callbacks, the precision choice and the one trainer."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from pathlib import Path

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers import composite, model, recipes, training

TINY = dataclasses.replace(
    recipes.RECIPES["default"],
    blocks=((8,),),
    top=(),
    last_filters=8,
    epochs=2,
    composites_per_epoch=256,
)
QUICK = dataclasses.replace(recipes.RECIPES["quick"], blocks=((4,),), last_filters=8)


def small(composites: composite.Composites, count: int = 64) -> composite.Composites:
    """The first ``count`` composites, to keep training tests short."""
    return dataclasses.replace(
        composites,
        **{
            name: getattr(composites, name)[:count]
            for name in ("images", "labels", "items", "boxes", "sources")
        },
    )


def cpuinfo_with(folder: Path, flags: str, name: str = "cpuinfo") -> Path:
    """A ``/proc/cpuinfo`` look-alike listing ``flags``."""
    path = folder / name
    path.write_text(f"processor\t: 0\nflags\t\t: fpu {flags} rdpid\n")
    return path


def test_fresh_composites_change_every_epoch_and_repeat_with_the_seed(fashion_data):
    (x, y), _ = fashion_data
    pool = composite.source_pools(0)["train"]
    first, again = (training.draw_epoch(x, y, pool, count=64, seed=3, epoch=0) for _ in range(2))
    assert (
        first[0].shape == (64, 32, 128)
        and first[0].dtype == np.uint8
        and first[1].dtype == np.float32
    )
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(
        first[0], training.draw_epoch(x, y, pool, count=64, seed=3, epoch=1)[0]
    )


def test_flip_mirrors_about_half_the_products_of_the_same_composites(fashion_data):
    (x, y), _ = fashion_data
    pool = composite.source_pools(0)["train"]
    plain = training.draw_epoch(x, y, pool, count=200, seed=3, epoch=0)
    flipped = training.draw_epoch(x, y, pool, count=200, seed=3, epoch=0, flip=True)
    rng = np.random.default_rng([3, 0])  # draw_epoch's generator for seed 3, epoch 0
    drawn = composite.compose(x, y, pool, 200, rng)
    np.testing.assert_array_equal(plain[0], drawn.images)  # without flip: the composites alone
    chosen = rng.random(drawn.items.shape) < 0.5  # then, with flip, the products to mirror
    np.testing.assert_array_equal(
        flipped[0], composite.flip_products(drawn.images, drawn.boxes, chosen)
    )
    np.testing.assert_array_equal(flipped[1], plain[1])  # the same products, so the same labels
    assert 0.4 < chosen.mean() < 0.6


def test_fresh_batches_run_through_the_epochs_in_order(fashion_data):
    (x, y), _ = fashion_data
    pool = composite.source_pools(0)["train"]
    batches = [
        (images.numpy(), labels.numpy())
        for images, labels in training.fresh_composite_batches(x, y, pool, 40, 32, 3, epochs=2)
    ]
    assert [len(images) for images, _ in batches] == [32, 8, 32, 8]
    for epoch in (0, 1):
        images, labels = training.draw_epoch(x, y, pool, 40, 3, epoch)
        np.testing.assert_array_equal(
            np.concatenate([b[0] for b in batches[2 * epoch : 2 * epoch + 2]]), images
        )
        np.testing.assert_array_equal(
            np.concatenate([b[1] for b in batches[2 * epoch : 2 * epoch + 2]]), labels
        )


def test_fit_draws_every_epoch_once_and_in_order(fashion_data, monkeypatch):
    (x, y), _ = fashion_data
    drawn, draw = [], training.draw_epoch
    monkeypatch.setattr(
        training,
        "draw_epoch",
        lambda *args, **kwargs: drawn.append(int(args[-1])) or draw(*args, **kwargs),
    )
    network = model.build_gap_cnn(((4,),), last_filters=4, top=())
    network.compile(optimizer="adam", loss="binary_crossentropy")
    batches = training.fresh_composite_batches(
        x, y, composite.source_pools(0)["train"], 16, 8, 3, epochs=3
    )
    network.fit(batches, steps_per_epoch=2, epochs=3, shuffle=False, verbose=0)
    assert drawn == [0, 1, 2]


def test_training_draws_from_the_training_pool_of_its_seed(fashion_data, monkeypatch):
    pools, draw = [], training.draw_epoch
    monkeypatch.setattr(
        training,
        "draw_epoch",
        lambda images, classes, pool, *args, **kwargs: (
            pools.append(pool) or draw(images, classes, pool, *args, **kwargs)
        ),
    )
    built = composite.standard_splits(fashion_data, 3, sizes={"train": 64, "val": 64, "test": 1})
    training.train(
        TINY,
        built["train"],
        built["val"],
        fashion=fashion_data[0],
        seed=3,
        dtype="float32",
        verbose=0,
    )
    np.testing.assert_array_equal(pools[0], composite.source_pools(3)["train"])


def test_training_with_another_seed_than_the_splits_is_refused(splits, fashion_data):
    with pytest.raises(
        ValueError, match="the training pool of seed 3 holds products of the validation composites"
    ):
        training.train(TINY, splits["train"], splits["val"], fashion=fashion_data[0], seed=3)


def test_training_loads_fashion_mnist_itself_or_refuses_what_is_not_its_training_split(
    splits, fashion_data
):
    network, history = training.train(
        dataclasses.replace(TINY, composites_per_epoch=64),
        splits["train"],
        small(splits["val"]),
        verbose=0,
    )
    assert len(history["loss"]) == 2 and network.output_shape == (None, 10)
    with pytest.raises(
        ValueError, match=r"fashion must be the Fashion-MNIST training split \(images, classes\)"
    ):
        training.train(TINY, splits["train"], splits["val"], fashion=fashion_data)


def test_the_quick_recipe_trains_as_a_plain_keras_fit_would(splits):
    """Notebook 02's head comparison: seed, build, Adam, shuffled fit over the fixed composites.

    The last epoch is kept.
    """
    train, recipe = small(splits["train"], 48), dataclasses.replace(QUICK, epochs=2)
    network, _ = training.train(recipe, train, small(splits["val"]), seed=4, verbose=0)
    keras.utils.set_random_seed(4)
    by_hand = model.build_gap_cnn(
        recipe.blocks, recipe.last_filters, top=(), fold=2, head_activation="sigmoid"
    )
    by_hand.compile(
        optimizer=keras.optimizers.Adam(recipe.learning_rate), loss="binary_crossentropy"
    )
    by_hand.fit(
        train.images,
        train.labels.astype("float32"),
        batch_size=recipe.batch_size,
        epochs=2,
        shuffle=True,
        verbose=0,
    )
    for trained, expected in zip(network.get_weights(), by_hand.get_weights(), strict=True):
        np.testing.assert_allclose(trained, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_training_is_repeatable_and_keeps_the_best_epoch(splits, fashion_data, dtype):
    best = {}
    spy = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: best.setdefault(
            logs["val_exact_match"], spy.model.get_weights()
        )
    )
    runs = [
        training.train(
            TINY,
            splits["train"],
            small(splits["val"]),
            fashion=fashion_data[0],
            dtype=dtype,
            verbose=0,
            callbacks=[spy],
        )
        for _ in range(2)
    ]
    (first, history), (second, _) = runs
    assert set(history) >= {"loss", "val_loss", "per_label_accuracy", "val_exact_match", "seconds"}
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for kept, best_epoch in zip(
        first.get_weights(), best[max(history["val_exact_match"])], strict=True
    ):
        np.testing.assert_array_equal(kept, best_epoch)


def test_validation_logs_match_keras_evaluate_and_a_hand_count(splits):
    recipe = dataclasses.replace(TINY, non_negative_head=False)
    network = recipe.build()
    training.compile_for(network, recipe, total_steps=10, warmup_steps=1)
    val = splits["val"]
    callback = training.Validation(val.images, val.labels)
    callback.set_model(network)
    logs = {}
    callback.on_epoch_end(0, logs)
    loss, per_label = network.evaluate(val.images, val.labels.astype("float32"), verbose=0)
    assert logs["val_loss"] == pytest.approx(loss, rel=1e-4)
    assert logs["val_per_label_accuracy"] == pytest.approx(per_label, abs=1e-6)
    predicted = network.predict(val.images, verbose=0) >= 0.5
    assert logs["val_exact_match"] == pytest.approx(
        np.mean(
            [np.array_equal(p, t) for p, t in zip(predicted, val.labels.astype(bool), strict=True)]
        )
    )


def test_softmax_validation_loss_is_taken_on_the_softmax_targets(splits):
    recipe = dataclasses.replace(QUICK, head="softmax")
    network = recipe.build()
    training.compile_for(network, recipe, total_steps=10, warmup_steps=1)
    val = small(splits["val"])
    callback = training.Validation(val.images, val.labels, "softmax")
    callback.set_model(network)
    logs = {}
    callback.on_epoch_end(0, logs)
    targets = val.labels / val.labels.sum(axis=1, keepdims=True)
    expected = keras.losses.CategoricalCrossentropy()(
        targets, network.predict(val.images, verbose=0)
    )
    assert logs["val_loss"] == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("head", ["softmax", "sigmoid"])
def test_fixed_composites_train_the_head_of_the_recipe_and_keep_the_last_epoch(splits, head):
    recipe = dataclasses.replace(QUICK, head=head, epochs=2)
    train = small(splits["train"], 32)
    last = {}
    spy = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: last.update(weights=spy.model.get_weights())
    )
    network, history = training.train(
        recipe, train, small(splits["val"]), verbose=0, callbacks=[spy]
    )
    probabilities = network.predict(train.images[:3], verbose=0)
    assert network.get_layer("predictions").activation.__name__ == head
    if head == "softmax":
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert len(history["loss"]) == len(history["seconds"]) == 2
    for kept, trained in zip(network.get_weights(), last["weights"], strict=True):
        np.testing.assert_array_equal(kept, trained)


def test_live_progress_redraws_the_history_each_epoch_and_ends_on_the_last(splits, capsys):
    drawn = []

    def draw(history):
        drawn.append({key: list(values) for key, values in history.items()})
        return plt.figure()

    live = training.LiveProgress(draw, label="sigmoid head")
    open_before = set(plt.get_fignums())
    _, history = training.train(
        dataclasses.replace(QUICK, epochs=2),
        small(splits["train"], 32),
        small(splits["val"]),
        verbose=0,
        callbacks=[live],
    )
    assert [len(seen["loss"]) for seen in drawn] == [1, 2]
    assert drawn[-1] == {key: [float(v) for v in values] for key, values in history.items()}
    assert (
        live.line.startswith("sigmoid head: 100% 2/2 [")
        and f"validation exact match {history['val_exact_match'][-1]:.3f}" in live.line
    )
    assert "Epoch 1/2" not in capsys.readouterr().out  # no Keras log lines
    assert set(plt.get_fignums()) == open_before  # each drawn figure is closed once shown


def test_live_progress_keeps_no_past_figure_under_jupyters_inline_backend():
    """Interactive pyplot under the inline backend queues each new figure until the cell ends.

    A training run is one cell: figures kept that way grew notebook 03's
    kernel by 4 MB an epoch, 200 MB over Binder's 50, to its 1.5 GiB budget.
    """
    drawn = []

    def draw(history: dict[str, list[float]]) -> Figure:
        figure = plt.figure()
        drawn.append(weakref.ref(figure))
        return figure

    backend = matplotlib.get_backend()
    plt.switch_backend("module://matplotlib_inline.backend_inline")
    try:
        with plt.ion():  # as in a notebook
            live = training.LiveProgress(draw)
            live.set_params({"epochs": 3})
            live.on_train_begin()
            for epoch in range(3):
                live.on_epoch_end(epoch, {"loss": 1.0})
            gc.collect()
            assert [figure() for figure in drawn] == [None, None, None]
    finally:
        plt.switch_backend(backend)


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("avx512f avx512_bf16 avx512_vnni", True),
        ("amx_tile amx_bf16", True),
        ("avx2 fma avx512f", False),
    ],
)
def test_native_bfloat16_is_read_from_the_processor_flags(tmp_path, flags, native):
    assert training.native_bfloat16(cpuinfo_with(tmp_path, flags)) is native


def test_no_readable_cpuinfo_means_no_bfloat16(tmp_path):
    assert training.native_bfloat16(tmp_path / "missing") is False


def test_training_dtype_is_bfloat16_only_where_asked_and_native(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    native, emulated = (
        cpuinfo_with(tmp_path, "avx512_bf16"),
        cpuinfo_with(tmp_path, "avx2", name="old"),
    )
    recipe = recipes.RECIPES["default"]
    assert training.training_dtype(recipe, native) == "mixed_bfloat16"
    assert training.training_dtype(dataclasses.replace(recipe, bfloat16=False), native) == "float32"
    assert training.training_dtype(recipe, emulated) == "float32"


@pytest.mark.parametrize(
    ("setting", "dtype"),
    [("0", "float32"), ("False", "float32"), ("1", "mixed_bfloat16"), ("true", "mixed_bfloat16")],
)
def test_training_dtype_is_float32_when_onednn_is_turned_off(tmp_path, monkeypatch, setting, dtype):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", setting)
    assert (
        training.training_dtype(recipes.RECIPES["default"], cpuinfo_with(tmp_path, "avx512_bf16"))
        == dtype
    )


def test_float32_copy_predicts_what_the_mixed_network_predicts():
    recipe = dataclasses.replace(TINY, top=(8,), non_negative_head=False)
    mixed = recipe.build("mixed_bfloat16")
    weights = np.random.default_rng(5)
    mixed.set_weights(
        [
            weights.uniform(0.5, 1.5, w.shape).astype("float32") * np.sign(w + 0.5)
            for w in mixed.get_weights()
        ]
    )
    copy = training.float32_copy(mixed, recipe)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    logits = [
        keras.Model(n.input, n.get_layer("gap").output) for n in (mixed, copy, recipe.build())
    ]
    canvases = np.random.default_rng(4).integers(0, 256, (4, 32, 128), dtype=np.uint8)
    mixed_gap, copy_gap, fresh_gap = (
        keras.ops.convert_to_numpy(f(canvases)).astype("float32") for f in logits
    )
    np.testing.assert_allclose(copy_gap, mixed_gap, rtol=0.03, atol=0.01)
    assert not np.allclose(fresh_gap, mixed_gap, rtol=0.03, atol=0.01)


def test_bfloat16_training_hands_back_the_best_weights_in_float32(splits, fashion_data):
    seen = {}
    spy = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: seen.update(
            dtype=spy.model.get_layer(model.LAST_CONV).compute_dtype
        ),
        on_train_end=lambda logs: seen.update(
            weights=spy.model.get_weights()
        ),  # after BestWeights restored them
    )
    network, _ = training.train(
        TINY,
        splits["train"],
        small(splits["val"]),
        fashion=fashion_data[0],
        dtype="mixed_bfloat16",
        verbose=0,
        callbacks=[spy],
    )
    assert seen["dtype"] == "bfloat16"
    assert network.get_layer(model.LAST_CONV).compute_dtype == "float32"
    for trained, handed_back in zip(seen["weights"], network.get_weights(), strict=True):
        np.testing.assert_array_equal(trained, handed_back)


def test_unknown_dtype_is_refused_before_training(splits):
    with pytest.raises(
        ValueError, match=r"dtype must be one of \('float32', 'mixed_bfloat16'\); got 'float16'"
    ):
        training.train(TINY, splits["train"], splits["val"], dtype="float16")


def test_the_learning_rate_warms_up_for_one_epoch_then_decays_to_zero():
    network = TINY.build()
    training.compile_for(network, TINY, total_steps=100, warmup_steps=10)
    schedule = keras.optimizers.schedules.deserialize(
        network.optimizer.get_config()["learning_rate"]
    )
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    assert rates == pytest.approx(
        [0.0, TINY.learning_rate / 2, TINY.learning_rate, TINY.learning_rate / 2, 0.0], abs=1e-7
    )
    assert network.loss == "binary_crossentropy"
