"""Honest multi-label metrics, built on scikit-learn; decoding probabilities into label sets; threshold choice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics

from helpers._checks import check_label_sets, check_probabilities, check_scalar, check_thresholds
from helpers.fashion import CLASS_NAMES, NUM_CLASSES

SET_SCORES = ("exact_match", "per_label_accuracy", "label_count_accuracy", "micro_f1")
"""The scores of predicted label sets that :func:`set_scores` returns, honest ones first."""


def _check(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = check_label_sets(y_true, "y_true", NUM_CLASSES)
    return y_true, check_probabilities(y_prob, "y_prob", y_true.shape)


def _average_precision(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    """Average precision per class; NaN for a class with no positive example."""
    return np.array(
        [
            metrics.average_precision_score(y_true[:, c], y_prob[:, c])
            if y_true[:, c].any()
            else np.nan
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
    y_pred = (y_prob >= check_thresholds(threshold, NUM_CLASSES)).astype(np.int64)
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
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        result.update({f"{average}_precision": p, f"{average}_recall": r, f"{average}_f1": f})
    p, r, f, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0
    )
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


BOOTSTRAP_SCORES = ("exact_match", "mean_average_precision", "per_label_accuracy")
"""The test scores that :func:`bootstrap_intervals` gives an interval for."""


_WEIGHT_ROWS_AT_ONCE = 100
"""How many rows of weights :func:`_weighted_mean_average_precision` scores at once."""


def _weighted_mean_average_precision(
    y_true: np.ndarray, y_prob: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Mean average precision of each row of sample weights, as scikit-learn's with ``sample_weight``.

    A row of bootstrap counts (how often each composite was drawn) gives the
    score of that resample. Classes without a drawn positive are left out of
    the mean, as in :func:`report`. Rows are scored
    :data:`_WEIGHT_ROWS_AT_ONCE` at a time, which bounds the arrays in memory
    (1,000 resamples of 1,000 composites at once took 70 MB more).
    """
    if len(weights) > _WEIGHT_ROWS_AT_ONCE:
        return np.concatenate(
            [
                _weighted_mean_average_precision(
                    y_true, y_prob, weights[start : start + _WEIGHT_ROWS_AT_ONCE]
                )
                for start in range(0, len(weights), _WEIGHT_ROWS_AT_ONCE)
            ]
        )
    per_class = np.full((len(weights), NUM_CLASSES), np.nan)
    for c in range(NUM_CLASSES):
        order = np.argsort(-y_prob[:, c], kind="stable")
        scores = y_prob[order, c]
        last_of_tie = np.r_[scores[1:] != scores[:-1], True]  # one step per distinct threshold
        drawn = weights[:, order]
        true_positives = np.cumsum(drawn * y_true[order, c], axis=1)[:, last_of_tie]
        predicted = np.cumsum(drawn, axis=1)[:, last_of_tie]
        precision = true_positives / np.maximum(predicted, 1e-12)
        recall_steps = np.diff(true_positives, axis=1, prepend=0)
        positives = true_positives[:, -1]
        present = positives > 0
        per_class[present, c] = (recall_steps * precision).sum(axis=1)[present] / positives[present]
    return np.nanmean(per_class, axis=1)


