"""The figures of the series, in notebook order. Each function takes data and returns a Figure.

No function here computes a model or a map: the notebooks pass in what
:mod:`helpers.cam`, :mod:`helpers.evaluation` and :mod:`helpers.localisation`
computed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import patheffects, ticker, transforms
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers._checks import check_choice, check_scalar
from helpers.composite import EMPTY, Composites
from helpers.fashion import CLASS_NAMES, NUM_CLASSES

PALETTE = "colorblind"
HEATMAP = "magma"
PRESENT, ABSENT = (
    sns.color_palette(PALETTE)[i] for i in (0, 7)
)  # blue and grey: true labels and the rest, in every figure
OUTCOMES = {
    "true, predicted": PRESENT,
    "true, missed": sns.color_palette(PALETTE)[9],  # sky blue
    "false alarm": sns.color_palette(PALETTE)[3],  # vermilion
    "correctly absent": ABSENT,
}
"""The colour of each outcome of a label at the threshold, in the probability bars of notebook 04."""

_OUTCOME_OF = {
    (True, True): "true, predicted",
    (True, False): "true, missed",
    (False, True): "false alarm",
    (False, False): "correctly absent",
}
"""The outcome of a label, one of :data:`OUTCOMES`, keyed by (true label, predicted)."""


def style() -> None:
    """Apply the series' plot style (seaborn, colour-blind-safe palette)."""
    sns.set_theme(context="notebook", style="white", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "image.cmap": "gray"})


# --- shared pieces ---


def hide_ticks(ax: plt.Axes) -> None:
    """Remove both axes' ticks: images have no axis units."""
    ax.set_xticks([])
    ax.set_yticks([])


def show_canvas(ax: plt.Axes, image: np.ndarray) -> None:
    """Draw a uint8 greyscale image on its full 0-255 scale, without ticks."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    hide_ticks(ax)


def label_names(labels: np.ndarray) -> str:
    """The names of a multi-hot label set, comma-separated ("none" for the empty set)."""
    return ", ".join(CLASS_NAMES[c] for c in np.flatnonzero(labels)) or "none"


def label_legend(
    ax: plt.Axes,
    colours: dict[str, object],
    threshold: float | None = None,
    *,
    outline: str | None = None,
    **placement,
) -> plt.Legend:
    """Explain bar colours in a legend: a filled box per colour, then the dashed threshold line.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    colours : dict
        What each colour means, e.g. ``{"true label": PRESENT, "not present": ABSENT}``
        or :data:`OUTCOMES`.
    threshold : float, optional
        Adds ``threshold {threshold}`` for a dashed black line.
    outline : str, optional
        Adds, last, this name for outlined (unfilled) bars.
    **placement
        Passed to :meth:`matplotlib.axes.Axes.legend` (``loc``, ``ncol``, ...).
    """
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in colours.values()]
    labels = list(colours)
    if threshold is not None:
        handles.append(plt.Line2D([], [], color="black", ls="--", lw=1))
        labels.append(f"threshold {threshold:g}")
    if outline is not None:
        handles.append(plt.Rectangle((0, 0), 1, 1, **OUTLINE))
        labels.append(outline)
    return ax.legend(handles=handles, labels=labels, fontsize=8, **placement)


def ranking(logits: np.ndarray) -> np.ndarray:
    """The class ids, most sure first: by logit.

    A float32 sigmoid rounds every logit above about 17 to a probability of
    exactly 1, so ranking by probability would leave such labels in class
    order; their logits still tell them apart.

    Raises
    ------
    ValueError
        For logits of a shape other than (10,).
    """
    logits = np.asarray(logits)
    if logits.shape != (NUM_CLASSES,):
        raise ValueError(f"logits must have shape ({NUM_CLASSES},); got {logits.shape}")
    return np.argsort(-logits, kind="stable")


OUTLINE = {"fill": False, "edgecolor": "black", "linewidth": 0.8}
"""How bars of values before a change are drawn: outlined, over the bars of the values after."""


def draw_box(ax: plt.Axes, box: tuple[int, int, int, int] | np.ndarray, colour, **style) -> None:
    """Outline a product box ``x0 y0 x1 y1`` (x1, y1 exclusive) around its pixels."""
    x0, y0, x1, y1 = box
    ax.add_patch(
        plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color=colour, **style)
    )


# --- notebook 01: the dataset ---


def class_grid(images: np.ndarray, classes: np.ndarray, per_class: int = 8) -> Figure:
    """Show the first ``per_class`` images of each class, one class per row."""
    figure, axes = plt.subplots(
        NUM_CLASSES, per_class, figsize=(per_class * 0.9, NUM_CLASSES * 0.95)
    )
    for c, row in enumerate(axes):
        picks = np.flatnonzero(classes == c)[:per_class]
        for ax, index in zip(row, picks, strict=True):
            show_canvas(ax, images[index])
        row[0].set_ylabel(CLASS_NAMES[c], rotation=0, ha="right", va="center")
    figure.suptitle("Fashion-MNIST: the first images of each class")
    return figure


def composite_with_boxes(
    composites: Composites, index: int, ax: plt.Axes | None = None
) -> plt.Axes:
    """Draw one composite with its product boxes and class names."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 1.9))
    show_canvas(ax, composites.images[index])
    colours = sns.color_palette(PALETTE, NUM_CLASSES)
    for item, (x0, y0, x1, y1) in zip(
        composites.items[index], composites.boxes[index], strict=True
    ):
        if item == EMPTY:
            continue
        draw_box(ax, (x0, y0, x1, y1), colours[item], lw=1.5)
        ax.text(x0, y0 - 1.5, CLASS_NAMES[item], color=colours[item], fontsize=8, va="bottom")
    return ax


def composite_grid(
    composites: Composites, indices: list[int] | np.ndarray, columns: int = 2
) -> Figure:
    """Show composites titled with their label sets (the study's Figure 6)."""
    rows = int(np.ceil(len(indices) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 1.75 * rows), squeeze=False)
    for ax, index in zip(axes.ravel(), indices, strict=False):  # spare axes stay blank
        show_canvas(ax, composites.images[index])
        labels = [CLASS_NAMES[c] for c in np.flatnonzero(composites.labels[index])]
        ax.set_title(f"#{index}: " + ", ".join(labels), fontsize=9)
    for ax in axes.ravel()[len(indices) :]:
        ax.axis("off")
    figure.suptitle("Multi-label composites and their label sets", y=1.0)
    figure.tight_layout()
    return figure


