"""Grad-CAM and Grad-CAM++ at any convolution, and more ways to score a saliency map.

Grad-CAM (Selvaraju et al., ICCV 2017) weighs the feature maps ``f_k`` of a
layer by the spatial mean of the gradient of a class *logit* ``z_c`` with
respect to them, sums, and keeps the positive part:
``ReLU(sum_k alpha_k f_k)`` with ``alpha_k = mean_xy dz_c / df_k(x, y)``.
At ``last_conv`` of a GAP -> Dense network ``dz_c / df_k(x, y) = w[k, c] / (h w)``,
so Grad-CAM there is ``ReLU(CAM) / (h w)``; at earlier layers it differs.

The scores complement :func:`helpers.cam.localisation_scores`:

- :func:`box_scores`, the CAM paper's box test: keep the pixels at or above
  20 % of the map's maximum, take the bounding box of the largest connected
  region, and count a hit when it overlaps a product of the class with an
  intersection over union (IoU) of at least 0.5;
- :func:`deletion_scores`: blank the most salient pixels step by step and
  follow the class probability; a good explanation makes it fall fast, so a
  lower area under the curve is better.

The gradients use ``tf.GradientTape``: this module needs the TensorFlow
backend of Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from scipy import ndimage

from helpers.cam import NORMALIZATIONS, _check_images, localisation_scores, normalize_maps, upsample
from helpers.composite import EMPTY, Composites
from helpers.fashion import CLASS_NAMES, NUM_CLASSES
from helpers.model import LAST_CONV
from helpers.quiet import native_stderr_silenced

METHODS = ("grad_cam", "grad_cam_pp")
SCORES = ("pointing_game", "energy_share", "box_hit_rate", "deletion_auc")


class SaliencyMaps(NamedTuple):
    """Grad-CAM maps and the probabilities of the same pass.

    Attributes
    ----------
    maps : float32 array (N, H, W, 10) or (N, H, W)
        Every class's map, or one map per image for the class asked.
    probabilities : float32 array (N, 10)
        The model's output for the same images.
    """

    maps: np.ndarray
    probabilities: np.ndarray


def feature_layers(model: keras.Model, canvas: tuple[int, int] = (32, 128)) -> pd.DataFrame:
    """List the layers whose output is 4-D feature maps, with their size on ``canvas``.

    Any of them can be passed to :func:`grad_cam` as ``layer``.

    Returns
    -------
    pandas.DataFrame
        One row per layer, in network order: ``layer``, ``type``, ``height``,
        ``width``, ``maps`` (channels).
    """
    layers = [layer for layer in model.layers if _is_feature_layer(layer)]
    probe = keras.Model(model.input, [layer.output for layer in layers])
    with native_stderr_silenced():
        outputs = probe(np.zeros((1, *canvas), np.float32), training=False)
    return pd.DataFrame(
        [(layer.name, type(layer).__name__, *output.shape[1:]) for layer, output in zip(layers, outputs)],
        columns=["layer", "type", "height", "width", "maps"],
    )


def _is_feature_layer(layer: keras.layers.Layer) -> bool:
    return not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4


def _target_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    try:
        layer = model.get_layer(name)
    except ValueError:
        names = [layer.name for layer in model.layers if _is_feature_layer(layer)]
        raise ValueError(f"model has no layer named {name!r}; layers with 4-D feature maps: {names}") from None
    if not _is_feature_layer(layer):
        raise ValueError(
            f"layer {name!r} gives output of shape {tuple(layer.output.shape)}; "
            "Grad-CAM needs a layer inside the network with 4-D feature maps (N, h, w, K)"
        )
    return layer


def _dense_head(model: keras.Model) -> keras.layers.Dense:
    dense = model.layers[-1]
    if not isinstance(dense, keras.layers.Dense) or dense.units != NUM_CLASSES:
        raise ValueError(f"the model's last layer must be Dense({NUM_CLASSES}); got {type(dense).__name__}")
    return dense


def _check_classes(classes, count: int) -> np.ndarray | None:
    """Return the class ids as an int array, or None for ``"all"``."""
    if isinstance(classes, str):
        if classes != "all":
            raise ValueError(f"classes must be 'all' or an integer array of shape ({count},); got {classes!r}")
        return None
    classes = np.asarray(classes)
    if classes.shape != (count,) or classes.dtype.kind not in "iu":
        raise ValueError(
            f"classes must be 'all' or an integer array of shape ({count},), one class per image; "
            f"got {classes.dtype} {classes.shape}"
        )
    if count and (classes.min() < 0 or classes.max() >= NUM_CLASSES):
        raise ValueError(f"classes must be class ids from 0 to {NUM_CLASSES - 1}; got values from {classes.min()} to {classes.max()}")
    return classes.astype(np.int64)


def _weights(method: str, gradients: tf.Tensor, features: tf.Tensor) -> tf.Tensor:
    """Per-map weights (B, K) from the gradients (B, h, w, K) of one logit per image."""
    if method == "grad_cam":
        return tf.reduce_mean(gradients, axis=(1, 2))
    # Grad-CAM++ (Chattopadhay et al., WACV 2018), in the usual closed form for exp(logit).
    squared = gradients**2
    total = tf.reduce_sum(features, axis=(1, 2), keepdims=True)
    denominator = 2 * squared + total * gradients**3
    alpha = tf.where(gradients != 0, squared / tf.where(denominator != 0, denominator, 1.0), 0.0)
    return tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=(1, 2))


def _logit_pass(model: keras.Model, target: keras.layers.Layer, dense: keras.layers.Dense):
    """Return ``run(batch, tape) -> (features, logits)`` recording only what the gradient needs.

    The network is cut at ``target``: the part before it runs outside the
    gradient's reach, the part after it (up to the Dense input) on the
    watched feature maps, then ``logits = dense.input @ W + b``. Where the
    cut is impossible (a later layer also reads an earlier tensor, as a skip
    connection does), one sub-model ``input -> (features, dense.input)`` runs
    with the input watched: the same numbers, but every backward pass then
    runs through the whole network.
    """
    kernel, bias = (tf.convert_to_tensor(v, tf.float32) for v in dense.get_weights())
    try:
        before = keras.Model(model.input, target.output)
        after = keras.Model(target.output, dense.input)
    except ValueError:
        both = keras.Model(model.input, [target.output, dense.input])

        def run(batch, tape):
            tape.watch(batch)  # records every operation, frozen layers included
            features, pooled = both(batch, training=False)
            return features, tf.matmul(pooled, kernel) + bias

        return run

    def run(batch, tape):
        features = before(batch, training=False)
        tape.watch(features)
        return features, tf.matmul(after(features, training=False), kernel) + bias

    return run


def grad_cam(
    model: keras.Model,
    images: np.ndarray,
    classes: np.ndarray | str,
    layer: str = LAST_CONV,
    method: str = "grad_cam",
    normalize: str = "per_map",
    *,
    relu: bool = True,
    upsampled: bool = True,
    batch_size: int = 250,
) -> SaliencyMaps:
    """Compute Grad-CAM (or Grad-CAM++) maps at any convolution of the network.

    The target is the class *logit* ``z_c``, before the sigmoid: the output of
    the final Dense layer without its activation, computed as
    ``dense.input @ W + b``. The network is cut at ``layer`` (one sub-model
    up to its feature maps, one from them to the Dense layer's input) so that
    each backward pass stops at the maps; the gradients come from
    ``tf.GradientTape``, so this needs the TensorFlow backend.

    Parameters
    ----------
    model : keras.Model
        A network whose last layer is Dense(10) (any activation).
    images : uint8 array (N, H, W) or (N, H, W, 1)
        Raw canvases, as the model takes them.
    classes : int array (N,) or "all"
        One target class per image, giving maps (N, H, W); or ``"all"`` for
        the map of every class, (N, H, W, 10).
    layer : str
        Name of a layer with 4-D feature maps (see :func:`feature_layers`).
    method : {"grad_cam", "grad_cam_pp"}
        Weights: the spatial mean of the gradient (Grad-CAM), or Grad-CAM++'s
        weighted mean of its positive part.
    normalize : {"none", "per_map", "per_image"}
        As in :func:`helpers.cam.normalize_maps`; ``"none"`` keeps raw values.
    relu : bool
        Keep only the positive part of the weighted sum (the published
        method); False shows the signed sum.
    upsampled : bool
        Resize the maps bilinearly to the canvas (True) or keep the layer's
        resolution (False).
    batch_size : int
        Images per pass; bounds memory.

    Returns
    -------
    SaliencyMaps
        ``maps`` float32 and ``probabilities`` (N, 10).

    Raises
    ------
    ValueError
        For an unknown layer, method or normalisation, a layer without 4-D
        feature maps, a model whose last layer is not Dense(10), images of the
        wrong shape or dtype, or classes of the wrong shape or range.

    Example
    -------
    >>> result = grad_cam(network, test.images, test.items[:, 0])          # doctest: +SKIP
    >>> result.maps.shape                                                  # doctest: +SKIP
    (1000, 32, 128)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    target = _target_layer(model, layer)
    dense = _dense_head(model)
    images = _check_images(model, images)
    chosen = _check_classes(classes, len(images))
    pass_of = _logit_pass(model, target, dense)
    maps, probabilities = [], []
    with native_stderr_silenced():
        for start in range(0, len(images), batch_size):
            batch = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
            with tf.GradientTape(persistent=chosen is None, watch_accessed_variables=False) as tape:
                features, logits = pass_of(batch, tape)
                if chosen is not None:
                    picked = tf.gather(logits, chosen[start : start + batch_size], axis=1, batch_dims=1)
                    targets = [tf.reduce_sum(picked)]  # images are independent: one backward pass
                else:
                    targets = [tf.reduce_sum(logits[:, c]) for c in range(NUM_CLASSES)]
            weights = [_weights(method, tape.gradient(t, features), features) for t in targets]
            del tape
            small = tf.einsum("bhwk,bkc->bhwc", features, tf.stack(weights, axis=-1))
            if relu:
                small = tf.nn.relu(small)
            small = small.numpy()
            maps.append(upsample(small, images.shape[1:3]) if upsampled else small.astype(np.float32))
            probabilities.append(tf.sigmoid(logits).numpy())
    maps = normalize_maps(np.concatenate(maps), normalize)
    if chosen is not None:
        maps = maps[..., 0]
    return SaliencyMaps(maps, np.concatenate(probabilities).astype(np.float32))


# --- the box test -----------------------------------------------------------


def largest_region_box(heatmap: np.ndarray, threshold: float = 0.2) -> tuple[int, int, int, int] | None:
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
    maps: np.ndarray, items: np.ndarray, boxes: np.ndarray, threshold: float = 0.2, min_iou: float = 0.5
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
        Class maps at canvas size.
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
    maps = np.asarray(maps)
    if maps.ndim != 4 or maps.shape[-1] != NUM_CLASSES or maps.shape[0] != len(items):
        raise ValueError(f"maps must have shape (N, H, W, {NUM_CLASSES}) with N = {len(items)}; got {maps.shape}")
    if boxes.shape != (*items.shape, 4):
        raise ValueError(f"boxes must have shape {(*items.shape, 4)}; got {boxes.shape}")
    if not 0 < threshold <= 1 or not 0 < min_iou <= 1:
        raise ValueError(f"threshold and min_iou must lie in (0, 1]; got {threshold} and {min_iou}")
    rows = []
    for image in range(len(items)):
        for label in np.unique(items[image][items[image] != EMPTY]):
            found = largest_region_box(maps[image, :, :, label], threshold)
            truth = boxes[image][items[image] == label]
            iou = 0.0 if found is None else float(box_iou(found, truth).max())
            rows.append((image, int(label), iou, iou >= min_iou, *(found or (EMPTY,) * 4)))
    per_label = pd.DataFrame(rows, columns=["image", "class", "iou", "box_hit", "x0", "y0", "x1", "y1"])
    per_label["class"] = pd.Categorical.from_codes(per_label["class"], CLASS_NAMES)
    per_class = per_label.groupby("class", observed=False)[["iou", "box_hit"]].mean()
    return {"per_label": per_label, "per_class": per_class, "overall": per_label[["iou", "box_hit"]].mean()}


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
    batch_size: int = 500,
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
    images = _check_images(model, images)
    maps = np.asarray(maps)
    pairs = np.asarray(pairs, dtype=bool)
    if maps.shape != (*images.shape, NUM_CLASSES):
        raise ValueError(f"maps must have shape {(*images.shape, NUM_CLASSES)}; got {maps.shape}")
    if pairs.shape != (len(images), NUM_CLASSES):
        raise ValueError(f"pairs must be a bool array of shape {(len(images), NUM_CLASSES)}; got {pairs.shape}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
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
            for row, (i, c) in enumerate(zip(index, label)):
                ranks[row, deletion_order(maps[i, :, :, c], seed)] = np.arange(pixels)
            deleted = ranks[:, None, :] < counts[None, :, None]  # (pairs, steps + 1, pixels)
            canvases = np.where(deleted, np.uint8(fill), images[index].reshape(len(index), 1, pixels))
            probabilities = model.predict(canvases.reshape(-1, *images.shape[1:]), batch_size=batch_size, verbose=0)
            probabilities = probabilities.reshape(len(index), steps + 1, NUM_CLASSES)
            curves.append(probabilities[np.arange(len(index)), :, label])
    curves = np.concatenate(curves) if curves else np.zeros((0, steps + 1))
    auc = np.trapezoid(curves, fractions, axis=1)
    per_label = pd.DataFrame(
        {"image": image_of, "class": pd.Categorical.from_codes(class_of, CLASS_NAMES), "deletion_auc": auc, "start": curves[:, 0]}
    )
    return {
        "per_label": per_label,
        "curves": pd.DataFrame(curves, columns=pd.Index(fractions.round(6), name="fraction deleted")),
        "per_class": per_label.groupby("class", observed=False)[["deletion_auc"]].mean(),
        "overall": per_label[["deletion_auc"]].mean(),
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

    Pointing game and energy share (:func:`helpers.cam.localisation_scores`)
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
        (every true label's localisation scores, one row per method and label).
    """
    with native_stderr_silenced():
        found = model.predict(composites.images, batch_size=250, verbose=0) >= 0.5
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(composites), min(deletion_images, len(composites)), replace=False))
    pairs = np.zeros_like(found)
    pairs[sample] = (composites.labels[sample] == 1) & found[sample]
    overall, per_class, curves, per_label = {}, {}, {}, {}
    for name, maps in maps_by_method.items():
        maps = maps() if callable(maps) else maps
        located = localisation_scores(maps, composites.items, composites.boxes, predicted=found)
        boxed = box_scores(maps, composites.items, composites.boxes)
        deleted = deletion_scores(model, composites.images, maps, pairs, steps=steps, seed=seed)
        overall[name] = pd.Series(
            [located["overall"]["pointing_hit"], located["overall"]["energy_share"], boxed["overall"]["box_hit"], deleted["overall"]["deletion_auc"]],
            index=list(SCORES),
        )
        per_class[name] = pd.concat(
            [located["per_class"], boxed["per_class"][["box_hit"]], deleted["per_class"]], axis=1
        ).set_axis(list(SCORES), axis=1)
        curves[name] = deleted["curves"].mean()
        labels, boxed_labels = located["per_label"], boxed["per_label"]
        assert labels["image"].equals(boxed_labels["image"]) and labels["class"].equals(boxed_labels["class"])
        per_label[name] = labels.assign(iou=boxed_labels["iou"], box_hit=boxed_labels["box_hit"])
    per_class_frame = pd.concat(per_class, axis=1).swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)
    return {
        "overall": pd.DataFrame(overall).T.rename_axis("method"),
        "per_class": per_class_frame[list(SCORES)],
        "curves": pd.DataFrame(curves),
        "per_label": pd.concat(per_label, names=["method", "row"]).reset_index("row", drop=True).reset_index(),
    }
