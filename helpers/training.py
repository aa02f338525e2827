"""Training: the precision choice, the fresh-composite pipeline, the callbacks and :func:`train`.

:func:`train` is the one trainer of the series (notebooks 02 and 03, the
command line, the benchmarks), each run with a :class:`helpers.recipes.Recipe`.
It needs the TensorFlow backend (``tf.data``, the device query, the precision).
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import DisplayHandle
from matplotlib.figure import Figure
from tqdm import tqdm

from helpers._checks import TRAINING_CANVAS, check_canvases, check_choice, check_scalar
from helpers.activations import HEADS, targets_for
from helpers.composite import (
    DEFAULT_ITEMS,
    DEFAULT_SLOT,
    EMPTY,
    PRODUCT,
    Composites,
    compose,
    flip_products,
    source_pools,
)
from helpers.fashion import NUM_CLASSES
from helpers.fashion import load as load_fashion
from helpers.model import DTYPES
from helpers.quiet import native_stderr_silenced
from helpers.recipes import Recipe

CPUINFO = Path("/proc/cpuinfo")


# --- precision ----------------------------------------------------------------


def native_bfloat16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the processor multiplies bfloat16 natively (x86 flags ``avx512_bf16`` or ``amx_bf16``).

    Read from ``cpuinfo`` (Linux); False where it cannot be read. Without
    these instructions bfloat16 is emulated, slower than float32.
    """
    try:
        flags = Path(cpuinfo).read_text()
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


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU."""
    return bool(tf.config.list_physical_devices("GPU"))


def training_dtype(recipe: Recipe, cpuinfo: Path = CPUINFO) -> str:
    """The dtype policy ``recipe`` trains with.

    ``"mixed_bfloat16"`` if the recipe asks for it, training runs on the CPU
    (no visible GPU: not every GPU has fast bfloat16), the processor has
    bfloat16 instructions (read from ``cpuinfo``) and oneDNN is on;
    ``"float32"`` otherwise.
    """
    fast = not gpu_visible() and native_bfloat16(cpuinfo) and onednn_enabled()
    return "mixed_bfloat16" if recipe.bfloat16 and fast else "float32"


def float32_copy(network: keras.Model, recipe: Recipe) -> keras.Model:
    """The same network and weights with every layer in float32, as it is saved and used for maps."""
    copy = recipe.build("float32")
    copy.set_weights(network.get_weights())
    return copy


# --- fresh composites ---------------------------------------------------------


def draw_epoch(
    images: np.ndarray,
    classes: np.ndarray,
    pool: np.ndarray,
    count: int,
    seed: int,
    epoch: int,
    *,
    flip: bool = False,
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
    flip : bool, default False
        Mirror each product left-right with probability 1/2
        (:func:`helpers.composite.flip_products`), drawn after the
        composites, so the composites themselves are those drawn without it.

    Returns
    -------
    images : uint8 array (count, 32, 128)
    labels : float32 array (count, 10), multi-hot
    """
    rng = np.random.default_rng([seed, int(epoch)])
    drawn = compose(images, classes, pool, count, rng)
    canvases = drawn.images
    if flip:
        canvases = flip_products(canvases, drawn.boxes, rng.random(drawn.items.shape) < 0.5)
    return canvases, drawn.labels.astype(np.float32)


def fresh_composite_batches(
    images: np.ndarray,
    classes: np.ndarray,
    pool: np.ndarray,
    count: int,
    batch_size: int,
    seed: int,
    epochs: int,
    *,
    flip: bool = False,
) -> tf.data.Dataset:
    """Training batches for ``epochs`` epochs, ``count`` fresh composites each.

    Each epoch is drawn whole by :func:`draw_epoch` (9,000 composites take
    about 0.3 s) and cut into batches by ``tf.data``. This runs twice as fast
    as a ``keras.utils.PyDataset`` that hands over one batch per Python call
    (``benchmarks/bench_training.py --pipelines``). Pass it to ``Model.fit``
    with ``steps_per_epoch=ceil(count / batch_size)``.

    Parameters
    ----------
    images, classes, pool, count, seed, flip
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
            lambda e: draw_epoch(images, classes, pool, count, seed, e, flip=flip),
            [epoch],
            (tf.uint8, tf.float32),
        )
        return tf.ensure_shape(x, (count, height, width)), tf.ensure_shape(y, (count, NUM_CLASSES))

    return (
        tf.data.Dataset.range(epochs)
        .flat_map(
            lambda epoch: tf.data.Dataset.from_tensor_slices(epoch_arrays(epoch)).batch(batch_size)
        )
        .prefetch(2)
    )


# --- callbacks ----------------------------------------------------------------


class Validation(keras.callbacks.Callback):
    """Add ``val_loss``, ``val_per_label_accuracy`` and ``val_exact_match`` (at 0.5) to the epoch logs.

    One prediction pass gives all three, half the work of ``Model.fit``'s
    ``validation_data`` followed by a second pass for exact match. The loss
    is the one ``head`` trains with, on that head's targets.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, head: str = "sigmoid"):
        super().__init__()
        self.images, self.present = images, labels.astype(bool)
        self.targets, self.loss = targets_for(head, labels), keras.losses.get(HEADS[head])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        probabilities = self.model.predict(self.images, batch_size=500, verbose=0)
        right = (probabilities >= 0.5) == self.present
        losses = self.loss(
            keras.ops.convert_to_tensor(self.targets), keras.ops.convert_to_tensor(probabilities)
        )
        logs["val_loss"] = float(np.mean(keras.ops.convert_to_numpy(losses)))
        logs["val_per_label_accuracy"] = float(np.mean(right))
        logs["val_exact_match"] = float(np.mean(np.all(right, axis=1)))