def label_statistics(labels_by_split: dict[str, np.ndarray]) -> Figure:
    """Bar charts: distinct labels per image, and class prevalence, per split.

    Parameters
    ----------
    labels_by_split : dict of str to array (N, 10) of 0/1
        The multi-hot labels of each split. The dict's order is the hue order
        of both panels, so each split has one colour in both and one legend.

    Returns
    -------
    matplotlib.figure.Figure
    """
    splits = list(labels_by_split)
    colours = dict(zip(splits, sns.color_palette(PALETTE, len(splits)), strict=True))
    distinct = pd.DataFrame(
        [(split, int(n)) for split, labels in labels_by_split.items() for n in labels.sum(axis=1)],
        columns=["split", "distinct labels"],
    )
    shares = (
        distinct.groupby("split", sort=False)["distinct labels"]
        .value_counts(normalize=True)
        .rename("share")
        .reset_index()
    )
    prevalence = pd.DataFrame(
        [
            (split, CLASS_NAMES[c], labels[:, c].mean())
            for split, labels in labels_by_split.items()
            for c in range(NUM_CLASSES)
        ],
        columns=["split", "class", "share of images"],
    )
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 2]}
    )
    # One colour per split, in the same order, in both panels.
    by_split = {"hue": "split", "hue_order": splits, "palette": colours}
    sns.barplot(shares, x="distinct labels", y="share", ax=left, **by_split)
    left.set_title("Distinct labels per composite")
    left.set_ylabel("share of composites")
    sns.barplot(prevalence, x="class", y="share of images", ax=right, legend=False, **by_split)
    right.set_title("How often each class is present")
    right.tick_params(axis="x", rotation=35)
    right.set_xlabel("")
    figure.tight_layout()
    return figure


# --- notebook 02: activations and losses ---


def activation_comparison(
    logits: np.ndarray,
    softmax: np.ndarray,
    sigmoid: np.ndarray,
    row_titles: list[str],
    positives: np.ndarray | None = None,
) -> Figure:
    """Bars of logits, softmax and sigmoid outputs side by side, one logit vector per row.

    Parameters
    ----------
    logits, softmax, sigmoid : arrays (M, 10)
        The logits and the two activations of them.
    row_titles : list of str
        One title per row, e.g. what the logits say.
    positives : array (M, 10) of 0/1, optional
        The labels each logit vector speaks for, drawn in :data:`PRESENT`
        (the rest in :data:`ABSENT`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    logits, softmax, sigmoid = (np.asarray(a, dtype=float) for a in (logits, softmax, sigmoid))
    if (
        logits.ndim != 2
        or logits.shape[1] != NUM_CLASSES
        or softmax.shape != logits.shape
        or sigmoid.shape != logits.shape
    ):
        raise ValueError(
            f"logits, softmax and sigmoid must share one shape (M, {NUM_CLASSES}); "
            f"got {logits.shape}, {softmax.shape}, {sigmoid.shape}"
        )
    if len(row_titles) != len(logits):
        raise ValueError(
            f"row_titles must have one title per row ({len(logits)}); got {len(row_titles)}"
        )
    positives = np.zeros(logits.shape, bool) if positives is None else np.asarray(positives, bool)
    figure, axes = plt.subplots(
        len(logits), 3, figsize=(13, 2.3 * len(logits) + 0.6), sharex=True, squeeze=False
    )
    x = np.arange(NUM_CLASSES)
    reach = 1.15 * max(float(np.abs(logits).max()), 1.0)
    for row, title in enumerate(row_titles):
        colours = [PRESENT if p else ABSENT for p in positives[row]]
        for ax, values, name in zip(
            axes[row],
            (logits[row], softmax[row], sigmoid[row]),
            ("logit", "softmax", "sigmoid"),
            strict=True,
        ):
            ax.bar(x, values, color=colours)
            ax.axhline(0, color="black", lw=0.6)
            if name == "logit":
                ax.set_ylim(-reach, reach)
                ax.set_ylabel(title, rotation=0, ha="right", va="center")
            else:
                ax.set_ylim(0, 1.25)
                ax.set_yticks([0, 0.5, 1])
                ax.text(
                    0.98,
                    0.96,
                    f"sum = {values.sum():.2f}",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=9,
                )
            if row == 0:
                ax.set_title(
                    {
                        "logit": "logits (any real number)",
                        "softmax": "softmax: one class among all",
                        "sigmoid": "sigmoid: one yes/no per class",
                    }[name]
                )
    for ax in axes[-1]:
        ax.set_xticks(x, CLASS_NAMES, rotation=60, ha="right")
    label_legend(
        axes[-1, 0],
        {"a label the logits speak for": PRESENT, "the other labels": ABSENT},
        loc="upper center",
    )
    figure.tight_layout()
    return figure


def loss_and_gradient(sweep: pd.DataFrame, label: str) -> Figure:
    """Both losses and their gradients as one positive label's logit varies.

    Parameters
    ----------
    sweep : pandas.DataFrame
        One row per value of the logit, as notebook 02's logit sweep makes
        it: ``logit``, ``binary cross-entropy``, ``categorical
        cross-entropy``, ``binary gradient`` and ``categorical gradient``
        (each loss of one example, and its derivative by that logit).
    label : str
        The class whose logit varies, for the titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    needed = [
        "logit",
        "binary cross-entropy",
        "categorical cross-entropy",
        "binary gradient",
        "categorical gradient",
    ]
    missing = [column for column in needed if column not in sweep.columns]
    if missing:
        raise ValueError(
            f"sweep lacks the columns {missing}; it needs one row per logit with the columns {needed}"
        )
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    for name, colour in zip(("binary", "categorical"), sns.color_palette(PALETTE), strict=False):
        left.plot(
            sweep["logit"],
            sweep[f"{name} cross-entropy"],
            color=colour,
            label=f"{name} cross-entropy",
        )
        right.plot(
            sweep["logit"], sweep[f"{name} gradient"], color=colour, label=f"{name} cross-entropy"
        )
    right.axhline(0, color="black", lw=0.6)
    left.set_title(f"Loss as the {label} logit grows")
    right.set_title(f"Its gradient: pushes the {label} logit up where < 0")
    left.set_ylabel("loss of one example (nats)")
    right.set_ylabel(f"d loss / d logit({label})")
    for ax in (left, right):
        ax.set_xlabel(f"logit of {label} (a true label)")
        ax.legend(frameon=False)
    figure.tight_layout()
    return figure


