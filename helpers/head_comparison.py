"""Softmax vs sigmoid heads on the same network: training and decoding (notebook 02).

The same small GAP network is trained twice with the same budget: once with a
softmax head and categorical cross-entropy on targets ``y / sum(y)`` (what a
multi-class recipe does with a multi-label problem), once with a sigmoid head
and binary cross-entropy on the multi-hot targets. Probabilities become label
sets by a threshold, or, as an upper bound no real decoder reaches, by taking
the ``k`` most probable classes where ``k`` is the true number of labels.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from helpers import evaluation, model
from helpers.composite import DEFAULT_ITEMS, DEFAULT_SLOT
from helpers.fashion import NUM_CLASSES
from helpers.quiet import native_stderr_silenced

CANVAS = (DEFAULT_SLOT, DEFAULT_SLOT * DEFAULT_ITEMS)

HEADS: dict[str, str] = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}
"""Each head's activation and the loss it is trained with."""

SCORES = ("exact_match", "per_label_accuracy", "label_count_accuracy", "micro_f1")
"""The scores :func:`scores` returns, honest ones first."""


@dataclass(frozen=True)
class Budget:
    """The training budget both heads get, identical but for the head.

    The default is short (about 27,000 composites seen, a minute or two per
    head on a laptop CPU): enough to compare the heads, far from a finished
    network. Three passes over all 9,000 training composites generalise
    better than eight over 3,000 for about the same cost.

    Attributes
    ----------
    train_size : int
        The first ``train_size`` training composites are used.
    epochs, batch_size : int
    learning_rate : float
        Adam's (constant) learning rate.
    blocks, last_filters
        The architecture, as in :func:`helpers.model.build_gap_cnn`, after a 2 x 2 fold
        and with no ``top`` convolutions.
    """

    train_size: int = 9_000
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 2e-3
    blocks: tuple[tuple[int, ...], ...] = ((16, 32), (64,))
    last_filters: int = 128

    def __post_init__(self) -> None:
        for name in ("train_size", "epochs", "batch_size", "last_filters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive; got {self.learning_rate!r}")


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"head must be one of {list(HEADS)}; got {head!r}")


