"""The figures of the series. Each function takes data and returns a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from helpers.composite import EMPTY, Composites
from helpers.fashion import CLASS_NAMES, NUM_CLASSES

PALETTE = "colorblind"
HEATMAP = "magma"


def style() -> None:
    """Apply the series' plot style (seaborn, colour-blind-safe palette)."""
    sns.set_theme(context="notebook", style="white", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "image.cmap": "gray"})


def class_grid(images: np.ndarray, classes: np.ndarray, per_class: int = 8) -> Figure:
    """Show the first ``per_class`` images of each class, one class per row."""
    figure, axes = plt.subplots(NUM_CLASSES, per_class, figsize=(per_class * 0.9, NUM_CLASSES * 0.95))
    for c, row in enumerate(axes):
        picks = np.flatnonzero(classes == c)[:per_class]
        for ax, index in zip(row, picks):
            ax.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(CLASS_NAMES[c], rotation=0, ha="right", va="center")
    figure.suptitle("Fashion-MNIST: the first images of each class")
    return figure


def composite_with_boxes(composites: Composites, index: int, ax: plt.Axes | None = None) -> plt.Axes:
    """Draw one composite with its product boxes and class names."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 1.9))
    ax.imshow(composites.images[index], cmap="gray", vmin=0, vmax=255)
    colours = sns.color_palette(PALETTE, NUM_CLASSES)
    for item, (x0, y0, x1, y1) in zip(composites.items[index], composites.boxes[index]):
        if item == EMPTY:
            continue
        ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.5, color=colours[item]))
        ax.text(x0, y0 - 1.5, CLASS_NAMES[item], color=colours[item], fontsize=8, va="bottom")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def composite_grid(composites: Composites, indices: list[int] | np.ndarray, columns: int = 2) -> Figure:
    """Show composites titled with their label sets (the study's Figure 6)."""
    rows = int(np.ceil(len(indices) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 1.75 * rows), squeeze=False)
    for ax, index in zip(axes.ravel(), indices):
        ax.imshow(composites.images[index], cmap="gray", vmin=0, vmax=255)
        labels = [CLASS_NAMES[c] for c in np.flatnonzero(composites.labels[index])]
        ax.set_title(f"#{index}: " + ", ".join(labels), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(indices):]:
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
    shares = distinct.groupby("split", sort=False)["distinct labels"].value_counts(normalize=True).rename("share").reset_index()
    prevalence = pd.DataFrame(
        [(split, CLASS_NAMES[c], labels[:, c].mean()) for split, labels in labels_by_split.items() for c in range(NUM_CLASSES)],
        columns=["split", "class", "share of images"],
    )
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    sns.barplot(shares, x="distinct labels", y="share", hue="split", ax=left)
    left.set_title("Distinct labels per composite")
    left.set_ylabel("share of composites")
    sns.barplot(prevalence, x="class", y="share of images", hue="split", ax=right, legend=False)
    right.set_title("How often each class is present")
    right.tick_params(axis="x", rotation=35)
    right.set_xlabel("")
    figure.tight_layout()
    return figure
