"""Scores of any class maps against the product boxes: how well a map says where a class is.

Every score takes maps (N, H, W, 10) at canvas size, from CAM, Grad-CAM or
anything else, and the boxes that :mod:`helpers.composite` recorded (maps
that do not cover the boxes, such as maps at a layer's resolution, are
refused):

- **pointing game**: a hit when the map's maximum lies inside a product of the class;
- **energy share**: the part of the map's positive mass inside those products;
- **box hit**, the CAM paper's box test: the bounding box of the largest region
  at or above 20 % of the map's maximum overlaps such a product with IoU >= 0.5;
- **deletion AUC**: blank the most salient pixels step by step and follow the
  class probability; the faster it falls (the lower the area), the better.

:func:`compare_methods` gives all four for several methods side by side, and
:func:`bootstrap_intervals` their bootstrap intervals over composites (95 % by default).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pandas as pd
from scipy import ndimage

from helpers._checks import check_choice, check_scalar
from helpers.cam import check_images
from helpers.composite import EMPTY, Composites
from helpers.evaluation import bootstrap_counts, percentile_interval
from helpers.fashion import CLASS_NAMES, NUM_CLASSES
from helpers.quiet import native_stderr_silenced

SCORES = ("pointing_game", "energy_share", "box_hit", "deletion_auc")
"""The four scores, named as in every table here; deletion AUC is the one where lower is better."""


def _check_maps(
    maps: np.ndarray, count: int, canvas: tuple[int, int] | None = None, name: str = "maps"
) -> np.ndarray:
    """Check class maps: one (H, W, 10) stack for each of ``count`` images, of size ``canvas`` if given."""
    maps = np.asarray(maps)
    fits = maps.ndim == 4 and maps.shape[0] == count and maps.shape[-1] == NUM_CLASSES
    if not fits or (canvas is not None and maps.shape[1:3] != tuple(canvas)):
        height, width = canvas or ("H", "W")
        raise ValueError(
            f"{name} must have shape ({count}, {height}, {width}, {NUM_CLASSES}); got {maps.shape}"
        )
    return maps


def _check_boxes_inside(maps: np.ndarray, items: np.ndarray, boxes: np.ndarray) -> None:
    """Check that every product box lies inside the maps: maps at the canvas size the boxes refer to.

    Maps at a layer's resolution (``upsampled=False``) would be scored
    against boxes in canvas pixels, most of which they do not cover.
    """
    present = boxes[items != EMPTY]
    height, width = maps.shape[1:3]
    if len(present) and (
        present[:, :2].min() < 0 or present[:, 2].max() > width or present[:, 3].max() > height
    ):
        raise ValueError(
            f"maps must be at the canvas size of the boxes: maps of {height} x {width} pixels, "
            f"boxes reaching x = {present[:, 2].max()}, y = {present[:, 3].max()}; upsample maps "
            "of a layer's resolution to the canvas (upsampled=True)"
        )


def _scored(
    image: np.ndarray, label: np.ndarray, scores: dict[str, np.ndarray]
) -> dict[str, pd.DataFrame | pd.Series]:
    """One row per (image, class) with its ``scores``; their means per class and overall."""
    per_label = pd.DataFrame(
        {"image": image, "class": pd.Categorical.from_codes(label, CLASS_NAMES), **scores}
    )
    names = list(scores)
    return {
        "per_label": per_label,
        "per_class": per_label.groupby("class", observed=False)[names].mean(),
        "overall": per_label[names].mean(),
    }


def _check_boxes(items: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check the items (N, S) and boxes (N, S, 4) of N composites (see :class:`helpers.composite.Composites`)."""
    items, boxes = np.asarray(items), np.asarray(boxes)
    if items.ndim != 2 or boxes.shape != (*items.shape, 4):
        raise ValueError(
            f"items and boxes must have shapes (N, S) and (N, S, 4); got {items.shape} and {boxes.shape}"
        )
    return items, boxes