def head_probabilities(
    composites: Composites, index: int, probabilities: dict[str, np.ndarray]
) -> Figure:
    """One composite with its product boxes, and the probabilities each model gives its ten classes.

    Parameters
    ----------
    composites : Composites
        The composites; the one at ``index`` is drawn with :func:`composite_with_boxes`,
        and its true labels in :data:`PRESENT` (the rest in :data:`ABSENT`).
    index : int
        Which composite.
    probabilities : dict
        A name for each model's probabilities of that composite, array (10,).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``index`` is not a composite's index, or a model's probabilities do not have shape (10,).
    """
    index = check_scalar(index, "index", low=0, high=len(composites) - 1)
    labels = composites.labels[index].astype(bool)
    figure = plt.figure(figsize=(4 * max(len(probabilities), 2), 5.2))
    grid = figure.add_gridspec(2, len(probabilities), height_ratios=[1.5, 2.2])
    top = figure.add_subplot(grid[0, :])
    composite_with_boxes(composites, index, ax=top)
    top.axis("off")
    for column, (name, values) in enumerate(probabilities.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != (NUM_CLASSES,):
            raise ValueError(
                f"probabilities[{name!r}] must have shape ({NUM_CLASSES},); got {values.shape}"
            )
        ax = figure.add_subplot(grid[1, column])
        ax.bar(np.arange(NUM_CLASSES), values, color=[PRESENT if t else ABSENT for t in labels])
        ax.axhline(0.5, color="black", ls="--", lw=1)
        ax.set_ylim(0, 1.05)
        if column == 0:
            label_legend(
                ax, {"true label": PRESENT, "not present": ABSENT}, threshold=0.5, loc="upper left"
            )
        ax.set_title(name)
        ax.set_ylabel("predicted probability")
        ax.set_xticks(np.arange(NUM_CLASSES), CLASS_NAMES, rotation=60, ha="right")
    figure.tight_layout()
    return figure


def threshold_curves(
    sweeps: dict[str, pd.DataFrame], chosen: dict[str, float], score: str = "exact_match"
) -> Figure:
    """One score against the decision threshold, one curve per model.

    Parameters
    ----------
    sweeps : dict
        A name for each table from :func:`helpers.evaluation.threshold_sweep`.
    chosen : dict
        The threshold marked on each named curve.
    score : str
        The column to plot.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure, ax = plt.subplots(figsize=(7, 3.6))
    for (name, sweep), colour in zip(sweeps.items(), sns.color_palette(PALETTE), strict=False):
        if score not in sweep.columns:
            raise ValueError(
                f"sweep {name!r} has no column {score!r}; it has {list(sweep.columns)}"
            )
        ax.plot(sweep.index, sweep[score], color=colour, label=name)
        if name in chosen:
            ax.plot([chosen[name]], [sweep[score].loc[chosen[name]]], "o", color=colour)
    ax.axvline(0.5, color="grey", ls="--", lw=0.8, label="threshold 0.5")
    ax.set_xlabel("threshold (a label is predicted at or above it)")
    ax.set_ylabel(score.replace("_", " "))
    ax.set_title(f"Validation {score.replace('_', ' ')}: the best threshold depends on the head")
    ax.legend(frameon=False)
    figure.tight_layout()
    return figure


# --- notebook 03: training and evaluation ---


def training_history(history: dict[str, list[float]], title: str | None = None) -> Figure:
    """Loss and scores per epoch, training against validation (the study's Figure 5).

    Parameters
    ----------
    history : dict
        Per-epoch lists as :func:`helpers.training.train` returns them:
        ``loss`` and ``val_loss``, and whichever of ``per_label_accuracy``,
        ``val_per_label_accuracy`` and ``val_exact_match`` it holds (a
        softmax head has no training per-label accuracy).
    title : str, optional
        A title over both panels, e.g. which run this is.

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = [key for key in ("loss", "val_loss") if key not in history]
    if missing:
        raise ValueError(f"history must hold per-epoch 'loss' and 'val_loss'; missing {missing}")
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    marker = {"marker": "o", "ms": 3} if len(epochs) < 10 else {}
    loss_ax.plot(epochs, history["loss"], label="training", **marker)
    loss_ax.plot(epochs, history["val_loss"], label="validation", **marker)
    loss_ax.set(
        title="Loss, training and validation (log scale)",
        xlabel="epoch",
        ylabel="binary cross-entropy",
        yscale="log",
    )
    loss_ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    loss_ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))  # 0.2, not 2 x 10^-1
    loss_ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    loss_ax.legend()
    scores = {
        "per_label_accuracy": ("per-label accuracy, training", "-"),
        "val_per_label_accuracy": ("per-label accuracy, validation", "-"),
        "val_exact_match": ("exact match, validation", "--"),
    }
    colours = sns.color_palette(PALETTE)
    for (key, (label, line)), colour in zip(scores.items(), colours, strict=False):
        if key in history:
            score_ax.plot(epochs, history[key], label=label, linestyle=line, color=colour, **marker)
    if "val_exact_match" in history:
        best = int(np.argmax(history["val_exact_match"]))
        score_ax.plot(
            epochs[best], history["val_exact_match"][best], "o", color="black", ms=5, zorder=3
        )
        score_ax.annotate(
            f"best validation exact match, epoch {epochs[best]}",
            (epochs[best], history["val_exact_match"][best]),
            xytext=(0, 8),
            textcoords="offset points",
            ha="right" if best > len(epochs) / 2 else "left",
            fontsize=8,
        )
    score_ax.set(
        title="Per-label accuracy flatters; exact match does not",
        xlabel="epoch",
        ylabel="share right",
        ylim=(0, 1),
    )
    score_ax.legend(fontsize=8, loc="lower right")
    for ax in (loss_ax, score_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    return figure


def per_class_heatmap(per_class: pd.DataFrame) -> Figure:
    """Heatmap of the per-class precision, recall, F1 and average precision."""
    columns = ["precision", "recall", "f1", "average_precision"]
    figure, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    sns.heatmap(
        per_class[columns],
        annot=True,
        fmt=".2f",
        cmap="viridis",
        vmin=0.5,
        vmax=1,
        ax=ax,
        cbar_kws={"label": "score"},
    )
    ax.set_title("Test scores per class (threshold 0.5)")
    ax.set_ylabel("")
    return figure


def mistaken_for(table: pd.DataFrame) -> Figure:
    """Heatmap of :func:`helpers.evaluation.mistaken_for`: which class is predicted in place of a missed one."""
    pairs = table.drop(columns="missed")
    if pairs.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(
            f"table must be helpers.evaluation.mistaken_for's 10 x 10 counts plus 'missed'; got shape {table.shape}"
        )
    figure, ax = plt.subplots(figsize=(7.5, 5.6), layout="constrained")
    sns.heatmap(
        pairs,
        annot=True,
        fmt="d",
        cmap="viridis",
        mask=pairs == 0,
        ax=ax,
        annot_kws={"fontsize": 8},
        cbar_kws={"label": "test images"},
    )
    ax.set_yticks(
        np.arange(NUM_CLASSES) + 0.5,
        [f"{name} ({count} missed)" for name, count in table["missed"].items()],
        rotation=0,
    )
    ax.set(
        title="Which class is predicted when a label is missed",
        xlabel="predicted instead (not in the image)",
        ylabel="missed class",
    )
    return figure


# --- notebook 04: class activation maps ---


def overlay(
    ax: plt.Axes,
    image: np.ndarray,
    heatmap: np.ndarray,
    alpha: float = 0.5,
    vmin: float | None = None,
    vmax: float | None = None,
):
    """Draw a greyscale canvas with a heatmap over it; return the heatmap artist."""
    show_canvas(ax, image)
    return ax.imshow(
        heatmap, cmap=HEATMAP, alpha=alpha, vmin=vmin, vmax=vmax, interpolation="nearest"
    )


def probability_bars(
    ax: plt.Axes,
    probabilities: np.ndarray,
    true_labels: np.ndarray,
    threshold: float = 0.5,
    before: np.ndarray | None = None,
) -> None:
    """Horizontal bars of the 10 label probabilities, coloured by outcome, each with its value.

    A bar's colour is its label's outcome at ``threshold`` (one of
    :data:`OUTCOMES`, in a legend below the axes); true labels are in bold,
    the threshold dashed, each value written right of the axes. ``before``
    (probabilities of the same labels before a change, such as a covered
    product) is drawn as outlined bars, with ``before -> after`` written;
    :func:`update_probability_bars` can then redraw the values, with or
    without ``before``.
    """
    ax.barh(range(NUM_CLASSES), np.zeros(NUM_CLASSES))
    if before is not None:
        ax.barh(range(NUM_CLASSES), np.zeros(NUM_CLASSES), **OUTLINE)
    for row in range(NUM_CLASSES):  # x in axes fractions, y in bar rows
        ax.text(1.03, row, "", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(range(NUM_CLASSES), CLASS_NAMES)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.5, 1])
    ax.set_xlabel("predicted probability")
    label_legend(
        ax,
        OUTCOMES,
        threshold,
        outline=None if before is None else "before covering",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=2,
        frameon=False,
    )
    update_probability_bars(ax, probabilities, true_labels, before, threshold=threshold)