def bootstrap_counts(n: int, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Draw ``resamples`` bootstrap samples of ``n`` items: how often each item is drawn in each.

    The draws are those of ``numpy.random.default_rng(seed).choice(n, size=(resamples, n))``
    (``rng.integers(0, n, ...)``): row ``r`` counts how often each item appears in draw ``r``.
    A score that is a weighted mean over items is then ``counts @ scores / n`` for every resample at once.

    Parameters
    ----------
    n : int
        How many items there are to draw from (and how many each resample draws), at least 1.
    resamples : int
        How many resamples, at least 2.
    seed : int
        The seed of ``numpy.random.default_rng``.

    Returns
    -------
    int64 array (resamples, n)
        Each row sums to ``n``.

    Raises
    ------
    ValueError
        For an ``n`` below 1 or ``resamples`` below 2.

    Examples
    --------
    >>> bootstrap_counts(3, resamples=2, seed=0)
    array([[0, 2, 1],
           [3, 0, 0]])
    """
    check_scalar(n, "n", low=1)
    check_scalar(resamples, "resamples", low=2)
    drawn = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    return np.stack([np.bincount(row, minlength=n) for row in drawn])


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval: the middle ``confidence`` share of resampled scores.

    Parameters
    ----------
    values : array (resamples,)
        One score per resample, e.g. from the counts of :func:`bootstrap_counts`.
    confidence : float in (0, 1)
        The share of the resampled scores the interval holds (0.95: from the 2.5th to the
        97.5th percentile).

    Returns
    -------
    (low, high) : floats

    Raises
    ------
    ValueError
        For a ``confidence`` outside (0, 1), or ``values`` that are not one score per resample
        (a 1-D array of at least two).
    """
    check_scalar(confidence, "confidence", float, low=0, high=1, open_low=True, open_high=True)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(
            f"values must be one score per resample, shape (resamples,) with at least 2; got {values.shape}"
        )
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_intervals(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float | np.ndarray = 0.5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Give each headline test score with its bootstrap interval over composites.

    Each resample draws ``N = len(y_true)`` composites with replacement, the
    draws of ``numpy.random.default_rng(seed).choice(N, size=(resamples, N))``
    (:func:`bootstrap_counts`), and scores them again; the interval holds the
    middle ``confidence`` share of the resampled scores (the percentile
    bootstrap, :func:`percentile_interval`).

    Parameters
    ----------
    y_true : array (N, 10) of 0/1
    y_prob : array (N, 10) of probabilities
    threshold : float or array (10,)
        As in :func:`report`.
    resamples : int
        How many resamples of the N composites to score, at least 2.
    confidence : float in (0, 1)
        The share of the resampled scores each interval holds, e.g. 0.95.
    seed : int
        The seed of the draws; the same seed gives the same intervals.

    Returns
    -------
    pandas.DataFrame
        One row per score of :data:`BOOTSTRAP_SCORES` (the index, ``score``),
        columns ``value`` (the score of all N composites), ``low`` and ``high``.

    Raises
    ------
    ValueError
        For label sets or probabilities of another shape or with other values
        (as :func:`report`), a threshold outside (0, 1), ``resamples`` below 2
        or a ``confidence`` outside (0, 1).
    """
    y_true, y_prob = _check(y_true, y_prob)
    y_pred = y_prob >= check_thresholds(threshold, NUM_CLASSES)
    counts = bootstrap_counts(len(y_true), resamples, seed)
    right = y_pred == y_true.astype(bool)
    resampled = {
        "exact_match": counts @ right.all(axis=1) / len(y_true),
        "mean_average_precision": _weighted_mean_average_precision(y_true, y_prob, counts),
        "per_label_accuracy": counts @ right.mean(axis=1) / len(y_true),
    }
    whole = report(y_true, y_prob, threshold)
    rows = {
        name: [whole[name], *percentile_interval(resampled[name], confidence)]
        for name in BOOTSTRAP_SCORES
    }
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["value", "low", "high"]
    ).rename_axis("score")


# --- decoding: probabilities -> label sets ----------------------------------------


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
    y_prob = check_probabilities(y_prob, "y_prob", (None, NUM_CLASSES))
    return (y_prob >= check_thresholds(threshold, NUM_CLASSES)).astype(np.uint8)


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
    y_prob = check_probabilities(y_prob, "y_prob", (None, NUM_CLASSES))
    k = np.broadcast_to(np.asarray(k), (len(y_prob),)) if np.ndim(k) == 0 else np.asarray(k)
    if (
        k.shape != (len(y_prob),)
        or not np.issubdtype(k.dtype, np.integer)
        or not ((k >= 1) & (k <= NUM_CLASSES)).all()
    ):
        raise ValueError(
            f"k must be one integer or one per row ({len(y_prob)}), each from 1 to {NUM_CLASSES}; got {k!r}"
        )
    rank = np.argsort(np.argsort(-y_prob, axis=1, kind="stable"), axis=1, kind="stable")
    return (rank < k[:, None]).astype(np.uint8)


def set_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Score predicted label sets with :func:`report`.

    Parameters
    ----------
    y_true, y_pred : arrays (N, 10) of 0/1
        The true and the predicted label sets.

    Returns
    -------
    dict
        The :data:`SET_SCORES`: ``exact_match``, ``per_label_accuracy``,
        ``label_count_accuracy`` and ``micro_f1``.

    Raises
    ------
    ValueError
        For arrays of another shape, or values other than 0 and 1.
    """
    y_pred = check_label_sets(y_pred, "y_pred", NUM_CLASSES)
    result = report(y_true, y_pred.astype(np.float64), threshold=0.5)
    return {name: result[name] for name in SET_SCORES}


def compare_predictions(y_true: np.ndarray, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
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
        One row per name (the index, ``predictions``), one column per score
        of :func:`set_scores`.
    """
    if not predictions:
        raise ValueError("predictions must name at least one array of label sets")
    return pd.DataFrame(
        {name: set_scores(y_true, y_pred) for name, y_pred in predictions.items()}
    ).T.rename_axis("predictions")


def mistaken_for(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Count which class is predicted in place of a missed one: the multi-label confusion view.

    For every image with a missed label (true, not predicted) and a false
    alarm (predicted, not true), each (missed, false alarm) pair counts once.

    Parameters
    ----------
    y_true, y_pred : arrays (N, 10) of 0/1
        The true and the predicted label sets.

    Returns
    -------
    pandas.DataFrame
        10 x 10 counts: rows the missed class, columns the class predicted
        without being there, both named; plus a column ``missed`` (how often
        each class is missed in all, with or without a false alarm).

    Example
    -------
    >>> y_true, y_pred = np.zeros((1, 10), int), np.zeros((1, 10), int)
    >>> y_true[0, 6], y_pred[0, 0] = 1, 1   # a Shirt read as a T-shirt/top
    >>> int(mistaken_for(y_true, y_pred).loc["Shirt", "T-shirt/top"])
    1
    """
    y_true = check_label_sets(y_true, "y_true", NUM_CLASSES)
    y_pred = check_label_sets(y_pred, "y_pred", NUM_CLASSES)
    if y_pred.shape != y_true.shape:
        raise ValueError(f"y_pred must have the shape of y_true {y_true.shape}; got {y_pred.shape}")
    missed, false_alarm = y_true & (1 - y_pred), y_pred & (1 - y_true)
    table = pd.DataFrame(missed.T @ false_alarm, index=CLASS_NAMES, columns=CLASS_NAMES)
    table["missed"] = missed.sum(axis=0)
    return table.rename_axis(index="missed class", columns="predicted instead")


# --- choosing thresholds (on validation data) -------------------------------------


def threshold_sweep(
    y_true: np.ndarray, y_prob: np.ndarray, grid: Sequence[float] | None = None
) -> pd.DataFrame:
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
        score of :func:`set_scores`.
    """
    grid = (
        np.round(np.linspace(0.01, 0.99, 99), 2)
        if grid is None
        else np.asarray(grid, dtype=np.float64)
    )
    if grid.ndim != 1 or len(grid) == 0:
        raise ValueError(f"grid must be a non-empty sequence of thresholds; got shape {grid.shape}")
    rows = [set_scores(y_true, decode_threshold(y_prob, threshold)) for threshold in grid]
    return pd.DataFrame(rows, index=pd.Index(grid, name="threshold"))


def best_threshold(
    y_true: np.ndarray, y_prob: np.ndarray, grid: Sequence[float] | None = None
) -> float:
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


def tune_thresholds(
    y_true: np.ndarray, y_prob: np.ndarray, grid: np.ndarray | None = None
) -> np.ndarray:
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