def _check_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != NUM_CLASSES:
        raise ValueError(f"{name} must have shape (N, {NUM_CLASSES}); got {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return labels


def _check_probabilities(y_prob: np.ndarray) -> np.ndarray:
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_prob.ndim != 2 or y_prob.shape[1] != NUM_CLASSES:
        raise ValueError(f"y_prob must have shape (N, {NUM_CLASSES}); got {y_prob.shape}")
    if not ((y_prob >= 0) & (y_prob <= 1)).all():
        raise ValueError("y_prob must hold probabilities in [0, 1]")
    return y_prob


def targets_for(head: str, labels: np.ndarray) -> np.ndarray:
    """Return the training targets of ``head`` for multi-hot ``labels``.

    Parameters
    ----------
    head : {"softmax", "sigmoid"}
    labels : array (N, 10) of 0/1
        Every row needs at least one label.

    Returns
    -------
    float32 array (N, 10)
        The multi-hot labels for the sigmoid head; for the softmax head each
        row divided by its label count (``y / sum(y)``), so it sums to 1.

    Raises
    ------
    ValueError
        For an unknown head, labels of another shape or values, or a row
        without labels.

    Examples
    --------
    >>> targets_for("softmax", np.eye(10, dtype=int)[[1]] + np.eye(10, dtype=int)[[8]])[0, [1, 8]]
    array([0.5, 0.5], dtype=float32)
    """
    _check_head(head)
    labels = _check_labels(labels).astype(np.float32)
    counts = labels.sum(axis=1, keepdims=True)
    if (counts == 0).any():
        raise ValueError("every row of labels needs at least one label")
    return labels / counts if head == "softmax" else labels


def train_head(
    head: str,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    budget: Budget = Budget(),
    seed: int = 0,
    verbose: int | str = 2,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train the small GAP network with one head, repeatably.

    Parameters
    ----------
    head : {"softmax", "sigmoid"}
        Softmax trains with categorical cross-entropy on ``y / sum(y)``;
        sigmoid with binary cross-entropy on ``y``.
    images : uint8 array (N, 32, 128)
        Training composites; the first ``budget.train_size`` are used
        (all of them if there are fewer).
    labels : array (N, 10) of 0/1
        Their multi-hot labels.
    budget : Budget
        Architecture, data size, epochs, batch size and learning rate.
    seed : int
        Passed to ``keras.utils.set_random_seed`` before the network is built.
    verbose : int or str
        Passed to ``Model.fit``: 2 prints one line per epoch, 0 nothing.

    Returns
    -------
    model, history
        The trained network (Adam, XLA-compiled) and its per-epoch logs
        (``loss`` and ``seconds``, the wall time since training began).

    Raises
    ------
    ValueError
        For an unknown head, or images and labels that do not fit together.
    """
    _check_head(head)
    labels = _check_labels(labels)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape != (len(labels), *CANVAS):
        raise ValueError(
            f"images must be uint8 of shape (N, {CANVAS[0]}, {CANVAS[1]}) with N = len(labels) = {len(labels)}; "
            f"got {images.dtype} {images.shape}"
        )
    x, y = images[: budget.train_size], targets_for(head, labels[: budget.train_size])
    keras.utils.set_random_seed(seed)
    network = model.build_gap_cnn(budget.blocks, budget.last_filters, top=(), fold=2, head_activation=head)
    network.compile(optimizer=keras.optimizers.Adam(budget.learning_rate), loss=HEADS[head], jit_compile=True)
    start, seconds = time.perf_counter(), []
    clock = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seconds.append(time.perf_counter() - start))
    with native_stderr_silenced():  # XLA's native start-up lines, not Keras' progress
        history = network.fit(
            x, y, batch_size=budget.batch_size, epochs=budget.epochs, shuffle=True, verbose=verbose, callbacks=[clock]
        )
    return network, {**history.history, "seconds": seconds}


def decode_threshold(y_prob: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """Predict every label whose probability is at least ``threshold``.

    Parameters
    ----------
    y_prob : array (N, 10) of probabilities
    threshold : float or array (10,)
        One value, or one per class, each in (0, 1).

    Returns
    -------
    uint8 array (N, 10)
        The predicted multi-hot label sets.

    Raises
    ------
    ValueError
        For probabilities of another shape or outside [0, 1], or a threshold
        outside (0, 1).
    """
    y_prob = _check_probabilities(y_prob)
    values = np.asarray(threshold, dtype=np.float64)
    if values.shape not in ((), (NUM_CLASSES,)) or not ((values > 0) & (values < 1)).all():
        raise ValueError(f"threshold must be in (0, 1), one value or one per class; got {threshold}")
    return (y_prob >= values).astype(np.uint8)


def decode_top_k(y_prob: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """Predict the ``k`` most probable labels of every row.

    With ``k`` the *true* label count this is an oracle: it is told how many
    labels each image has, which no real decoder knows. It measures how well
    the probabilities *rank* the classes, whatever their scale.

    Parameters
    ----------
    y_prob : array (N, 10) of probabilities
    k : int or int array (N,)
        Labels to predict per row, from 1 to 10.

    Returns
    -------
    uint8 array (N, 10)
        Exactly ``k[i]`` ones in row ``i`` (ties broken by class order).

    Raises
    ------
    ValueError
        For probabilities of another shape, or a ``k`` out of range or of
        another length.

    Examples
    --------
    >>> decode_top_k(np.array([[0.4, 0.1, 0.3, 0, 0, 0, 0, 0, 0.2, 0]]), 2)
    array([[1, 0, 1, 0, 0, 0, 0, 0, 0, 0]], dtype=uint8)
    """
    y_prob = _check_probabilities(y_prob)
    k = np.broadcast_to(np.asarray(k), (len(y_prob),)) if np.ndim(k) == 0 else np.asarray(k)
    if k.shape != (len(y_prob),) or not np.issubdtype(k.dtype, np.integer) or not ((k >= 1) & (k <= NUM_CLASSES)).all():
        raise ValueError(f"k must be one integer or one per row ({len(y_prob)}), each from 1 to {NUM_CLASSES}; got {k!r}")
    rank = np.argsort(np.argsort(-y_prob, axis=1, kind="stable"), axis=1, kind="stable")
    return (rank < k[:, None]).astype(np.uint8)


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Score predicted label sets with :func:`helpers.evaluation.report`.

    Parameters
    ----------
    y_true, y_pred : arrays (N, 10) of 0/1
        The true and the predicted label sets.

    Returns
    -------
    dict
        The :data:`SCORES`: ``exact_match``, ``per_label_accuracy``,
        ``label_count_accuracy`` and ``micro_f1``.

    Raises
    ------
    ValueError
        For arrays of another shape, or values other than 0 and 1.
    """
    y_pred = _check_labels(y_pred, "y_pred")
    result = evaluation.report(_check_labels(y_true, "y_true"), y_pred.astype(np.float64), threshold=0.5)
    return {name: result[name] for name in SCORES}


def threshold_sweep(y_true: np.ndarray, y_prob: np.ndarray, grid: Sequence[float] | None = None) -> pd.DataFrame:
    """Score one global threshold after another.

    Parameters
    ----------
    y_true : array (N, 10) of 0/1
    y_prob : array (N, 10) of probabilities
    grid : sequence of float, optional
        Thresholds in (0, 1); default 0.01, 0.02, ..., 0.99.

    Returns
    -------
    pandas.DataFrame
        One row per threshold (the index, ``threshold``), one column per
        score of :func:`scores`.
    """
    grid = np.round(np.linspace(0.01, 0.99, 99), 2) if grid is None else np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or len(grid) == 0:
        raise ValueError(f"grid must be a non-empty sequence of thresholds; got shape {grid.shape}")
    rows = [scores(y_true, decode_threshold(y_prob, threshold)) for threshold in grid]
    return pd.DataFrame(rows, index=pd.Index(grid, name="threshold"))


def best_threshold(y_true: np.ndarray, y_prob: np.ndarray, grid: Sequence[float] | None = None) -> float:
    """Return the global threshold with the best exact match (use validation data).

    Parameters
    ----------
    y_true, y_prob, grid
        As in :func:`threshold_sweep`.

    Returns
    -------
    float
        The threshold; of tied ones, the first in ``grid`` (the lowest, for
        the default grid).
    """
    sweep = threshold_sweep(y_true, y_prob, grid)
    return float(sweep["exact_match"].idxmax())


def comparison(y_true: np.ndarray, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
    """Score several decoded predictions side by side.

    Parameters
    ----------
    y_true : array (N, 10) of 0/1
    predictions : dict
        A name (e.g. ``"sigmoid, threshold 0.5"``) for each array (N, 10)
        of predicted label sets.

    Returns
    -------
    pandas.DataFrame
        One row per name, one column per score of :func:`scores`.
    """
    if not predictions:
        raise ValueError("predictions must name at least one array of label sets")
    return pd.DataFrame({name: scores(y_true, y_pred) for name, y_pred in predictions.items()}).T.rename_axis("head, decoding")
