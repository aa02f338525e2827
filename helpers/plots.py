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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers.composite import EMPTY, Composites
from helpers.fashion import CLASS_NAMES, NUM_CLASSES

PALETTE = "colorblind"
HEATMAP = "magma"
PRESENT, ABSENT = (
    sns.color_palette(PALETTE)[i] for i in (0, 7)
)  # blue and grey: true labels and the rest, in every figure


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
    threshold: float | None = None,
    names: tuple[str, str] = ("true label", "not present"),
    **placement,
) -> None:
    """Explain the bar colours of :data:`PRESENT` and :data:`ABSENT` (and a dashed threshold line) in a legend."""
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=PRESENT),
        plt.Rectangle((0, 0), 1, 1, color=ABSENT),
    ]
    labels = list(names)
    if threshold is not None:
        handles.append(plt.Line2D([], [], color="black", ls="--", lw=1))
        labels.append(f"threshold {threshold:g}")
    ax.legend(handles=handles, labels=labels, fontsize=8, **placement)


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
    """Bar charts: distinct labels per image, and class prevalence, per split."""
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
    sns.barplot(shares, x="distinct labels", y="share", hue="split", ax=left)
    left.set_title("Distinct labels per composite")
    left.set_ylabel("share of composites")
    sns.barplot(prevalence, x="class", y="share of images", hue="split", ax=right, legend=False)
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
        axes[-1, 0], names=("a label the logits speak for", "the other labels"), loc="upper center"
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
    image: np.ndarray, probabilities: dict[str, np.ndarray], labels: np.ndarray
) -> Figure:
    """One composite, and the probabilities each model gives its ten classes.

    Parameters
    ----------
    image : uint8 array (32, 128)
    probabilities : dict
        A name for each model's probabilities, array (10,).
    labels : array (10,) of 0/1
        The true labels, drawn in :data:`PRESENT` (the rest in :data:`ABSENT`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = np.asarray(labels, bool)
    if labels.shape != (NUM_CLASSES,):
        raise ValueError(f"labels must have shape ({NUM_CLASSES},); got {labels.shape}")
    figure = plt.figure(figsize=(4 * max(len(probabilities), 2), 4.6))
    grid = figure.add_gridspec(2, len(probabilities), height_ratios=[1, 2.2])
    top = figure.add_subplot(grid[0, :])
    show_canvas(top, image)
    top.set_title(f"true labels: {label_names(labels)}")
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
            label_legend(ax, threshold=0.5, loc="upper left")
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
    ax.axvline(0.5, color="grey", ls="--", lw=0.8)
    ax.text(0.51, 0.98, "0.5", transform=ax.get_xaxis_transform(), va="top", color="grey")
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
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="loss")
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
    """Horizontal bars of the 10 label probabilities, true labels in bold, the threshold dashed.

    ``before`` (probabilities of the same labels before a change, such as a
    covered product) is drawn as outlined bars, with ``before -> after``
    written right of the axes; :func:`update_probability_bars` can then
    redraw the values, with or without ``before``.
    """
    ax.barh(range(NUM_CLASSES), np.zeros(NUM_CLASSES))
    if before is not None:
        ax.barh(
            range(NUM_CLASSES), np.zeros(NUM_CLASSES), fill=False, edgecolor="black", linewidth=0.8
        )
        for row in range(NUM_CLASSES):  # x in axes fractions, y in bar rows
            ax.text(1.03, row, "", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    ax.set_yticks(range(NUM_CLASSES), CLASS_NAMES)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("predicted probability")
    label_legend(
        ax, threshold, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False
    )
    update_probability_bars(ax, probabilities, true_labels, before)


def update_probability_bars(
    ax: plt.Axes,
    probabilities: np.ndarray,
    true_labels: np.ndarray,
    before: np.ndarray | None = None,
) -> None:
    """Set new values on bars that :func:`probability_bars` drew: much faster than drawing anew.

    Bars drawn with ``before`` write each value right of the axes, and
    ``before -> after`` where ``before`` is given again.
    """
    outlined = len(ax.containers) > 1
    if before is not None and not outlined:
        raise ValueError("before needs bars drawn with before (probability_bars(..., before=...))")
    truth = np.asarray(true_labels, dtype=bool)
    for bar, p, t in zip(ax.containers[0], probabilities, truth, strict=True):
        bar.set_width(p)
        bar.set_color(PRESENT if t else ABSENT)
    for tick, t in zip(ax.get_yticklabels(), truth, strict=True):
        tick.set_fontweight("bold" if t else "normal")
    if outlined:
        for row, (outline, text, p) in enumerate(
            zip(ax.containers[1], ax.texts, probabilities, strict=True)
        ):
            outline.set_width(0 if before is None else before[row])
            text.set_text(f"{p:.2f}" if before is None else f"{before[row]:.2f} \u2192 {p:.2f}")
    names = (
        ("true label", "not present")
        if before is None
        else ("true label (after)", "not present (after)")
    )
    for text, name in zip(ax.get_legend().texts[:2], names, strict=True):  # then the threshold
        text.set_text(name)


def explorer_figure(
    view: str, canvas_shape: tuple[int, int], threshold: float, longest_title: str, top_k: int = 3
) -> dict:
    """Lay out one view of the explorer once, for :class:`helpers.explorer.Explorer` to update in place.

    ``"one label"``: one map over the canvas beside the probability bars;
    ``"Figure 2"``: :func:`figure2`'s layout with ``top_k`` maps. The layout
    is computed with the longest texts, then frozen: redraws keep it (much
    faster than laying out again); ``longest_title`` is the longest a map's title gets.

    Returns
    -------
    dict
        ``figure``; ``ax`` (the axes with the bare canvas, or the one map);
        ``heat_axes`` and ``heats`` (map axes and their heatmap artists);
        ``bars`` (axes of :func:`probability_bars`, drawn with ``before``); ``colorbar``.
    """
    blank = np.zeros(canvas_shape)
    if view == "one label":
        figure = Figure(figsize=(10, 3.0), dpi=80, layout="constrained")
        ax, bars = figure.subplots(1, 2, width_ratios=[3.2, 1])
        heat_axes = [ax]
    else:
        figure = Figure(figsize=(10, 5.6), dpi=80, layout="constrained")
        ax, bars, heat_axes = figure2_axes(figure, top_k)
        show_canvas(ax, blank)
    heats = [overlay(heat_ax, blank, blank) for heat_ax in heat_axes]
    where = (
        {"ax": ax, "shrink": 0.9}
        if view == "one label"
        else {"ax": heat_axes, "location": "bottom", "shrink": 0.6, "aspect": 40}
    )
    colorbar = figure.colorbar(heats[0], label="scaled activation", **where)
    probability_bars(
        bars, np.ones(NUM_CLASSES), np.zeros(NUM_CLASSES), threshold, before=np.ones(NUM_CLASSES)
    )
    bars.set_xlabel("")  # the title says it; the legend needs the room
    bars.set_title(" ", fontsize=9)
    if view != "one label":
        ax.set_title("the caption\nand the true labels", fontsize=9)  # two lines
    for heat_ax in heat_axes:
        heat_ax.set_title(longest_title, fontsize=9)
    FigureCanvasAgg(figure).draw()
    figure.set_layout_engine("none")
    return {
        "figure": figure,
        "ax": ax,
        "heat_axes": heat_axes,
        "heats": heats,
        "bars": bars,
        "colorbar": colorbar,
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
        How many of the feature maps that add most to the class score to draw.
    """
    if np.shape(small) != features.shape[:2] or np.shape(upsampled) != image.shape:
        raise ValueError(
            f"small must have shape {features.shape[:2]} and upsampled {image.shape}; "
            f"got {np.shape(small)} and {np.shape(upsampled)}"
        )
    column = weights[:, class_id]
    contribution = features.mean(axis=(0, 1)) * column
    top = np.argsort(np.abs(contribution))[::-1][:shown]
    figure = plt.figure(figsize=(12, 4.6), layout="constrained")
    grid = figure.add_gridspec(2, shown)
    for i, k in enumerate(top):
        ax = figure.add_subplot(grid[0, i])
        ax.imshow(features[..., k], cmap=HEATMAP)
        ax.set_title(f"map f{k}, weight {column[k]:+.2f}", fontsize=9)
        hide_ticks(ax)
    half = shown // 2
    raw_ax = figure.add_subplot(grid[1, :half])
    shown_raw = raw_ax.imshow(small, cmap=HEATMAP)
    raw_ax.set_title(
        f"sum over all {len(column)} maps: {features.shape[0]}x{features.shape[1]}", fontsize=9
    )
    figure.colorbar(shown_raw, ax=raw_ax, shrink=0.8)
    up_ax = figure.add_subplot(grid[1, half:])
    figure.colorbar(
        overlay(up_ax, image, upsampled, 0.6), ax=up_ax, shrink=0.8, label="class activation"
    )
    up_ax.set_title(
        f"upsampled to {image.shape[0]}x{image.shape[1]} and laid over the image", fontsize=9
    )
    hide_ticks(raw_ax)
    figure.suptitle(
        f"CAM of {CLASS_NAMES[class_id]}: the feature maps that count most, weighted and summed"
    )
    return figure