def outcomes(
    probabilities: np.ndarray, true_labels: np.ndarray, threshold: float = 0.5
) -> list[str]:
    """Name each label's outcome at ``threshold``: one of :data:`OUTCOMES` per label."""
    truth = np.asarray(true_labels, dtype=bool)
    predicted = np.asarray(probabilities) >= threshold
    if truth.shape != predicted.shape:
        raise ValueError(
            f"true_labels must have the shape of probabilities {predicted.shape}; got {truth.shape}"
        )
    return [_OUTCOME_OF[bool(t), bool(p)] for t, p in zip(truth, predicted, strict=True)]


def update_probability_bars(
    ax: plt.Axes,
    probabilities: np.ndarray,
    true_labels: np.ndarray,
    before: np.ndarray | None = None,
    *,
    threshold: float = 0.5,
) -> None:
    """Set new values on bars that :func:`probability_bars` drew: much faster than drawing anew.

    ``threshold`` decides each bar's outcome colour (give the one the bars
    were drawn with). Bars drawn with ``before`` show the outlines and
    ``before -> after`` where ``before`` is given again, the values alone
    where it is not.
    """
    outlined = len(ax.containers) > 1
    if before is not None and not outlined:
        raise ValueError("before needs bars drawn with before (probability_bars(..., before=...))")
    truth = np.asarray(true_labels, dtype=bool)
    named = outcomes(probabilities, truth, threshold)
    for bar, p, outcome in zip(ax.containers[0], probabilities, named, strict=True):
        bar.set_width(p)
        bar.set_color(OUTCOMES[outcome])
    for tick, t in zip(ax.get_yticklabels(), truth, strict=True):
        tick.set_fontweight("bold" if t else "normal")
    for row, (text, p) in enumerate(zip(ax.texts, probabilities, strict=True)):
        text.set_text(f"{p:.2f}" if before is None else f"{before[row]:.2f} \u2192 {p:.2f}")
    if outlined:
        for outline, width in zip(
            ax.containers[1], np.zeros(NUM_CLASSES) if before is None else before, strict=True
        ):
            outline.set_width(width)
        legend = ax.get_legend()  # its last entry explains the outlines, when there are any
        legend.legend_handles[-1].set_visible(before is not None)
        legend.texts[-1].set_text("" if before is None else "before covering")


EXPLORER_VIEWS = ("one label", "before and after", "Figure 2", "Figure 2, covered")
"""The explorer's layouts: one map; the same map before and after covering; the study's Figure 2
(its bars with the values before covering, or without)."""
EXPLORER_DPI = 160  # twice the 80 pixels per inch the page shows it at: crisp on dense screens
BOX_LINES = {"shown": "-", "other": (0, (3, 2))}
"""Boxes of the label shown solid, the others dashed (white: no colour of the bars' outcomes)."""


def box_artists(ax: plt.Axes, slots: int, names: bool) -> list[tuple[plt.Rectangle, plt.Text]]:
    """Add ``slots`` hidden boxes (and names under the axes, on two alternating lines) to update later.

    :func:`update_boxes` moves and shows them; without ``names`` the texts stay empty.
    """
    artists = []
    for slot in range(slots):
        box = plt.Rectangle((0, 0), 1, 1, fill=False, color="white", lw=1.2, visible=False)
        ax.add_patch(box)
        below = transforms.offset_copy(
            ax.get_xaxis_transform(), fig=ax.get_figure(), y=-2 - 11 * (slot % 2), units="points"
        )
        name = ax.text(0, 0, "", transform=below, ha="center", va="top", fontsize=9)
        name.set_visible(names)
        artists.append((box, name))
    return artists


def update_boxes(
    artists: list[tuple[plt.Rectangle, plt.Text]],
    items: np.ndarray,
    boxes: np.ndarray,
    label: int | None = None,
    visible: bool = True,
) -> None:
    """Outline one canvas's products (``items`` (S,), ``boxes`` (S, 4)) on artists of :func:`box_artists`.

    Empty slots are hidden; the boxes of class ``label`` are drawn solid, the others dashed.
    """
    for (box, name), c, (x0, y0, x1, y1) in zip(artists, items, boxes, strict=True):
        shown = visible and c != EMPTY
        box.set_visible(shown)
        name.set_text(CLASS_NAMES[c] if shown else "")
        if shown:
            box.set_bounds(x0 - 0.5, y0 - 0.5, x1 - x0, y1 - y0)
            box.set_linestyle(BOX_LINES["shown" if c == label else "other"])
            name.set_x((x0 + x1 - 1) / 2)


