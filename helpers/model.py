"""The GAP network: convolution blocks -> ``last_conv`` -> GAP -> Dense(10, sigmoid); its recipes and training."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from helpers.composite import DEFAULT_ITEMS, DEFAULT_SLOT, Composites, compose
from helpers.fashion import NUM_CLASSES
from helpers.quiet import native_stderr_silenced

INPUT_SHAPE = (None, None, 1)  # any canvas: 32 x 128 composites, or 32 x 32 single products
LAST_CONV = "last_conv"


def fold_patches(size: int, name: str = "fold") -> layers.Conv2D:
    """A fixed, lossless layer that folds each ``size x size`` pixel patch into channels.

    A first convolution over one channel runs far below a CPU's speed; the
    same pixels as ``size**2`` channels at a lower resolution keep every
    detail and let the following convolutions run fast. It is a convolution
    with one-hot kernels (not trained), so it works at any canvas size.
    """
    kernel = np.eye(size * size, dtype="float32").reshape(size, size, 1, size * size)
    return layers.Conv2D(
        size * size, size, strides=size, use_bias=False, trainable=False, name=name,
        kernel_initializer=keras.initializers.Constant(kernel),
    )


def conv_bn_relu(
    x: keras.KerasTensor, filters: int, prefix: str, number: int, batch_norm: bool, pool: bool = False, dtype: str = "float32"
) -> keras.KerasTensor:
    """A 3x3 convolution, batch-normalised if asked, then a ReLU; layers named ``{prefix}_conv{number}`` etc.

    With ``pool``, a 2x2 max pooling (``{prefix}_pool``) follows the
    convolution directly, so batch norm and ReLU work on a quarter of the
    pixels. Without batch norm this computes exactly what pooling after the
    ReLU does (a ReLU commutes with taking a maximum), only cheaper. With
    batch norm it is a different network: batch norm then normalises the
    pooled maxima, whose batch statistics differ from those of all pixels.
    ``dtype`` is the layers' Keras dtype policy.
    """
    x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"{prefix}_conv{number}", dtype=dtype)(x)
    if pool:
        x = layers.MaxPooling2D(2, name=f"{prefix}_pool", dtype=dtype)(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, name=f"{prefix}_bn{number}", dtype=dtype)(x)
    return layers.ReLU(name=f"{prefix}_relu{number}", dtype=dtype)(x)


def build_gap_cnn(
    blocks: Sequence[Sequence[int]] = ((32, 48), (96,)),
    last_filters: int = 192,
    top: Sequence[int] = (128,),
    dropout: float = 0.0,
    batch_norm: bool = True,
    fold: int = 2,
    *,
    head_activation: str = "sigmoid",
    non_negative_head: bool = False,
    pool_first: bool = True,
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
    dtype: str = "float32",
) -> keras.Model:
    """Build the GAP network that class activation maps are read from.

    Each block is a few 3x3 convolutions (batch-normalised, ReLU) whose last
    one is max-pooled 2x2; then the ``top`` convolutions, ``last_conv`` (3x3,
    ReLU), global average pooling and ``Dense(10, sigmoid)``. The model takes
    raw canvases, uint8 0-255 of shape ``(N, 32, 128)`` or ``(N, 32, 128, 1)``,
    and scales them itself.

    Parameters
    ----------
    blocks : sequence of sequences of int
        Filters of each convolution, block by block; the last one of each block pools.
    last_filters : int
        Feature maps of ``last_conv`` (the maps CAM weighs).
    top : sequence of int
        Filters of further 3x3 convolutions (batch-normalised, ReLU) after
        the last pooling, at the resolution of ``last_conv``.
    dropout : float
        Dropout rate between the pooling and the dense layer (training only).
    batch_norm : bool
        Batch-normalise every convolution before ``last_conv``.
    fold : int
        Fold ``fold x fold`` pixel patches into channels first (see
        :func:`fold_patches`); 1 keeps the canvas as it is.
    head_activation : {"sigmoid", "softmax"}
        The output activation: sigmoid for multi-label (the default); softmax
        only to show, in notebook 02, why it does not fit.
    non_negative_head : bool
        Keep the Dense kernel non-negative (``keras.constraints.NonNeg``), so
        a class score can only gather evidence: global average pooling then
        adds up each product's evidence instead of letting the other products
        of a composite cancel it, and every class activation map is
        non-negative. The kernel starts small and positive and the bias at -1
        (a probability of 0.27, near the one-in-three rate of each label).
    pool_first : bool
        Max-pool the last convolution of each block before its batch norm
        and ReLU (see :func:`conv_bn_relu`); False pools after the ReLU, the
        usual order (``benchmarks/bench_training.py --pooling`` compares the two).
    input_shape : tuple
        Canvas height, width and channels.
    dtype : {"float32", "mixed_bfloat16"}
        The Keras dtype policy of the convolutions, their batch norms,
        ReLUs and poolings. ``"mixed_bfloat16"`` keeps float32 weights and
        computes in bfloat16: for training on processors with bfloat16
        instructions (see :func:`training_dtype`). The input scaling, the
        fold and ``predictions`` always compute in float32.

    Returns
    -------
    keras.Model
        Uncompiled; its layers include ``last_conv``, ``gap`` and ``predictions``.
    """
    if dtype not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"dtype must be 'float32' or 'mixed_bfloat16'; got {dtype!r}")
    if head_activation not in ("sigmoid", "softmax"):
        raise ValueError(f"head_activation must be 'sigmoid' or 'softmax'; got {head_activation!r}")
    inputs = keras.Input(shape=input_shape, name="canvas")  # Keras adds a missing channel axis
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)  # float32: 1/255 in bfloat16 would be 1/256
    if fold > 1:
        x = fold_patches(fold)(x)
    for b, filters_of_block in enumerate(blocks, start=1):
        for c, filters in enumerate(filters_of_block, start=1):
            x = conv_bn_relu(x, filters, f"block{b}", c, batch_norm, pool=pool_first and c == len(filters_of_block), dtype=dtype)
        if not pool_first:
            x = layers.MaxPooling2D(2, name=f"block{b}_pool", dtype=dtype)(x)
    for t, filters in enumerate(top, start=1):
        x = conv_bn_relu(x, filters, "top", t, batch_norm, dtype=dtype)
    x = layers.Conv2D(last_filters, 3, padding="same", activation="relu", name=LAST_CONV, dtype=dtype)(x)
    x = layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout", dtype=dtype)(x)
    head = {}
    if non_negative_head:
        head = {
            "kernel_constraint": keras.constraints.NonNeg(),
            "kernel_initializer": keras.initializers.RandomUniform(0.0, 0.02),
            "bias_initializer": keras.initializers.Constant(-1.0),
        }
    outputs = layers.Dense(NUM_CLASSES, activation=head_activation, name="predictions", **head)(x)
    return keras.Model(inputs, outputs, name="gap_cnn")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run, besides the seed.

    Attributes
    ----------
    blocks, last_filters, top, dropout, batch_norm, fold, non_negative_head, pool_first
        The architecture, as in :func:`build_gap_cnn`.
    epochs : int
        Passes over ``composites_per_epoch`` composites.
    batch_size : int
    learning_rate : float
        Peak learning rate of AdamW, reached after a one-epoch warm-up and
        decayed to zero along a cosine.
    weight_decay : float
    fresh_composites : bool
        Draw new training composites every epoch from the training pool
        (54,000 products) instead of reusing the fixed 9,000.
    composites_per_epoch : int
    patience : int or None
        Stop after this many epochs without a better validation exact match
        (the best weights are kept either way).
    optimizer : {"adamw", "adam"}
        AdamW with warm-up and cosine decay, or plain Adam at a fixed rate.
    jit_compile : bool
        Compile the training step with XLA.
    bfloat16 : bool
        Compute in bfloat16 while training, where the processor has bfloat16
        instructions (see :func:`training_dtype`); the trained network is
        handed back in float32 either way.
    """

    blocks: tuple[tuple[int, ...], ...] = ((32, 48), (96,))
    last_filters: int = 192
    top: tuple[int, ...] = (128,)
    dropout: float = 0.0
    batch_norm: bool = True
    fold: int = 2
    non_negative_head: bool = True
    pool_first: bool = True
    epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    fresh_composites: bool = True
    composites_per_epoch: int = 9_000
    patience: int | None = None
    optimizer: str = "adamw"
    jit_compile: bool = False
    bfloat16: bool = True

    def build(self, dtype: str = "float32") -> keras.Model:
        """Build this recipe's (uncompiled) network with the Keras dtype policy ``dtype``."""
        return build_gap_cnn(
            self.blocks, self.last_filters, self.top, self.dropout, self.batch_norm, self.fold,
            non_negative_head=self.non_negative_head, pool_first=self.pool_first, dtype=dtype,
        )


