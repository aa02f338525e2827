"""Output activations and losses for multi-class vs multi-label, in plain numpy.

Written out by hand so notebook 02 can check them against Keras and plot
them; each loss averages over the batch. Also the training targets of each
head, the sweep of one logit that notebook 02 plots, and the table
"problem type -> last layer -> loss".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers._checks import check_choice, check_label_sets, check_scalar
from helpers.fashion import NUM_CLASSES

HEADS: dict[str, str] = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}
"""Each output activation and the Keras loss it is trained with."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Elementwise logistic function ``1 / (1 + exp(-z))``: independent yes/no probabilities.

    Parameters
    ----------
    z : array_like
        Logits, any shape.

    Returns
    -------
    float64 array
        One probability in (0, 1) per logit, each computed on its own.
    """
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis: probabilities of *one* class among all, summing to 1.

    Parameters
    ----------
    z : array_like
        Logits, classes on the last axis.

    Returns
    -------
    float64 array
        ``exp(z) / sum(exp(z))`` along the last axis (computed after
        subtracting the maximum, so large logits do not overflow).
    """
    z = np.asarray(z, dtype=np.float64)
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _check_targets(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != np.shape(z):
        raise ValueError(
            f"targets and logits must have the same shape; got {y.shape} and {np.shape(z)}"
        )
    return y


def binary_cross_entropy(y: np.ndarray, z: np.ndarray) -> float:
    """Binary cross-entropy of multi-hot targets ``y`` and logits ``z``.

    ``-mean(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))`` over labels and
    batch, as ``keras.losses.BinaryCrossentropy(from_logits=True)`` computes it.

    Parameters
    ----------
    y : array_like of 0/1
        Multi-hot targets, classes on the last axis.
    z : array_like
        Logits of the same shape.

    Returns
    -------
    float
        The mean loss (nats per label).

    Raises
    ------
    ValueError
        If ``y`` and ``z`` differ in shape.
    """
    y = _check_targets(y, z)
    z = np.asarray(z, dtype=np.float64)
    log_p, log_not_p = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
    return float(-np.mean(y * log_p + (1 - y) * log_not_p))


def categorical_cross_entropy(y: np.ndarray, z: np.ndarray) -> float:
    """Categorical cross-entropy of logits ``z`` against targets ``y`` normalised to sum 1.

    A multi-hot target with k labels becomes k labels of 1/k each:
    ``-mean(sum(y / sum(y) * log softmax(z)))``, as
    ``keras.losses.CategoricalCrossentropy(from_logits=True)`` computes it on
    ``y / sum(y)``.

    Parameters
    ----------
    y : array_like of 0/1
        Multi-hot targets, classes on the last axis, at least one label each.
    z : array_like
        Logits of the same shape.

    Returns
    -------
    float
        The loss, averaged over the examples (nats per example).

    Raises
    ------
    ValueError
        If ``y`` and ``z`` differ in shape.
    """
    y = _check_targets(y, z)
    target = y / y.sum(axis=-1, keepdims=True)
    z = np.asarray(z, dtype=np.float64)
    log_softmax = z - z.max(axis=-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=-1, keepdims=True))
    return float(-np.mean(np.sum(target * log_softmax, axis=-1)))