class Blitted:
    """A figure laid out once and redrawn fast: its changing artists over a saved background (blitting).

    Parameters
    ----------
    figure : Figure
        Laid out already (its layout engine set to ``"none"``).
    changing : list of Artist
        The artists a redraw changes, in drawing order; the rest of the figure
        is drawn once into the background.
    """

    def __init__(self, figure: Figure, changing: list):
        self.figure, self.changing, self.key = figure, changing, None
        for artist in changing:
            artist.set_animated(True)
        self.canvas = FigureCanvasAgg(figure)

    def draw(self, key: object = None) -> None:
        """Draw the changing artists over the background, into ``canvas``.

        ``key`` says what the background shows (a colour bar's range, say): a
        new key draws the whole figure and keeps it as the background.
        """
        if key != self.key or self.key is None:
            self.canvas.draw()
            self.background, self.key = self.canvas.copy_from_bbox(self.figure.bbox), key
        else:
            self.canvas.restore_region(self.background)
        renderer = self.canvas.get_renderer()
        for artist in self.changing:
            if artist.get_visible():
                artist.draw(renderer)


def explorer_figure(
    view: str,
    canvas_shape: tuple[int, int],
    threshold: float,
    longest_title: str,
    maps_shown: int = 4,
    slots: int = 4,
) -> dict:
    """Lay out one view of the explorer once, for :class:`helpers.explorer.Explorer` to update in place.

    ``"one label"``: one map over the canvas beside the probability bars;
    ``"before and after"``: that map before covering above the one after;
    ``"Figure 2"``: :func:`figure2`'s layout with ``maps_shown`` maps (``"Figure 2, covered"``:
    its bars with the values before covering). Each
    map (and Figure 2's canvas) has ``slots`` hidden boxes of
    :func:`box_artists`. The layout is computed with the longest texts, then
    frozen: redraws keep it (much faster than laying out again);
    ``longest_title`` is the longest a map's title gets. The figure is
    :data:`EXPLORER_DPI`, for a page that shows it at half its pixels.

    Returns
    -------
    dict
        ``figure``; ``ax`` (the axes with the bare canvas, or the map after covering);
        ``heat_axes`` and ``heats`` (map axes and their heatmap artists);
        ``boxes`` (per axes, its box artists); ``bars`` (axes of
        :func:`probability_bars`, drawn with ``before``); ``colorbar``; ``blitted`` (a
        :class:`Blitted` that redraws the maps, the canvas and the bars over the rest).
    """
    check_choice(view, "view", EXPLORER_VIEWS)
    blank = np.zeros(canvas_shape)
    if view.startswith("Figure 2"):
        figure = Figure(figsize=(8, 1.1 * maps_shown + 2.6), dpi=EXPLORER_DPI, layout="constrained")
        ax, bars, heat_axes = figure2_axes(figure, maps_shown)
        show_canvas(ax, blank)
    else:
        figure = Figure(
            figsize=(10, 3.9 if view == "one label" else 5.6),
            dpi=EXPLORER_DPI,
            layout="constrained",
        )
        layout = (
            [["after", "bars"]] if view == "one label" else [["before", "bars"], ["after", "bars"]]
        )
        axes = figure.subplot_mosaic(layout, width_ratios=[3.2, 1])
        ax, bars = axes["after"], axes["bars"]
        heat_axes = [axes["before"], ax] if view == "before and after" else [ax]
    heats = [overlay(heat_ax, blank, blank) for heat_ax in heat_axes]
    named = {ax} if view.startswith("Figure 2") else set(heat_axes)
    boxes = {each: box_artists(each, slots, each in named) for each in {ax, *heat_axes}}
    for artists in boxes.values():
        for _, name in artists:
            name.set_text("T-shirt/top")  # the longest name, for the layout
    where = (
        {"ax": heat_axes, "location": "bottom", "shrink": 0.6, "aspect": 40}
        if view.startswith("Figure 2")
        else {"ax": heat_axes, "shrink": 0.9}
    )
    colorbar = heat_axes[0].get_figure().colorbar(heats[0], label="scaled activation", **where)
    covered = view in ("before and after", "Figure 2, covered")
    ones = np.ones(NUM_CLASSES)
    probability_bars(bars, ones, np.zeros(NUM_CLASSES), threshold, before=ones)
    update_probability_bars(bars, ones, np.zeros(NUM_CLASSES), ones if covered else None)
    bars.set_xlabel("")  # the title says it; the legend needs the room
    bars.set_title(
        "probabilities, before \u2192 after covering" if covered else "probabilities", fontsize=10
    )
    if view.startswith("Figure 2"):
        ax.set_title("the caption\nand the true labels", fontsize=10)  # two lines
    for heat_ax in heat_axes:
        heat_ax.set_title(longest_title, fontsize=10)
    FigureCanvasAgg(figure).draw()
    figure.set_layout_engine("none")
    in_bars = [*bars.patches, *bars.lines, *bars.spines.values(), *bars.texts, bars.yaxis]
    changing = [  # the bars' artists in the order a full draw takes them: by zorder
        *dict.fromkeys([ax, *heat_axes]),
        *sorted(in_bars, key=lambda artist: artist.get_zorder()),
    ]
    return {
        "figure": figure,
        "ax": ax,
        "heat_axes": heat_axes,
        "heats": heats,
        "boxes": boxes,
        "bars": bars,
        "colorbar": colorbar,
        "blitted": Blitted(figure, changing),
    }