def box_masks(items: np.ndarray, boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return bool masks (N, H, W, 10): the pixels of the products of each class."""
    count, slots = items.shape
    masks = np.zeros((count, *shape, NUM_CLASSES), dtype=bool)
    rows, columns = np.arange(shape[0]), np.arange(shape[1])
    for slot in range(slots):
        present = items[:, slot] != EMPTY
        x0, y0, x1, y1 = (boxes[:, slot, i][:, None] for i in range(4))
        inside = ((rows >= y0) & (rows < y1))[:, :, None] & ((columns >= x0) & (columns < x1))[
            :, None, :
        ]
        index = np.flatnonzero(present)
        masks[index, :, :, items[index, slot]] |= inside[index]
    return masks


def peak_and_energy_scores(
    maps: np.ndarray, items: np.ndarray, boxes: np.ndarray, predicted: np.ndarray | None = None
) -> dict[str, pd.DataFrame | pd.Series]:
    """Score maps by the pointing game and the energy share.

    For every true label of every image: a *pointing-game* hit when the
    map's maximum lies inside a product of that class, and the *energy
    share*, the part of the map's positive mass inside those products.

    Parameters
    ----------
    maps : array (N, H, W, 10)
        Class maps at canvas size (any normalisation); every box must lie inside them.
    items, boxes : arrays (N, S) and (N, S, 4)
        From :class:`helpers.composite.Composites`.
    predicted : bool array (N, 10), optional
        The model's predicted labels; adds a ``predicted`` column so scores
        can be split by correct and missed labels.

    Returns
    -------
    dict
        ``per_label`` (one row per image and true class: ``image``,
        ``class``, ``pointing_game`` (a hit or not), ``energy_share``),
        ``per_class`` and ``overall`` (means).
    """
    items, boxes = _check_boxes(items, boxes)
    maps = _check_maps(maps, len(items))
    _check_boxes_inside(maps, items, boxes)
    masks = box_masks(items, boxes, maps.shape[1:3])
    image, label = np.nonzero(masks.any(axis=(1, 2)))
    hits, share = np.empty(len(image), bool), np.zeros(len(image))
    for rows in np.array_split(
        np.arange(len(image)), max(1, len(image) // 500)
    ):  # about 500 maps at a time: bounded memory
        chosen, chosen_masks = (
            maps[image[rows], :, :, label[rows]],
            masks[image[rows], :, :, label[rows]],
        )  # copies (n, H, W)
        hits[rows] = chosen_masks.reshape(len(rows), -1)[
            np.arange(len(rows)), chosen.reshape(len(rows), -1).argmax(axis=1)
        ]
        positive = np.maximum(chosen, 0, out=chosen)
        total, inside = positive.sum(axis=(1, 2)), positive.sum(axis=(1, 2), where=chosen_masks)
        share[rows] = np.divide(
            inside, total, out=np.zeros_like(total, dtype=np.float64), where=total > 0
        )
    scored = _scored(image, label, {"pointing_game": hits, "energy_share": share})
    if predicted is not None:
        scored["per_label"]["predicted"] = np.asarray(predicted, dtype=bool)[image, label]
    return scored


# --- the box test -------------------------------------------------------------


def largest_region_box(
    heatmap: np.ndarray, threshold: float = 0.2
) -> tuple[int, int, int, int] | None:
    """Bounding box of the largest connected region at or above ``threshold`` x the maximum.

    Regions are 4-connected (``scipy.ndimage.label``'s default); a tie goes
    to the region found first (row by row).

    Parameters
    ----------
    heatmap : array (H, W)
    threshold : float
        Share of the map's maximum that a pixel must reach.

    Returns
    -------
    (x0, y0, x1, y1) or None
        ``x1`` and ``y1`` exclusive, like the product boxes; None where the
        map has no positive maximum.
    """
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must have shape (H, W); got {heatmap.shape}")
    peak = heatmap.max()
    if not peak > 0:
        return None
    regions, count = ndimage.label(heatmap >= threshold * peak)
    largest = int(np.argmax(np.bincount(regions.ravel())[1:])) + 1
    rows, columns = ndimage.find_objects(regions, max_label=largest)[largest - 1]
    return columns.start, rows.start, columns.stop, rows.stop


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (4,) with boxes (M, 4), all ``x0 y0 x1 y1`` with x1, y1 exclusive."""
    box, others = np.asarray(box, dtype=float), np.atleast_2d(np.asarray(others, dtype=float))
    width = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = width * height
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    union = area(box) + area(others) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_scores(
    maps: np.ndarray,
    items: np.ndarray,
    boxes: np.ndarray,
    threshold: float = 0.2,
    min_iou: float = 0.5,
) -> dict[str, pd.DataFrame | pd.Series]:
    """The CAM paper's box test, for every true label of every image.

    From the map of a true class: keep the pixels at or above ``threshold``
    x its maximum, take the bounding box of the largest connected region
    (:func:`largest_region_box`), and count a hit when its IoU with a product
    of that class reaches ``min_iou``. Pass maps normalised per map
    (``"per_map"``) so that the threshold is a share of each map's range.

    Parameters
    ----------
    maps : array (N, H, W, 10)
        Class maps at canvas size; every box must lie inside them.
    items, boxes : arrays (N, S) and (N, S, 4)
        From :class:`helpers.composite.Composites`.
    threshold, min_iou : float

    Returns
    -------
    dict
        ``per_label`` (``image``, ``class``, ``iou`` with the best-matching
        product, ``box_hit``, and the estimated box ``x0 y0 x1 y1``, -1 where
        the map has no positive value), ``per_class`` and ``overall`` (means of
        ``iou`` and ``box_hit``).
    """
    items, boxes = _check_boxes(items, boxes)
    maps = _check_maps(maps, len(items))
    _check_boxes_inside(maps, items, boxes)
    check_scalar(threshold, "threshold", float, low=0, high=1, open_low=True)
    check_scalar(min_iou, "min_iou", float, low=0, high=1, open_low=True)
    image_of, class_of, ious, found_boxes = [], [], [], []
    for image in range(len(items)):
        for label in np.unique(items[image][items[image] != EMPTY]):
            found = largest_region_box(maps[image, :, :, label], threshold)
            truth = boxes[image][items[image] == label]
            image_of.append(image)
            class_of.append(int(label))
            ious.append(0.0 if found is None else float(box_iou(found, truth).max()))
            found_boxes.append(found or (EMPTY,) * 4)
    iou = np.array(ious, dtype=float)
    scored = _scored(
        np.array(image_of, int), np.array(class_of, int), {"iou": iou, "box_hit": iou >= min_iou}
    )
    scored["per_label"][["x0", "y0", "x1", "y1"]] = np.array(found_boxes, int).reshape(-1, 4)
    return scored


# --- the deletion curve -----------------------------------------------------


def deletion_order(heatmap: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices from most to least salient; equal values in a fixed random order."""
    flat = np.asarray(heatmap).ravel()
    shuffle = np.random.default_rng(seed).permutation(flat.size)
    return shuffle[np.argsort(-flat[shuffle], kind="stable")]


def deletion_scores(
    model: keras.Model,
    images: np.ndarray,
    maps: np.ndarray,
    pairs: np.ndarray,
    *,
    steps: int = 10,
    fill: int = 0,
    batch_size: int = 100,
    seed: int = 0,
) -> dict[str, pd.DataFrame | pd.Series]:
    """Deletion curves: the class probability as the most salient pixels are blanked.

    For each chosen (image, class), pixels are set to ``fill`` (0, the
    background) in the order of the class map, from 0 % to 100 % of the
    canvas in ``steps`` equal steps; the model's probability of the class is
    recorded after each. The area under this curve (fraction of the canvas
    on x, from 0 to 1) is lower for a map that finds what the decision rests
    on. All perturbed canvases go through the model in batches.

    Parameters
    ----------
    model : keras.Model
    images : uint8 array (N, H, W)
    maps : array (N, H, W, 10)
        Class maps at canvas size.
    pairs : bool array (N, 10)
        The (image, class) pairs to score, e.g. true labels that were found.
    steps : int
        Deletion steps; the curve has ``steps + 1`` points.
    fill : int
        The value that replaces a deleted pixel.
    batch_size : int
        Canvases per model call.
    seed : int
        Orders pixels of equal saliency (see :func:`deletion_order`).

    Returns
    -------
    dict
        ``per_label`` (``image``, ``class``, ``deletion_auc``, ``start``: the
        probability before any deletion), ``curves`` (DataFrame, one row per
        pair, one column per deleted fraction), ``per_class`` and ``overall``
        (means of ``deletion_auc``).
    """
    images = check_images(model, images)
    maps = _check_maps(maps, len(images), images.shape[1:])
    pairs = np.asarray(pairs, dtype=bool)
    if pairs.shape != (len(images), NUM_CLASSES):
        raise ValueError(
            f"pairs must be a bool array of shape {(len(images), NUM_CLASSES)}; got {pairs.shape}"
        )
    check_scalar(steps, "steps", low=1)
    check_scalar(fill, "fill", low=0, high=255)
    fractions = np.linspace(0, 1, steps + 1)
    pixels = images.shape[1] * images.shape[2]
    counts = np.round(fractions * pixels).astype(int)
    image_of, class_of = np.nonzero(pairs)
    chunk = max(1, batch_size * 4 // (steps + 1))  # pairs per round of model calls
    curves = []
    with native_stderr_silenced():
        for start in range(0, len(image_of), chunk):
            index, label = image_of[start : start + chunk], class_of[start : start + chunk]
            ranks = np.empty((len(index), pixels), dtype=np.int64)
            for row, (i, c) in enumerate(zip(index, label, strict=True)):
                ranks[row, deletion_order(maps[i, :, :, c], seed)] = np.arange(pixels)
            deleted = ranks[:, None, :] < counts[None, :, None]  # (pairs, steps + 1, pixels)
            canvases = np.where(
                deleted, np.uint8(fill), images[index].reshape(len(index), 1, pixels)
            )
            probabilities = model.predict(
                canvases.reshape(-1, *images.shape[1:]), batch_size=batch_size, verbose=0
            )
            probabilities = probabilities.reshape(len(index), steps + 1, NUM_CLASSES)
            curves.append(probabilities[np.arange(len(index)), :, label])
    curves = np.concatenate(curves) if curves else np.zeros((0, steps + 1))
    auc = np.trapezoid(curves, fractions, axis=1)
    scored = _scored(image_of, class_of, {"deletion_auc": auc})
    scored["per_label"]["start"] = curves[:, 0]
    return {
        **scored,
        "curves": pd.DataFrame(
            curves, columns=pd.Index(fractions.round(6), name="fraction deleted")
        ),
    }


# --- all scores, for several methods -----------------------------------------


def compare_methods(
    model: keras.Model,
    composites: Composites,
    maps_by_method: dict[str, np.ndarray | Callable[[], np.ndarray]],
    *,
    deletion_images: int = 100,
    steps: int = 10,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Score several kinds of class maps of the same composites side by side.

    Pointing game and energy share (:func:`peak_and_energy_scores`)
    and the box test (:func:`box_scores`) use every true label of every
    image; the deletion curve (:func:`deletion_scores`) uses the true labels
    that the model finds (probability >= 0.5) on ``deletion_images`` images
    drawn with ``seed``, the same for every method.

    Parameters
    ----------
    model : keras.Model
    composites : Composites
    maps_by_method : dict
        A name for each array (N, H, W, 10) of class maps, normalised per
        map, or for a function that returns one: it is called when its turn
        comes, so only one method's maps are held in memory at a time.
    deletion_images : int
        How many images the deletion curves use (all if larger than N).
    steps, seed : int
        Passed to :func:`deletion_scores`.

    Returns
    -------
    dict
        ``overall`` (one row per method, one column per score in
        :data:`SCORES`), ``per_class`` (classes x (score, method)), ``curves``
        (mean deletion curve, fraction deleted x method) and ``per_label``
        (every true label's scores, one row per method and label: ``method``,
        ``image``, ``class``, ``predicted``, the four scores and ``iou``;
        ``deletion_auc`` is NaN for the labels the deletion curves leave out).
    """
    with native_stderr_silenced():
        found = (
            model.predict(check_images(model, composites.images), batch_size=250, verbose=0) >= 0.5
        )
    rng = np.random.default_rng(seed)
    sample = np.sort(
        rng.choice(len(composites), min(deletion_images, len(composites)), replace=False)
    )
    pairs = np.zeros_like(found)
    pairs[sample] = (composites.labels[sample] == 1) & found[sample]
    overall, per_class, curves, per_label = {}, {}, {}, {}
    for name, maps in maps_by_method.items():
        maps = maps() if callable(maps) else maps
        maps = _check_maps(
            maps, len(composites), composites.images.shape[1:3], f"maps_by_method[{name!r}]"
        )
        located = peak_and_energy_scores(maps, composites.items, composites.boxes, predicted=found)
        boxed = box_scores(maps, composites.items, composites.boxes)
        deleted = deletion_scores(model, composites.images, maps, pairs, steps=steps, seed=seed)
        overall[name] = pd.concat(
            [located["overall"], boxed["overall"][["box_hit"]], deleted["overall"]]
        )[list(SCORES)]
        per_class[name] = pd.concat(
            [located["per_class"], boxed["per_class"][["box_hit"]], deleted["per_class"]], axis=1
        )[list(SCORES)]
        curves[name] = deleted["curves"].mean()
        labels, boxed_labels = located["per_label"], boxed["per_label"]
        assert labels["image"].equals(boxed_labels["image"]) and labels["class"].equals(
            boxed_labels["class"]
        )
        deletion_auc = pd.Series(
            deleted["per_label"]["deletion_auc"].to_numpy(),
            index=pd.MultiIndex.from_frame(deleted["per_label"][["image", "class"]]),
        )
        per_label[name] = labels.assign(
            iou=boxed_labels["iou"],
            box_hit=boxed_labels["box_hit"],
            deletion_auc=deletion_auc.reindex(
                pd.MultiIndex.from_frame(labels[["image", "class"]])
            ).to_numpy(),
        )
    per_class_frame = (
        pd.concat(per_class, axis=1)
        .swaplevel(axis=1)
        .sort_index(axis=1, level=0, sort_remaining=False)
    )
    return {
        "overall": pd.DataFrame(overall).T.rename_axis("method"),
        "per_class": per_class_frame[list(SCORES)],
        "curves": pd.DataFrame(curves),
        "per_label": pd.concat(per_label, names=["method", "row"])
        .reset_index("row", drop=True)
        .reset_index(),
    }


def bootstrap_intervals(
    per_label: pd.DataFrame,
    baseline: str | None = None,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Give each method's mean scores with their bootstrap intervals over composites.

    Each resample draws the scored composites with replacement (the draws of
    :func:`helpers.evaluation.bootstrap_counts`) and averages a score over the
    labels of the composites drawn (all of a composite's labels travel
    together); the interval holds the middle ``confidence`` share of the
    resampled means (the percentile bootstrap,
    :func:`helpers.evaluation.percentile_interval`). Every method is scored on
    the same draws, so with ``baseline`` the intervals are of the paired
    differences, method minus baseline: a difference whose interval holds 0
    is noise.

    Parameters
    ----------
    per_label : pandas.DataFrame
        One row per method and label, with ``method``, ``image``, ``class`` and
        the columns of :data:`SCORES` (``per_label`` of :func:`compare_methods`);
        NaN where a label has no score, as deletion for the labels it leaves
        out. For each score, every method must score the same (image, class)
        pairs, so that differences are paired.
    baseline : str, optional
        A method of ``per_label`` to subtract from every method.
    resamples : int
        How many resamples of the composites, at least 2.
    confidence : float in (0, 1)
        The share of the resampled means each interval holds, e.g. 0.95.
    seed : int
        Each score's draws come from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    pandas.DataFrame
        Index (``method``, ``score``), methods in their order in ``per_label``
        (without the baseline); columns ``value`` (the mean over all labels, or
        its difference from the baseline's), ``low`` and ``high``.

    Raises
    ------
    ValueError
        For a ``per_label`` without those columns, a score with no value at
        all, a score that the methods give to different (image, class) pairs,
        an unknown ``baseline``, ``resamples`` below 2 or a ``confidence``
        outside (0, 1).

    Examples
    --------
    >>> scores = compare_methods(model, test, {"CAM": cam_maps, "Grad-CAM": grad_maps})
    >>> bootstrap_intervals(scores["per_label"], baseline="CAM")  # Grad-CAM minus CAM
    """
    missing = [c for c in ("method", "image", "class", *SCORES) if c not in per_label.columns]
    if missing:
        raise ValueError(
            f"per_label must have the columns method, image, class and {SCORES}; it lacks {missing}"
        )
    methods = list(dict.fromkeys(per_label["method"]))
    if baseline is not None:
        check_choice(baseline, "baseline", methods)
    rows = {}
    for score in SCORES:
        scored = per_label.dropna(subset=[score])
        _check_same_pairs(scored, methods, score)
        images, position = np.unique(scored["image"].to_numpy(), return_inverse=True)
        drawn = bootstrap_counts(len(images), resamples, seed)  # one row per resample
        whole, resampled = {}, {}
        for method in methods:
            mine = (scored["method"] == method).to_numpy()
            values = scored.loc[mine, score].to_numpy(dtype=float)
            total = np.bincount(position[mine], weights=values, minlength=len(images))
            labels = np.bincount(position[mine], minlength=len(images))
            whole[method] = total.sum() / labels.sum()
            resampled[method] = drawn @ total / (drawn @ labels)
        for method in methods:
            if method == baseline:
                continue
            value, spread = whole[method], resampled[method]
            if baseline is not None:
                value, spread = value - whole[baseline], spread - resampled[baseline]
            rows[(method, score)] = [value, *percentile_interval(spread, confidence)]
    order = [(method, score) for method in methods if method != baseline for score in SCORES]
    return pd.DataFrame(
        [rows[key] for key in order],
        index=pd.MultiIndex.from_tuples(order, names=["method", "score"]),
        columns=["value", "low", "high"],
    )


def _check_same_pairs(scored: pd.DataFrame, methods: list, score: str) -> None:
    """Check that ``score`` has values, and that every method gives it to the same (image, class) pairs."""
    if scored.empty:
        raise ValueError(f"per_label has no {score} value to resample: all are NaN")
    pairs = {
        method: set(zip(group["image"], group["class"], strict=True))
        for method, group in scored.groupby("method", sort=False)
    }
    first = methods[0]
    for method in methods:
        if pairs.get(method, set()) != pairs.get(first, set()):
            raise ValueError(
                f"every method must score the same (image, class) pairs for {score}, so that "
                f"differences are paired; {method!r} scores {len(pairs.get(method, set()))} "
                f"pairs, {first!r} {len(pairs.get(first, set()))}, not all the same"
            )