def binary_cross_entropy_gradient(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Gradient of the per-example, label-summed binary cross-entropy: ``sigmoid(z) - y``.

    Parameters
    ----------
    y : array_like of 0/1
        Multi-hot targets.
    z : array_like
        Logits of the same shape.

    Returns
    -------
    float64 array
        d loss / d z, the shape of ``z``: negative where a label is present
        (push its logit up), positive where it is absent.

    Raises
    ------
    ValueError
        If ``y`` and ``z`` differ in shape.
    """
    return sigmoid(z) - _check_targets(y, z)


def categorical_cross_entropy_gradient(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Gradient of the per-example categorical cross-entropy: ``softmax(z) - y / sum(y)``.

    Parameters
    ----------
    y : array_like of 0/1
        Multi-hot targets, at least one label each.
    z : array_like
        Logits of the same shape.

    Returns
    -------
    float64 array
        d loss / d z, the shape of ``z``: zero for a present label once its
        softmax equals ``1 / k``, positive beyond.

    Raises
    ------
    ValueError
        If ``y`` and ``z`` differ in shape.
    """
    y = _check_targets(y, z)
    return softmax(z) - y / y.sum(axis=-1, keepdims=True)


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
    check_choice(head, "head", HEADS)
    labels = check_label_sets(labels, "labels", NUM_CLASSES).astype(np.float32)
    counts = labels.sum(axis=1, keepdims=True)
    if (counts == 0).any():
        raise ValueError("every row of labels needs at least one label")
    return labels / counts if head == "softmax" else labels


def logit_sweep(y: np.ndarray, z: np.ndarray, label: int, values: np.ndarray) -> pd.DataFrame:
    """Both losses and their gradients as one label's logit varies, for one example.

    Parameters
    ----------
    y : array (10,) of 0/1
        One multi-hot target.
    z : array (10,)
        The logits; ``z[label]`` is replaced by each of ``values`` in turn.
    label : int
        The class whose logit varies.
    values : array (M,)
        The logits to try.

    Returns
    -------
    pandas.DataFrame
        One row per value: ``logit``; ``binary cross-entropy`` (summed over
        the labels, so that its gradient is ``sigmoid(z) - y``) and
        ``categorical cross-entropy``; and each loss's gradient with respect to
        ``z[label]`` (``binary gradient``, ``categorical gradient``).

    Raises
    ------
    ValueError
        For a target and logits that are not one vector each of the same
        length, a target other than 0/1 or without labels, or a label out of
        range.

    Examples
    --------
    >>> y = np.zeros(10); y[[1, 8]] = 1
    >>> sweep = logit_sweep(y, np.zeros(10), label=1, values=np.linspace(-5, 5, 11))
    >>> list(sweep.columns)
    ['logit', 'binary cross-entropy', 'categorical cross-entropy', 'binary gradient', 'categorical gradient']
    """
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if y.ndim != 1 or z.shape != y.shape:
        raise ValueError(
            f"y and z must be one vector each, of the same length; got {y.shape} and {z.shape}"
        )
    if not np.isin(y, (0, 1)).all() or not y.any():
        raise ValueError("y must be a multi-hot vector of 0 and 1 with at least one label")
    check_scalar(label, "label", low=0, high=len(y) - 1)
    values = np.asarray(values, dtype=np.float64).ravel()
    logits = np.repeat(z[None, :], len(values), axis=0)
    logits[:, label] = values
    targets = np.repeat(y[None, :], len(values), axis=0)
    return pd.DataFrame(
        {
            "logit": values,
            "binary cross-entropy": [len(y) * binary_cross_entropy(y, row) for row in logits],
            "categorical cross-entropy": [categorical_cross_entropy(y, row) for row in logits],
            "binary gradient": binary_cross_entropy_gradient(targets, logits)[:, label],
            "categorical gradient": categorical_cross_entropy_gradient(targets, logits)[:, label],
        }
    )


def problem_table() -> pd.DataFrame:
    """The last layer and the loss that fit each kind of problem (the study's Figure 8).

    Returns
    -------
    pandas.DataFrame
        One row per problem type: an example from this series' data, the
        last layer's units and activation, the loss, and its Keras name.
    """
    rows = [
        (
            "binary classification",
            "is there a Bag in this composite?",
            "1 unit, sigmoid",
            "binary cross-entropy",
            "binary_crossentropy",
        ),
        (
            "multi-class, single-label",
            "which class is this one product? (plain Fashion-MNIST)",
            "1 unit per class, softmax",
            "categorical cross-entropy",
            "categorical_crossentropy (sparse_... for integer labels)",
        ),
        (
            "multi-label",
            "which classes are in this composite?",
            "1 unit per class, sigmoid",
            "binary cross-entropy",
            "binary_crossentropy",
        ),
        (
            "regression to arbitrary values",
            "where does the Bag begin, in pixels?",
            "1 unit, none (linear)",
            "mean squared error",
            "mean_squared_error",
        ),
        (
            "regression to values in [0, 1]",
            "what share of the canvas is lit?",
            "1 unit, sigmoid",
            "mean squared error or binary cross-entropy",
            "mean_squared_error / binary_crossentropy",
        ),
    ]
    columns = ["example here", "last layer", "loss", "Keras loss"]
    return pd.DataFrame(
        [row[1:] for row in rows],
        index=pd.Index([row[0] for row in rows], name="problem type"),
        columns=columns,
    )