def cam_steps(
    image: np.ndarray,
    features: np.ndarray,
    weights: np.ndarray,
    class_id: int,
    small: np.ndarray,
    upsampled: np.ndarray,
    shown: int = 4,
) -> Figure:
    """CAM step by step for one image and class: feature maps -> weights -> sum -> upsample.

    The top row shows the ``shown`` feature maps with the largest terms
    ``weights[k, class_id] * mean(f_k)`` in the class logit (in size), on one
    colour scale; the bottom row their weighted sum over all K maps and its
    upsampled version, on another.

    Parameters
    ----------
    image : uint8 array (H, W)
    features : array (h, w, K)
        The ``last_conv`` maps of the image.
    weights : array (K, 10)
        The Dense kernel.
    class_id : int
    small, upsampled : arrays (h, w) and (H, W)
        The class's map at feature resolution and at canvas size, from
        :func:`helpers.cam.class_activation_maps`.
    shown : int
        How many feature maps to draw.
    """
    if np.shape(small) != features.shape[:2] or np.shape(upsampled) != image.shape:
        raise ValueError(
            f"small must have shape {features.shape[:2]} and upsampled {image.shape}; "
            f"got {np.shape(small)} and {np.shape(upsampled)}"
        )
    column = weights[:, class_id]
    terms = features.mean(axis=(0, 1)) * column  # each map's term in the logit
    top = np.argsort(np.abs(terms))[::-1][:shown]
    figure = plt.figure(figsize=(12, 4.8), layout="constrained")
    grid = figure.add_gridspec(2, shown)
    feature_axes = [figure.add_subplot(grid[0, i]) for i in range(shown)]
    low, high = min(0.0, float(features[..., top].min())), float(features[..., top].max())
    for ax, k in zip(feature_axes, top, strict=True):
        drawn = ax.imshow(features[..., k], cmap=HEATMAP, vmin=low, vmax=high)
        ax.set_title(f"f{k}: weight {column[k]:+.2f}, term {terms[k]:+.1f}", fontsize=9)
        hide_ticks(ax)
    figure.colorbar(drawn, ax=feature_axes, shrink=0.8, label="feature value")
    half = shown // 2
    raw_ax, up_ax = figure.add_subplot(grid[1, :half]), figure.add_subplot(grid[1, half:])
    low, high = min(0.0, float(np.min(small))), float(np.max(small))
    summed = raw_ax.imshow(small, cmap=HEATMAP, vmin=low, vmax=high)
    raw_ax.set_title(
        f"sum over all {len(column)} maps: {features.shape[0]}x{features.shape[1]}", fontsize=9
    )
    hide_ticks(raw_ax)
    overlay(up_ax, image, upsampled, 0.6, low, high)
    up_ax.set_title(
        f"upsampled to {image.shape[0]}x{image.shape[1]} and laid over the image", fontsize=9
    )
    figure.colorbar(summed, ax=[raw_ax, up_ax], shrink=0.8, label="class activation")
    figure.suptitle(
        f"CAM of {CLASS_NAMES[class_id]}. Top: the {shown} of {len(column)} feature maps with the "
        "largest terms (weight x map mean) in its logit, on one scale.\n"
        f"Bottom: the weighted sum of all {len(column)}, and upsampled, on another"
    )
    return figure


def figure2_axes(figure: Figure, top_k: int) -> tuple[plt.Axes, plt.Axes, list[plt.Axes]]:
    """Lay out the study's Figure 2 on ``figure``: the image above ``top_k`` map axes of the same
    width, the probability bars beside them.

    Each column is a subfigure, laid out on its own: the bars' legend does not
    push the maps apart. A colour bar of the maps belongs to their subfigure
    (``heat_axes[0].get_figure().colorbar``).
    """
    left, right = figure.subfigures(1, 2, width_ratios=[2, 1])
    image_ax, *heat_axes = left.subplots(top_k + 1, 1)
    return image_ax, right.subplots(), heat_axes


def figure2(
    composites: Composites,
    index: int,
    logits: np.ndarray,
    maps: np.ndarray,
    *,
    top_k: int = 4,
    threshold: float = 0.5,
    alpha: float = 0.55,
    colorbar_label: str = "class activation",
    scale: tuple[float, float] | None = None,
) -> Figure:
    """The study's Figure 2: (a) the image, (b) label probabilities, (c) CAMs of the top labels.

    The image shows its products boxed and named; the bars name the true
    labels in bold; the maps below the image have its width, in the order of
    the logits, on one colour scale.

    Parameters
    ----------
    composites : Composites
    index : int
        The composite of ``composites`` to draw.
    logits : array (10,)
        Its class logits. The bars show their sigmoid; the maps are those of
        the ``top_k`` highest logits, so that labels whose probabilities all
        round to 1 are ordered by the evidence, not by class.
    maps : array (H, W, 10)
        Its class maps, drawn on one colour scale (normalise them per image
        first to compare classes).
    top_k : int
        How many maps to draw.
    threshold : float
        Marked on the probability bars; it decides each label's outcome
        (:data:`OUTCOMES`).
    alpha : float
        Opacity of the heatmaps over the image.
    colorbar_label : str
        What the colours measure, e.g. how ``maps`` were scaled.
    scale : (low, high), optional
        The values at the bottom and top of the colour scale. By default the
        lowest and highest value of the maps drawn; ``(0, 1)`` for maps
        normalised by :func:`helpers.cam.normalize_maps`, so that the
        colours mean the same in every figure.

    Raises
    ------
    ValueError
        If ``index`` is not a composite of ``composites``, ``logits`` or
        ``maps`` do not have one value or map per class at its size, or
        ``scale`` is not two numbers, low below high.
    """
    index = check_scalar(index, "index", low=0, high=len(composites) - 1)
    logits = np.asarray(logits, dtype=np.float64)
    image = composites.images[index]
    if logits.shape != (NUM_CLASSES,) or np.shape(maps) != (*image.shape, NUM_CLASSES):
        raise ValueError(
            f"logits must have shape ({NUM_CLASSES},) and maps {(*image.shape, NUM_CLASSES)}; "
            f"got {logits.shape} and {np.shape(maps)}"
        )
    check_scalar(top_k, "top_k", low=1, high=NUM_CLASSES)
    order = ranking(logits)[:top_k]
    if scale is None:
        scale = float(maps[..., order].min()), float(maps[..., order].max())
    elif np.shape(scale) != (2,) or not scale[0] < scale[1]:
        raise ValueError(f"scale must be two numbers (low, high) with low < high; got {scale}")
    probabilities = np.exp(-np.logaddexp(0, -logits))  # the sigmoid, without overflow
    named = outcomes(probabilities, composites.labels[index], threshold)
    figure = plt.figure(figsize=(11, 1.3 * (top_k + 1) + 1.0), layout="constrained")
    image_ax, bars_ax, heat_axes = figure2_axes(figure, top_k)
    show_canvas(image_ax, image)
    name_products(  # yellow: no colour of the bars' outcomes
        image_ax,
        composites.items[index],
        composites.boxes[index],
        fontsize=9,
        colour=sns.color_palette(PALETTE)[8],
    )
    image_ax.set_title("(a) the image, its products boxed and named", fontsize=10)
    probability_bars(bars_ax, probabilities, composites.labels[index], threshold)
    bars_ax.set_title("(b) predicted probabilities, true labels in bold", fontsize=10)
    for ax, c in zip(heat_axes, order, strict=True):
        artist = overlay(ax, image, maps[..., c], alpha, *scale)
        ax.set_title(
            f"(c) CAM of {CLASS_NAMES[c]}: logit {logits[c]:.1f}, p = {probabilities[c]:.2f} "
            f"({named[c]})",
            fontsize=9,
        )
    heat_axes[0].get_figure().colorbar(
        artist, ax=heat_axes, location="bottom", label=colorbar_label, shrink=0.6, aspect=40
    )
    return figure