class EpochTimer(keras.callbacks.Callback):
    """Add ``seconds`` (wall time since training began) to the epoch logs."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["seconds"] = time.perf_counter() - self.start


class BestWeights(keras.callbacks.EarlyStopping):
    """Keep the weights of the best epoch; stop early only if ``patience`` is set."""

    def __init__(self, monitor: str, patience: int | None):
        super().__init__(
            monitor=monitor,
            mode="max",
            patience=patience or 10**9,
            restore_best_weights=True,
            verbose=0,
        )

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        super().on_train_end(logs)


class LiveProgress(keras.callbacks.Callback):
    """Show a training run as it happens: a progress line and a figure, both redrawn every epoch.

    The line gives the epoch, elapsed time, tqdm's estimate of the time left and
    the last validation exact match. Each lives in one display slot, so a notebook
    keeps the last line and figure, not a log line per epoch (pass ``verbose=0``).

    Parameters
    ----------
    draw : callable
        Takes the history so far (per-epoch lists, as :func:`train` returns
        them) and returns a Figure, e.g. :func:`helpers.plots.training_history`.
    label : str
        Written before the progress line, e.g. which run this is.
    """

    def __init__(self, draw: Callable[[dict[str, list[float]]], Figure], label: str = "training"):
        super().__init__()
        self.draw, self.label, self.line = draw, label, ""  # line: the latest progress line

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history: dict[str, list[float]] = {}
        self.start, self.epochs = time.perf_counter(), self.params["epochs"]
        self.progress, self.figure = DisplayHandle(), DisplayHandle()
        self.progress.display(self._bundle(0), raw=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.progress.update(self._bundle(epoch + 1), raw=True)
        # Interactive pyplot under Jupyter's inline backend queues every new figure until the
        # cell ends, and training is one cell: drawn with it off, each figure goes when closed.
        with plt.ioff():
            figure = self.draw(self.history)
        (self.figure.display if epoch == 0 else self.figure.update)(figure)
        plt.close(figure)

    def _bundle(self, done: int) -> dict[str, str]:
        meter = tqdm.format_meter(
            done, self.epochs, time.perf_counter() - self.start, unit="epoch", ncols=0
        )
        score = self.history.get("val_exact_match")
        self.line = f"{self.label}: {meter}" + (
            f", validation exact match {score[-1]:.3f}" if score else ""
        )
        bar = f"<progress value='{done}' max='{self.epochs}' style='width: 16em'></progress>"
        return {
            "text/plain": self.line,
            "text/html": f"{bar} <code>{html.escape(self.line)}</code>",
        }


# --- training -----------------------------------------------------------------


def _training_split(fashion: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``fashion`` is one Fashion-MNIST split, (images (M, 28, 28), classes (M,)); return it."""
    try:
        images, classes = (np.asarray(part) for part in fashion)
        fits = (
            images.ndim == 3
            and images.shape[1:] == (PRODUCT, PRODUCT)
            and classes.shape == images.shape[:1]
        )
    except (TypeError, ValueError):  # not a pair, or a pair of splits
        fits = False
    if not fits:
        raise ValueError(
            "fashion must be the Fashion-MNIST training split (images, classes), as helpers.fashion.load()[0] gives it"
        )
    return images, classes


