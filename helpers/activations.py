"""Output activations and losses for multi-class vs multi-label, in plain numpy.

Written out by hand so notebook 02 can check them against Keras and plot
them; each loss averages over the batch.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Elementwise logistic function ``1 / (1 + exp(-z))``: independent yes/no probabilities."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis: probabilities of *one* class among all, summing to 1."""
    z = np.asarray(z, dtype=np.float64)
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _check_targets(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != np.shape(z):
        raise ValueError(f"targets and logits must have the same shape; got {y.shape} and {np.shape(z)}")
    return y


def binary_cross_entropy(y: np.ndarray, z: np.ndarray) -> float:
    """Binary cross-entropy of multi-hot targets ``y`` and logits ``z``.

    ``-mean(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z)))`` over labels and
    batch, as ``keras.losses.binary_crossentropy`` computes it.
    """
    y = _check_targets(y, z)
    z = np.asarray(z, dtype=np.float64)
    log_p, log_not_p = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
    return float(-np.mean(y * log_p + (1 - y) * log_not_p))


def categorical_cross_entropy(y: np.ndarray, z: np.ndarray) -> float:
    """Categorical cross-entropy of logits ``z`` against targets ``y`` normalised to sum 1.

    A multi-hot target with k labels becomes k labels of 1/k each:
    ``-mean(sum(y / sum(y) * log softmax(z)))``.
    """
    y = _check_targets(y, z)
    target = y / y.sum(axis=-1, keepdims=True)
    z = np.asarray(z, dtype=np.float64)
    log_softmax = z - z.max(axis=-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=-1, keepdims=True))
    return float(-np.mean(np.sum(target * log_softmax, axis=-1)))


def binary_cross_entropy_gradient(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Gradient of the per-example, label-summed binary cross-entropy: ``sigmoid(z) - y``."""
    return sigmoid(z) - _check_targets(y, z)


def categorical_cross_entropy_gradient(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Gradient of the per-example categorical cross-entropy: ``softmax(z) - y / sum(y)``."""
    y = _check_targets(y, z)
    return softmax(z) - y / y.sum(axis=-1, keepdims=True)