def native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the processor multiplies bfloat16 natively (x86 flags ``avx512_bf16`` or ``amx_bf16``).

    Read from ``cpuinfo`` (Linux); False where it cannot be read. Without
    these instructions bfloat16 is emulated, slower than float32.
    """
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN kernels are on: unless ``TF_ENABLE_ONEDNN_OPTS`` is ``0`` or ``false``.

    Only they compute bfloat16 fast; without them a bfloat16 training step
    of the default network runs about ten times slower than a float32 one
    (``benchmarks/bench_training.py --precision`` with ``TF_ENABLE_ONEDNN_OPTS=0``).
    """
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() not in ("0", "false")


def training_dtype(recipe: Recipe) -> str:
    """The dtype policy ``recipe`` trains with.

    ``"mixed_bfloat16"`` if the recipe asks for it, training runs on the CPU
    (no GPU visible to TensorFlow: not every GPU has fast bfloat16), the
    processor has bfloat16 instructions and oneDNN is on; ``"float32"``
    otherwise.
    """
    on_cpu = not tf.config.list_physical_devices("GPU")
    fast = on_cpu and native_bfloat16() and onednn_enabled()
    return "mixed_bfloat16" if recipe.bfloat16 and fast else "float32"


def float32_copy(network: keras.Model, recipe: Recipe) -> keras.Model:
    """The same network and weights with every layer in float32, as it is saved and used for maps."""
    copy = recipe.build("float32")
    copy.set_weights(network.get_weights())
    return copy