# --- notebook 05: Grad-CAM and localisation ---

SCORE_TITLES = {
    "pointing_game": "pointing game (higher is better)",
    "energy_share": "energy share (higher is better)",
    "box_hit": "box IoU >= 0.5 (higher is better)",
    "deletion_auc": "deletion AUC (lower is better)",
}
"""A title for each score of :data:`helpers.localisation.SCORES` (``tests/test_plots.py`` checks that they match)."""


def name_products(
    ax: plt.Axes, items: np.ndarray, boxes: np.ndarray, fontsize: float = 7, colour="white"
) -> None:
    """Outline the products of one composite and name each under the canvas, below its box.

    The names alternate between two lines (major and minor x ticks), so that
    long names of neighbouring products do not run into each other.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        An axes that shows the composite.
    items, boxes : arrays (S,) and (S, 4)
        One composite's slots, from :class:`helpers.composite.Composites`; empty slots are skipped.
    fontsize : float
        Of the names.
    colour : matplotlib colour
        Of the dashed boxes: one that stands out from what the canvas shows (white over heatmaps).
    """
    present = np.asarray(items) != EMPTY
    shown = np.asarray(boxes)[present]
    for box in shown:
        draw_box(ax, box, colour, lw=0.8, ls=(0, (3, 2)), alpha=0.8)
    centres = (shown[:, 0] + shown[:, 2] - 1) / 2
    names = [CLASS_NAMES[c] for c in np.asarray(items)[present]]
    ax.set_xticks(centres[::2], names[::2], fontsize=fontsize)
    ax.set_xticks(centres[1::2], names[1::2], fontsize=fontsize, minor=True)
    ax.tick_params(axis="x", which="both", length=0, pad=1.5)
    ax.tick_params(axis="x", which="minor", pad=1.5 + 1.4 * fontsize)