def compile_for(model: keras.Model, recipe: Recipe, total_steps: int, warmup_steps: int) -> None:
    """Compile ``model`` with the recipe's optimiser, learning-rate schedule and its head's loss.

    AdamW warms up linearly to ``recipe.learning_rate`` over ``warmup_steps``
    and then decays along a cosine to zero at ``total_steps`` (notebook 03
    writes the same ``compile`` out); the ``"adam"`` recipes keep a fixed rate.
    Without XLA: at these sizes compiling costs more than it saves.
    """
    if recipe.optimizer == "adam":
        optimizer = keras.optimizers.Adam(recipe.learning_rate)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0,
            total_steps - warmup_steps,
            warmup_target=recipe.learning_rate,
            warmup_steps=warmup_steps,
        )
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay)
    # softmax targets are shares, not yes/no answers: no per-label accuracy for them
    metrics = [keras.metrics.BinaryAccuracy(name="per_label_accuracy")]
    model.compile(
        optimizer=optimizer,
        loss=HEADS[recipe.head],
        metrics=metrics if recipe.head == "sigmoid" else [],
        jit_compile=False,
    )


def train(
    recipe: Recipe,
    train: Composites,
    val: Composites,
    *,
    fashion: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    dtype: str | None = None,
    verbose: int | str = 2,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train a network with ``recipe``, repeatably.

    Parameters
    ----------
    recipe : Recipe
    train, val : Composites
        The fixed training composites (used unless the recipe draws fresh
        ones) and the validation composites (logged every epoch; they choose
        the best epoch where the recipe keeps it).
    fashion : (images, classes), optional
        The Fashion-MNIST training split that fresh composites are drawn
        from (``helpers.fashion.load()[0]``); loaded when not given.
    seed : int
        Seeds Keras, numpy and the fresh composites, and names the training
        pool they come from (:func:`helpers.composite.source_pools`): the
        seed ``train`` and ``val`` were built with.
    dtype : {"float32", "mixed_bfloat16"}, optional
        The policy to compute in while training; by default
        :func:`training_dtype` chooses it.
    verbose : int or str
        Passed to ``Model.fit``: 2 prints one line per epoch; 0 nothing
        (give a :class:`LiveProgress` in ``callbacks`` instead, in a notebook).
    callbacks : sequence
        Extra Keras callbacks.

    Returns
    -------
    model, history
        The network, uncompiled and in float32 whatever it trained in, with
        the weights of its best validation epoch (or of its last, if the
        recipe says so); and the per-epoch logs (``loss``,
        ``per_label_accuracy`` for a sigmoid head, ``val_loss``,
        ``val_per_label_accuracy``, ``val_exact_match``, ``seconds``).

    Raises
    ------
    ValueError
        For an unknown ``dtype``, a negative seed, images that are not raw
        uint8 canvases of 32 x 128 pixels, a ``fashion`` that is not the
        training split, or a seed whose training pool holds validation products.
    """
    dtype = training_dtype(recipe) if dtype is None else check_choice(dtype, "dtype", DTYPES)
    check_scalar(seed, "seed", low=0)
    # raw uint8 of the size the series trains on: the maps and scores of helpers take no other
    why = "the canvas the series trains on; its maps and scores refuse any other"
    check_canvases(train.images, *TRAINING_CANVAS, "train.images", why=why)
    check_canvases(val.images, *TRAINING_CANVAS, "val.images", why=why)
    keras.utils.set_random_seed(seed)
    if recipe.fresh_composites:
        images, classes = _training_split(load_fashion()[0] if fashion is None else fashion)
        pool = source_pools(seed)["train"]
        if np.isin(val.sources[val.sources != EMPTY], pool).any():
            raise ValueError(
                f"the training pool of seed {seed} holds products of the validation composites; "
                "train with the seed the splits were built with"
            )
        steps = -(-recipe.composites_per_epoch // recipe.batch_size)
        batches = fresh_composite_batches(
            images,
            classes,
            pool,
            recipe.composites_per_epoch,
            recipe.batch_size,
            seed,
            recipe.epochs,
            flip=recipe.flip,
        )
        fit_args = {"x": batches, "steps_per_epoch": steps, "shuffle": False}
    else:
        targets = targets_for(recipe.head, train.labels)
        fit_args = {
            "x": train.images,
            "y": targets,
            "batch_size": recipe.batch_size,
            "shuffle": True,
        }
        steps = -(-len(train) // recipe.batch_size)
    model = recipe.build(dtype)
    compile_for(model, recipe, recipe.epochs * steps, warmup_steps=steps)
    best = (
        [BestWeights("val_exact_match", patience=recipe.patience)] if recipe.keep_best_epoch else []
    )
    with native_stderr_silenced():
        history = model.fit(
            **fit_args,
            epochs=recipe.epochs,
            callbacks=[
                Validation(val.images, val.labels, recipe.head),
                EpochTimer(),
                *best,
                *callbacks,
            ],
            verbose=verbose,
        ).history
    return float32_copy(model, recipe), history