RECIPES: dict[str, Recipe] = {
    "default": Recipe(),
    # Binder's single CPU: a third of the composites per epoch.
    "light": Recipe(composites_per_epoch=3_000),
    # The shipped model: the same layers, wider (2.2 M parameters), trained longer.
    "best": Recipe(blocks=((48, 96), (192,)), top=(384,), last_filters=384, epochs=64),
    # The 2018 study: 5 x [Conv2D(32) + MaxPool] -> GAP -> Dense; Adam, batch 32, fixed composites.
    "study": Recipe(
        blocks=((32,), (32,), (32,), (32,)),
        last_filters=32,
        top=(),
        batch_norm=False,
        fold=1,
        non_negative_head=False,
        epochs=100,
        batch_size=32,
        learning_rate=1e-3,
        weight_decay=0.0,
        fresh_composites=False,
        patience=10,
        optimizer="adam",
    ),
}


def draw_epoch(
    images: np.ndarray, classes: np.ndarray, pool: np.ndarray, count: int, seed: int, epoch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one epoch's fresh training composites.

    Epoch ``e`` uses ``numpy.random.default_rng([seed, e])``, so a run is
    repeatable while the network never sees the same composite twice.

    Parameters
    ----------
    images, classes : arrays
        The Fashion-MNIST training split.
    pool : int array
        The indices that may be used (never the validation pool).
    count, seed, epoch : int

    Returns
    -------
    images : uint8 array (count, 32, 128)
    labels : float32 array (count, 10), multi-hot
    """
    drawn = compose(images, classes, pool, count, np.random.default_rng([seed, int(epoch)]))
    return drawn.images, drawn.labels.astype(np.float32)


def fresh_composite_batches(
    images: np.ndarray,
    classes: np.ndarray,
    pool: np.ndarray,
    count: int,
    batch_size: int,
    seed: int,
    epochs: int,
) -> tf.data.Dataset:
    """Training batches for ``epochs`` epochs, ``count`` fresh composites each.

    Each epoch is drawn whole by :func:`draw_epoch` (9,000 composites take
    about 0.3 s) and cut into batches by ``tf.data``. This runs twice as fast
    as a ``keras.utils.PyDataset`` that hands over one batch per Python call
    (``benchmarks/bench_training.py --pipelines``). Pass it to ``Model.fit``
    with ``steps_per_epoch=ceil(count / batch_size)``.

    Parameters
    ----------
    images, classes, pool, count, seed
        As in :func:`draw_epoch`.
    batch_size : int
    epochs : int
        Epochs to draw; epoch ``e`` is ``draw_epoch(..., epoch=e)``.

    Returns
    -------
    tf.data.Dataset
        ``(canvases, labels)`` batches, epoch after epoch.
    """
    height, width = DEFAULT_SLOT, DEFAULT_SLOT * DEFAULT_ITEMS  # compose's default canvas

    def epoch_arrays(epoch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = tf.numpy_function(
            lambda e: draw_epoch(images, classes, pool, count, seed, e), [epoch], (tf.uint8, tf.float32)
        )
        return tf.ensure_shape(x, (count, height, width)), tf.ensure_shape(y, (count, NUM_CLASSES))

    return (
        tf.data.Dataset.range(epochs)
        .flat_map(lambda epoch: tf.data.Dataset.from_tensor_slices(epoch_arrays(epoch)).batch(batch_size))
        .prefetch(2)
    )


class Validation(keras.callbacks.Callback):
    """Add ``val_loss``, ``val_per_label_accuracy`` and ``val_exact_match`` (at 0.5) to the epoch logs.

    One prediction pass gives all three, half the work of ``Model.fit``'s
    ``validation_data`` followed by a second pass for exact match.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.images, self.labels, self.present = images, labels.astype(np.float32), labels.astype(bool)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        probabilities = self.model.predict(self.images, batch_size=500, verbose=0)
        right = (probabilities >= 0.5) == self.present
        loss = self.model.loss(keras.ops.convert_to_tensor(self.labels), keras.ops.convert_to_tensor(probabilities))
        logs["val_loss"] = float(keras.ops.convert_to_numpy(loss))
        logs["val_per_label_accuracy"] = float(np.mean(right))
        logs["val_exact_match"] = float(np.mean(np.all(right, axis=1)))


def compile_for(model: keras.Model, recipe: Recipe, total_steps: int, warmup_steps: int) -> None:
    """Compile ``model`` with the recipe's optimiser and learning-rate schedule."""
    if recipe.optimizer == "adam":
        optimizer = keras.optimizers.Adam(recipe.learning_rate)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total_steps - warmup_steps, warmup_target=recipe.learning_rate, warmup_steps=warmup_steps
        )
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="per_label_accuracy")],
        jit_compile=recipe.jit_compile,
    )