def method_grid(
    images: np.ndarray,
    maps: dict[str, np.ndarray],
    row_titles: list[str],
    alpha: float = 0.55,
    *,
    items: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
) -> Figure:
    """Heatmaps of several methods (columns) over several canvases (rows), on one [0, 1] scale.

    Parameters
    ----------
    images : uint8 array (n, H, W)
    maps : dict
        A name for each array (n, H, W) of maps normalised to [0, 1].
    row_titles : list of str
        One title per canvas, e.g. the class explained.
    alpha : float
        Opacity of the heatmaps.
    items, boxes : arrays (n, S) and (n, S, 4), optional
        The canvases' products (:class:`helpers.composite.Composites`): each
        panel then outlines them and names them under the canvas.
    """
    images = np.asarray(images)
    if len(row_titles) != len(images):
        raise ValueError(
            f"row_titles must have one title per image ({len(images)}); got {len(row_titles)}"
        )
    for name, values in maps.items():
        if np.shape(values) != images.shape:
            raise ValueError(
                f"maps[{name!r}] must have shape {images.shape}; got {np.shape(values)}"
            )
    if (items is None) != (boxes is None) or (
        items is not None
        and (np.shape(items)[:1] != (len(images),) or np.shape(boxes) != (*np.shape(items), 4))
    ):
        raise ValueError(
            f"items and boxes must be given together, with shapes ({len(images)}, S) and "
            f"({len(images)}, S, 4); got {np.shape(items)} and {np.shape(boxes)}"
        )
    figure, axes = plt.subplots(
        len(images),
        len(maps),
        figsize=(2.6 * len(maps) + 1.2, (0.75 if items is None else 1.0) * len(images) + 0.5),
        squeeze=False,
        layout="constrained",
    )  # four methods fit the width of a notebook, about 10 inches
    for row, title in enumerate(row_titles):
        for column, (name, values) in enumerate(maps.items()):
            artist = overlay(axes[row, column], images[row], values[row], alpha, 0, 1)
            if items is not None:
                name_products(axes[row, column], items[row], boxes[row])
            if row == 0:
                axes[row, column].set_title(name, fontsize=10)
        axes[row, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
    figure.colorbar(artist, ax=axes, shrink=0.8, label="saliency (per map, 0-1)")
    return figure


def equivalence_scatter(
    cam_values: np.ndarray, grad_values: np.ndarray, cells: int, shown: int = 4000
) -> Figure:
    """Scatter raw CAM against Grad-CAM before its ReLU, with the line ``y = x / cells``.

    Parameters
    ----------
    cam_values, grad_values : arrays of one shape
        The same maps by both methods, at feature resolution, unnormalised.
    cells : int
        h * w of the layer, the predicted scale between them.
    shown : int
        Points drawn (an even sample).
    """
    x, y = np.ravel(cam_values), np.ravel(grad_values)
    if x.shape != y.shape:
        raise ValueError(
            f"cam_values and grad_values must have one shape; got {np.shape(cam_values)} and {np.shape(grad_values)}"
        )
    pick = np.linspace(0, len(x) - 1, min(shown, len(x))).astype(int)
    figure, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    ax.scatter(x[pick], y[pick], s=6, alpha=0.5, zorder=3, label=f"{len(pick):,} map values")
    line = np.array([x.min(), x.max()])
    ax.plot(  # under the points, thin and dashed, so that they show through
        line,
        line / cells,
        color="black",
        lw=0.7,
        ls=(0, (4, 4)),
        zorder=2,
        label=f"y = x / {cells}",
    )
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set(
        xlabel="CAM value (logit units)",
        ylabel="Grad-CAM before ReLU",
        title="Grad-CAM at last_conv is CAM, rescaled",
    )
    ax.legend(frameon=False)
    return figure


def box_test(
    image: np.ndarray,
    heatmap: np.ndarray,
    found: tuple | None,
    truth: np.ndarray,
    threshold: float = 0.2,
    title: str = "",
) -> Figure:
    """One box test: the map, its region above ``threshold`` x max, the box found and the true boxes.

    Parameters
    ----------
    image : uint8 array (H, W)
    heatmap : array (H, W)
    found : (x0, y0, x1, y1) or None
        The estimated box (x1, y1 exclusive).
    truth : array (M, 4)
        The boxes of the products of the class.
    """
    figure, ax = plt.subplots(figsize=(8, 2.4), layout="constrained")
    artist = overlay(ax, image, heatmap, 0.55)
    outlined = [patheffects.withStroke(linewidth=2.2, foreground="black")]  # shows on white too
    region = ax.contour(
        heatmap >= threshold * heatmap.max(), levels=[0.5], colors="white", linewidths=0.8
    )
    region.set_path_effects(outlined)
    colours = sns.color_palette(PALETTE)
    for box in np.atleast_2d(truth):
        draw_box(ax, box, colours[2], lw=2)
    if found is not None:
        draw_box(ax, found, colours[1], lw=2, ls="--")
    ax.legend(
        handles=[
            plt.Line2D([], [], color="white", lw=0.8, path_effects=outlined),
            plt.Line2D([], [], color=colours[1], ls="--"),
            plt.Line2D([], [], color=colours[2]),
        ],
        labels=[
            f">= {threshold:.0%} of the maximum",
            "box of the largest region",
            "true product box",
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    figure.colorbar(artist, ax=ax, shrink=0.9, label="saliency")
    ax.set_title(title)
    return figure


def score_bars(overall: pd.DataFrame, intervals: pd.DataFrame | None = None) -> Figure:
    """One bar chart per localisation score, one bar per method, with 95 % intervals if given.

    Parameters
    ----------
    overall : pandas.DataFrame
        Methods as rows, scores as columns (from :func:`helpers.localisation.compare_methods`).
    intervals : pandas.DataFrame, optional
        ``low`` and ``high`` for every (method, score) of ``overall``, drawn as
        error bars (from :func:`helpers.localisation.bootstrap_intervals`).
    """
    scores = [s for s in SCORE_TITLES if s in overall.columns]
    if not scores:
        raise ValueError(
            f"overall has none of the score columns {list(SCORE_TITLES)}; it has {list(overall.columns)}"
        )
    if intervals is not None:
        wanted = pd.MultiIndex.from_product([overall.index, scores])
        if not wanted.isin(intervals.index).all() or not {"low", "high"} <= set(intervals.columns):
            raise ValueError(
                "intervals must have low and high for every (method, score) of overall"
            )
    colours = sns.color_palette(PALETTE, len(overall))
    columns = min(2, len(scores))
    rows = int(np.ceil(len(scores) / columns))
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(4.6 * columns + 1.2, (0.32 * len(overall) + 1.0) * rows),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, score in zip(axes.ravel(), scores, strict=False):
        values = overall[score].to_numpy(dtype=float)
        ends, error = values, None
        if intervals is not None:
            low, high = (
                intervals.loc[[(m, score) for m in overall.index], side].to_numpy(dtype=float)
                for side in ("low", "high")
            )
            error, ends = np.array([values - low, high - values]), high
        ax.barh(range(len(values)), values, color=colours, xerr=error, capsize=2)
        for y, (value, end) in enumerate(zip(values, ends, strict=True)):
            ax.text(end, y, f" {value:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
        ax.set_title(SCORE_TITLES[score], fontsize=10)
        ax.set_xlabel("share" if score != "deletion_auc" else "mean probability")
    for ax in axes.ravel()[len(scores) :]:
        ax.axis("off")
    axes[0, 0].set_yticks(range(len(overall)), overall.index)  # shared by every panel
    axes[0, 0].invert_yaxis()
    if intervals is not None:
        figure.suptitle("Mean over the test labels, with 95 % bootstrap intervals", fontsize=10)
    return figure


def deletion_curves(curves: pd.DataFrame) -> Figure:
    """Mean class probability against the share of the canvas deleted, one line per method.

    Parameters
    ----------
    curves : pandas.DataFrame
        Fraction deleted as the index, one column per method (from
        :func:`helpers.localisation.compare_methods`).
    """
    figure, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    fractions = curves.index.to_numpy(dtype=float)
    markers, dashes = "osD^vPX*", ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1))]
    for number, ((name, values), colour) in enumerate(
        zip(curves.items(), sns.color_palette(PALETTE, curves.shape[1]), strict=True)
    ):  # curves that coincide stay apart by their markers and dashes
        area = np.trapezoid(values.to_numpy(dtype=float), fractions)
        ax.plot(
            fractions * 100,
            values,
            marker=markers[number % len(markers)],
            ls=dashes[number % len(dashes)],
            ms=7 - number % 3 * 1.5,
            mfc="none",
            color=colour,
            label=f"{name} (AUC {area:.2f})",
        )
    ax.set(
        xlabel="pixels deleted, most salient first (% of the canvas)",
        ylabel="mean probability of the class",
        ylim=(0, 1),
        title="Deletion: the faster the probability falls, the better the map",
    )
    ax.legend(frameon=False, fontsize=10, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure  # the legend right of the axes: it hides no curve


def per_class_scores(per_class: pd.DataFrame) -> Figure:
    """Heatmaps of every score per class and method.

    Parameters
    ----------
    per_class : pandas.DataFrame
        Classes as rows, (score, method) columns (from
        :func:`helpers.localisation.compare_methods`).
    """
    scores = [s for s in SCORE_TITLES if s in per_class.columns.get_level_values(0)]
    if not scores:
        raise ValueError(
            f"per_class needs (score, method) columns with scores from {list(SCORE_TITLES)}"
        )
    columns = min(2, len(scores))
    rows = int(np.ceil(len(scores) / columns))
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(10, 4.2 * rows + 1.6),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )  # 10 inches: the width of a notebook, so the annotations keep their size
    for ax in axes.ravel()[len(scores) :]:
        ax.axis("off")
    for ax, score in zip(axes.ravel(), scores, strict=False):
        table = per_class[score]
        sns.heatmap(
            table,
            annot=True,
            fmt=".2f",
            cmap="viridis" if score != "deletion_auc" else "viridis_r",
            vmin=0,
            vmax=1,
            ax=ax,
            annot_kws={"fontsize": 9},
            cbar_kws={
                "shrink": 0.7,
                "label": "AUC (bright = low)"
                if score == "deletion_auc"
                else "share (bright = high)",
            },
        )
        ax.set_title(SCORE_TITLES[score], fontsize=11)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="both", labelsize=10)
        ax.tick_params(axis="x", rotation=45)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    for ax in axes.ravel()[: len(scores) - columns]:
        ax.tick_params(axis="x", labelbottom=False)  # named under the heatmap below it
    return figure