def figure2_axes(figure: Figure, top_k: int) -> tuple[plt.Axes, plt.Axes, list[plt.Axes]]:
    """Lay out the study's Figure 2 on ``figure``: the image above ``top_k`` map axes, the
    probability bars beside them."""
    grid = figure.add_gridspec(top_k + 1, 2, width_ratios=[1.7, 1])
    image_ax, bars_ax = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[:, 1])
    return image_ax, bars_ax, [figure.add_subplot(grid[row, 0]) for row in range(1, top_k + 1)]


def figure2(
    image: np.ndarray,
    probabilities: np.ndarray,
    maps: np.ndarray,
    true_labels: np.ndarray,
    *,
    top_k: int = 4,
    threshold: float = 0.5,
    alpha: float = 0.55,
    colorbar_label: str = "class activation",
) -> Figure:
    """The study's Figure 2: (a) the image, (b) label probabilities, (c) CAMs of the top labels.

    Parameters
    ----------
    image : uint8 array (H, W)
    probabilities : array (10,)
    maps : array (H, W, 10)
        Class maps of this image, drawn on one colour scale (normalise them
        per image first to compare classes).
    true_labels : array (10,) of 0/1
    top_k : int
        Heatmaps of the ``top_k`` most probable labels.
    threshold : float
        Marked on the probability bars.
    alpha : float
        Opacity of the heatmaps over the image.
    colorbar_label : str
        What the colours measure, e.g. how ``maps`` were scaled.
    """
    order = np.argsort(probabilities)[::-1][:top_k]
    figure = plt.figure(figsize=(11, 1.3 * (top_k + 1)), layout="constrained")
    image_ax, bars_ax, heat_axes = figure2_axes(figure, top_k)
    show_canvas(image_ax, image)
    image_ax.set_title(f"(a) the image; true labels: {label_names(true_labels)}", fontsize=10)
    probability_bars(bars_ax, probabilities, true_labels, threshold)
    bars_ax.set_title("(b) predicted probabilities", fontsize=10)
    low, high = float(maps[..., order].min()), float(maps[..., order].max())
    for ax, c in zip(heat_axes, order, strict=True):
        artist = overlay(ax, image, maps[..., c], alpha, low, high)
        verdict = "true label" if true_labels[c] else "not present"
        ax.set_title(
            f"(c) CAM of {CLASS_NAMES[c]}: p = {probabilities[c]:.2f} ({verdict})", fontsize=9
        )
    figure.colorbar(artist, ax=heat_axes, label=colorbar_label, shrink=0.8)
    return figure


