"""The two output heads of notebook 02's comparison and the targets each is trained on.

Softmax, sigmoid, both cross-entropies and their gradients are written out by
hand in notebook 02, where they are checked against Keras. What training
(:mod:`helpers.training`) and the recipes share is kept here: which Keras loss
each head trains with, and how multi-hot labels become each head's targets.
"""

from __future__ import annotations

import numpy as np

from helpers._checks import check_choice, check_label_sets
from helpers.fashion import NUM_CLASSES

HEADS: dict[str, str] = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}
"""Each output activation and the Keras loss it is trained with."""


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
