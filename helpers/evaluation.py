"""Honest multi-label metrics, built on scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

from helpers.fashion import CLASS_NAMES, NUM_CLASSES


def _check(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape[1] != NUM_CLASSES:
        raise ValueError(f"y_true must have shape (N, {NUM_CLASSES}); got {y_true.shape}")
    if y_prob.shape != y_true.shape:
        raise ValueError(f"y_prob must have the shape of y_true {y_true.shape}; got {y_prob.shape}")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not ((y_prob >= 0) & (y_prob <= 1)).all():
        raise ValueError("y_prob must hold probabilities in [0, 1]")
    return y_true.astype(np.int64), y_prob


def _thresholds(threshold: float | np.ndarray) -> np.ndarray:
    values = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (NUM_CLASSES,))
    if not ((values > 0) & (values < 1)).all():
        raise ValueError(f"threshold must be in (0, 1), one value or one per class; got {threshold}")
    return values


def _average_precision(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    """Average precision per class; NaN for a class with no positive example."""
    return np.array(
        [
            metrics.average_precision_score(y_true[:, c], y_prob[:, c]) if y_true[:, c].any() else np.nan
            for c in range(NUM_CLASSES)
        ]
    )


def report(y_true: np.ndarray, y_prob: np.ndarray, threshold: float | np.ndarray = 0.5) -> dict:
    """Measure multi-label predictions, honest metrics first.

    Parameters
    ----------
    y_true : array (N, 10) of 0/1
        The true label sets.
    y_prob : array (N, 10) of probabilities
        The predicted probability of each label.
    threshold : float or array (10,)
        A label is predicted when its probability is at least this.

    Returns
    -------
    dict
        ``exact_match`` (whole label set right), ``mean_average_precision``
        (macro over the classes present, threshold-free), ``label_count_accuracy`` (right number of
        labels), ``hamming_loss``, ``per_label_accuracy`` (the study's figure),
        ``all_negative_accuracy`` (the per-label accuracy of predicting
        nothing), micro/macro ``precision``, ``recall``, ``f1``, and
        ``per_class``, a :class:`pandas.DataFrame` with one row per class.
    """
    y_true, y_prob = _check(y_true, y_prob)
    y_pred = (y_prob >= _thresholds(threshold)).astype(np.int64)
    average_precision = _average_precision(y_true, y_prob)
    result = {
        "exact_match": metrics.accuracy_score(y_true, y_pred),
        "mean_average_precision": float(np.nanmean(average_precision)),
        "label_count_accuracy": float(np.mean(y_true.sum(axis=1) == y_pred.sum(axis=1))),
        "hamming_loss": metrics.hamming_loss(y_true, y_pred),
        "per_label_accuracy": 1 - metrics.hamming_loss(y_true, y_pred),
        "all_negative_accuracy": 1 - float(y_true.mean()),
    }
    for average in ("micro", "macro"):
        p, r, f, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        result.update({f"{average}_precision": p, f"{average}_recall": r, f"{average}_f1": f})
    p, r, f, support = metrics.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    result["per_class"] = pd.DataFrame(
        {
            "precision": p,
            "recall": r,
            "f1": f,
            "average_precision": average_precision,
            "support": support,
        },
        index=pd.Index(CLASS_NAMES, name="class"),
    )
    return {k: (float(v) if k != "per_class" else v) for k, v in result.items()}


def summary(result: dict) -> pd.Series:
    """Return the scalar metrics of a :func:`report`, honest ones first."""
    return pd.Series({k: v for k, v in result.items() if k != "per_class"}, name="value")


def tune_thresholds(y_true: np.ndarray, y_prob: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Choose one threshold per class that maximises that class's F1.

    Use validation data only: tuning on the test split would flatter the test score.

    Returns
    -------
    array (10,)
        The threshold of each class.
    """
    y_true, y_prob = _check(y_true, y_prob)
    grid = np.linspace(0.05, 0.95, 91) if grid is None else np.asarray(grid)
    predicted = y_prob[None, :, :] >= grid[:, None, None]  # (T, N, C)
    positives = y_true[None].astype(bool)
    tp = (predicted & positives).sum(axis=1)
    fp = (predicted & ~positives).sum(axis=1)
    fn = (~predicted & positives).sum(axis=1)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return grid[np.argmax(f1, axis=0)]