# --- notebook 05: Grad-CAM and localisation ---

SCORE_TITLES = {
    "pointing_game": "pointing game (higher is better)",
    "energy_share": "energy share (higher is better)",
    "box_hit": "box IoU >= 0.5 (higher is better)",
    "deletion_auc": "deletion AUC (lower is better)",
}
"""A title for each score of :data:`helpers.localisation.SCORES` (``tests/test_plots.py`` checks that they match)."""


def method_grid(
    images: np.ndarray, maps: dict[str, np.ndarray], row_titles: list[str], alpha: float = 0.55
) -> Figure:
    """Heatmaps of several methods (columns) over several canvases (rows), on one [0, 1] scale.

    Parameters
    ----------
    images : uint8 array (n, H, W)
    maps : dict
        A name for each array (n, H, W) of maps normalised to [0, 1].
    row_titles : list of str
        One title per canvas, e.g. the class explained.
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
    figure, axes = plt.subplots(
        len(images),
        len(maps),
        figsize=(3.3 * len(maps) + 0.8, 1.15 * len(images) + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for row, title in enumerate(row_titles):
        for column, (name, values) in enumerate(maps.items()):
            artist = overlay(axes[row, column], images[row], values[row], alpha, 0, 1)
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
    ax.scatter(x[pick], y[pick], s=4, alpha=0.4, label=f"{len(pick):,} map values")
    line = np.array([x.min(), x.max()])
    ax.plot(line, line / cells, color="black", lw=1, ls="--", label=f"y = x / {cells}")
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
    ax.contour(heatmap >= threshold * heatmap.max(), levels=[0.5], colors="white", linewidths=0.8)
    colours = sns.color_palette(PALETTE)
    for box in np.atleast_2d(truth):
        draw_box(ax, box, colours[2], lw=2)
    if found is not None:
        draw_box(ax, found, colours[1], lw=2, ls="--")
    ax.legend(
        handles=[
            plt.Line2D([], [], color="white", lw=0.8),
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


def score_bars(overall: pd.DataFrame) -> Figure:
    """One bar chart per localisation score, one bar per method.

    Parameters
    ----------
    overall : pandas.DataFrame
        Methods as rows, scores as columns (from :func:`helpers.localisation.compare_methods`).
    """
    scores = [s for s in SCORE_TITLES if s in overall.columns]
    if not scores:
        raise ValueError(
            f"overall has none of the score columns {list(SCORE_TITLES)}; it has {list(overall.columns)}"
        )
    colours = sns.color_palette(PALETTE, len(overall))
    figure, axes = plt.subplots(
        1,
        len(scores),
        figsize=(3.4 * len(scores), 0.45 * len(overall) + 1.4),
        sharey=True,
        layout="constrained",
    )
    for ax, score in zip(np.atleast_1d(axes), scores, strict=True):
        values = overall[score].to_numpy(dtype=float)
        ax.barh(range(len(values)), values, color=colours)
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
        ax.set_title(SCORE_TITLES[score], fontsize=9)
        ax.set_xlabel("share" if score != "deletion_auc" else "mean probability")
    first = np.atleast_1d(axes)[0]
    first.set_yticks(range(len(overall)), overall.index)
    first.invert_yaxis()
    return figure


def deletion_curves(curves: pd.DataFrame) -> Figure:
    """Mean class probability against the share of the canvas deleted, one line per method.

    Parameters
    ----------
    curves : pandas.DataFrame
        Fraction deleted as the index, one column per method (from
        :func:`helpers.localisation.compare_methods`).
    """
    figure, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    fractions = curves.index.to_numpy(dtype=float)
    for (name, values), colour in zip(
        curves.items(), sns.color_palette(PALETTE, curves.shape[1]), strict=True
    ):
        area = np.trapezoid(values.to_numpy(dtype=float), fractions)
        ax.plot(
            fractions * 100,
            values,
            marker="o",
            ms=3,
            color=colour,
            label=f"{name} (AUC {area:.2f})",
        )
    ax.set(
        xlabel="pixels deleted, most salient first (% of the canvas)",
        ylabel="mean probability of the class",
        ylim=(0, 1),
        title="Deletion: the faster the probability falls, the better the map",
    )
    ax.legend(frameon=False, fontsize=8)
    return figure


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
    figure, axes = plt.subplots(
        1, len(scores), figsize=(3.8 * len(scores) + 1.2, 4.4), sharey=True, layout="constrained"
    )
    for ax, score in zip(np.atleast_1d(axes), scores, strict=True):
        table = per_class[score]
        sns.heatmap(
            table,
            annot=True,
            fmt=".2f",
            cmap="viridis" if score != "deletion_auc" else "viridis_r",
            vmin=0,
            vmax=1,
            ax=ax,
            annot_kws={"fontsize": 7},
            cbar_kws={
                "shrink": 0.7,
                "label": "AUC (bright = low)"
                if score == "deletion_auc"
                else "share (bright = high)",
            },
        )
        ax.set_title(SCORE_TITLES[score], fontsize=9)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.set_ylabel("")
    return figure