def train(
    recipe: Recipe,
    train: Composites,
    val: Composites,
    *,
    seed: int = 0,
    fashion_train: tuple[np.ndarray, np.ndarray] | None = None,
    pool: np.ndarray | None = None,
    verbose: int | str = 2,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train a network with ``recipe``, repeatably.

    Parameters
    ----------
    recipe : Recipe
    train, val : Composites
        The fixed training composites (used unless the recipe draws fresh
        ones) and the validation composites (which choose the best epoch).
    seed : int
        Seeds Keras, numpy and the fresh composites.
    fashion_train : (images, classes), optional
        The Fashion-MNIST training split; needed for fresh composites.
    pool : int array, optional
        The training pool for fresh composites (see
        :func:`helpers.composite.source_pools`).
    verbose : int or str
        Passed to ``Model.fit``: 2 prints one line per epoch.
    callbacks : sequence
        Extra Keras callbacks.

    Returns
    -------
    model, history
        The network with the weights of its best validation epoch, uncompiled
        and in float32 whatever :func:`training_dtype` trained it in, and the
        per-epoch logs of the network as it trained (``loss``,
        ``per_label_accuracy``, ``val_loss``, ``val_per_label_accuracy``,
        ``val_exact_match``, ``seconds``).
    """
    keras.utils.set_random_seed(seed)
    if recipe.fresh_composites and (fashion_train is None or pool is None):
        raise ValueError("fresh composites need fashion_train=(images, classes) and the training pool")
    if recipe.fresh_composites:
        steps = -(-recipe.composites_per_epoch // recipe.batch_size)
        batches = fresh_composite_batches(
            *fashion_train, pool, recipe.composites_per_epoch, recipe.batch_size, seed, recipe.epochs
        )
        fit_args = {"x": batches, "steps_per_epoch": steps, "shuffle": False}
    else:
        fit_args = {"x": train.images, "y": train.labels.astype(np.float32), "batch_size": recipe.batch_size, "shuffle": True}
        steps = -(-len(train) // recipe.batch_size)
    dtype = training_dtype(recipe)
    model = recipe.build(dtype)
    compile_for(model, recipe, recipe.epochs * steps, warmup_steps=steps)
    with native_stderr_silenced():
        history = model.fit(
            **fit_args,
            epochs=recipe.epochs,
            callbacks=[
                Validation(val.images, val.labels),
                EpochTimer(),
                BestWeights("val_exact_match", patience=recipe.patience),
                *callbacks,
            ],
            verbose=verbose,
        ).history
    return float32_copy(model, recipe), history


class EpochTimer(keras.callbacks.Callback):
    """Add ``seconds`` (wall time since training began) to the epoch logs."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["seconds"] = time.perf_counter() - self.start


class BestWeights(keras.callbacks.EarlyStopping):
    """Keep the weights of the best epoch; stop early only if ``patience`` is set."""

    def __init__(self, monitor: str, patience: int | None):
        super().__init__(monitor=monitor, mode="max", patience=patience or 10**9, restore_best_weights=True, verbose=0)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        super().on_train_end(logs)


def save(model: keras.Model, path: Path) -> Path:
    """Save ``model`` to a ``.keras`` file atomically (temporary file, then rename)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras; got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial.keras")
    try:
        model.save(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def load(path: Path) -> keras.Model:
    """Load a ``.keras`` model in Keras' safe mode (no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}; train one with `python -m helpers train`")
    return keras.saving.load_model(path, safe_mode=True, compile=False)


LIGHT_ENV = "CAM_TUTORIAL_LIGHT"


def recipe_for_this_machine() -> tuple[str, Recipe]:
    """Return the recipe notebook 03 trains: ``light`` where ``CAM_TUTORIAL_LIGHT=1`` (Binder), else ``default``."""
    name = "light" if os.environ.get(LIGHT_ENV) == "1" else "default"
    return name, RECIPES[name]
