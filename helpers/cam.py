"""Class activation maps (CAM) for every class at once, and how well they localise.

For class c, ``M_c = sum_k w[k, c] * f_k``: f are the feature maps of the
layer ``last_conv`` and w the kernel of the final Dense layer (Zhou et al.,
CVPR 2016). Because global average pooling feeds the Dense layer, the class
logit is the spatial mean of ``M_c`` plus the Dense bias.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import pandas as pd

from helpers.composite import EMPTY
from helpers.fashion import CLASS_NAMES, NUM_CLASSES
from helpers.model import LAST_CONV
from helpers.quiet import native_stderr_silenced

NORMALIZATIONS = ("none", "per_map", "per_image")


class ClassActivationMaps(NamedTuple):
    """Maps and probabilities from one forward pass.

    Attributes
    ----------
    maps : float32 array (N, H, W, 10)
        One map per class, at canvas size unless asked otherwise.
    probabilities : float32 array (N, 10)
        The model's output for the same images.
    """

    maps: np.ndarray
    probabilities: np.ndarray


def _gap_dense_head(model: keras.Model) -> tuple[keras.layers.Layer, keras.layers.Dense]:
    """Return ``last_conv`` and the final Dense layer, or explain what is missing."""
    try:
        last_conv = model.get_layer(LAST_CONV)
    except ValueError:
        raise ValueError(f"model has no layer named {LAST_CONV!r}; CAM needs the last convolution under that name") from None
    dense = model.layers[-1]
    if not isinstance(dense, keras.layers.Dense) or dense.units != NUM_CLASSES:
        raise ValueError(f"the model's last layer must be Dense({NUM_CLASSES}); got {type(dense).__name__}")
    source = dense.input._keras_history.operation
    while isinstance(source, keras.layers.Dropout):
        source = source.input._keras_history.operation
    if not isinstance(source, keras.layers.GlobalAveragePooling2D) or source.input is not last_conv.output:
        raise ValueError(
            f"CAM needs {LAST_CONV!r} -> GlobalAveragePooling2D -> Dense; the Dense layer is fed by {type(source).__name__}"
        )
    return last_conv, dense


def _check_images(model: keras.Model, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    height, width = model.input_shape[1:3]
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    fits = images.ndim == 3 and all(want in (None, got) for want, got in zip((height, width), images.shape[1:]))
    if not fits:
        h, w = height or "H", width or "W"
        raise ValueError(f"images must have shape (N, {h}, {w}) or (N, {h}, {w}, 1); got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 canvases (0-255); got {images.dtype}")
    return images


def bilinear_matrix(size_out: int, size_in: int) -> np.ndarray:
    """Return the (size_out, size_in) matrix of bilinear resizing (half-pixel centres)."""
    centres = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    centres = np.clip(centres, 0, size_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    weight = centres - low
    matrix = np.zeros((size_out, size_in))
    matrix[np.arange(size_out), low] += 1 - weight
    matrix[np.arange(size_out), high] += weight
    return matrix


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize maps (N, h, w, C) to (N, H, W, C) bilinearly."""
    rows = bilinear_matrix(size[0], maps.shape[1])
    columns = bilinear_matrix(size[1], maps.shape[2])
    rows, columns = rows.astype(np.float32), columns.astype(np.float32)
    return np.einsum("yh,nhwc,xw->nyxc", rows, maps.astype(np.float32, copy=False), columns, optimize=True)


def normalize_maps(maps: np.ndarray, normalize: str) -> np.ndarray:
    """Scale raw maps (N, H, W, C).

    ``"none"`` keeps them; ``"per_map"`` takes each map to [0, 1] on its own;
    ``"per_image"`` uses one [0, 1] scale for all maps of an image, so
    classes can be compared. A constant map becomes zeros.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
    if normalize == "none":
        return maps
    axes = (1, 2) if normalize == "per_map" else (1, 2, 3)
    low = maps.min(axis=axes, keepdims=True)
    span = maps.max(axis=axes, keepdims=True) - low
    scaled = np.subtract(maps, low, dtype=np.float32)  # the one full-size array made here
    np.divide(scaled, span, out=scaled, where=span > 0)
    scaled[np.broadcast_to(span == 0, scaled.shape)] = 0
    return scaled


def _forward(model: keras.Model, images: np.ndarray, batch_size: int):
    """Yield (features of ``last_conv``, probabilities) batch by batch, from one pass.

    ``predict_on_batch`` runs a compiled graph: about half the time and a third
    of the memory of calling the model eagerly.
    """
    last_conv, _ = _gap_dense_head(model)
    images = _check_images(model, images)
    both = keras.Model(model.input, [last_conv.output, model.output])
    with native_stderr_silenced():
        for start in range(0, len(images), batch_size):
            features, probabilities = both.predict_on_batch(images[start : start + batch_size])
            yield features, probabilities


def feature_maps(model: keras.Model, images: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Return the output of ``last_conv`` (N, h, w, K) for ``images``."""
    return np.concatenate([features for features, _ in _forward(model, images, batch_size)])


def logits(model: keras.Model, images: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Return the class scores before the sigmoid, ``mean(f) @ w + b``, for ``images`` (N, 10)."""
    weights, bias = _gap_dense_head(model)[1].get_weights()
    return np.concatenate([f.mean(axis=(1, 2)) @ weights + bias for f, _ in _forward(model, images, batch_size)])


def class_activation_maps(
    model: keras.Model,
    images: np.ndarray,
    normalize: str = "none",
    *,
    upsampled: bool = True,
    batch_size: int = 100,
) -> ClassActivationMaps:
    """Compute the CAM of every class for a batch of images in one pass.

    Parameters
    ----------
    model : keras.Model
        A network ending in ``last_conv`` -> GlobalAveragePooling2D -> Dense(10).
    images : uint8 array (N, H, W) or (N, H, W, 1)
        Raw canvases, as the model takes them.
    normalize : {"none", "per_map", "per_image"}
        See :func:`normalize_maps`; ``"none"`` is the exact formula.
    upsampled : bool
        Resize the maps bilinearly to the canvas (True) or keep the feature
        resolution of ``last_conv`` (False).
    batch_size : int
        Images per forward pass; bounds memory.

    Returns
    -------
    ClassActivationMaps
        ``maps`` (N, H, W, 10) float32 and ``probabilities`` (N, 10).

    Raises
    ------
    ValueError
        If the model lacks the GAP head or ``last_conv``, the images have the
        wrong shape or dtype, or ``normalize`` is unknown.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
    weights = _gap_dense_head(model)[1].get_weights()[0]
    images = _check_images(model, images)
    maps, probabilities, start = None, np.empty((len(images), weights.shape[1]), np.float32), 0
    for features, probs in _forward(model, images, batch_size):
        small = np.einsum("nhwk,kc->nhwc", features, weights)
        batch = upsample(small, images.shape[1:3]) if upsampled else small.astype(np.float32)
        if maps is None:  # filled batch by batch: no list of copies to concatenate
            maps = np.empty((len(images), *batch.shape[1:]), np.float32)
        maps[start : start + len(batch)] = batch
        probabilities[start : start + len(batch)] = probs
        start += len(batch)
    return ClassActivationMaps(normalize_maps(maps, normalize), probabilities)


def box_masks(items: np.ndarray, boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return bool masks (N, H, W, 10): the pixels of the products of each class."""
    count, slots = items.shape
    masks = np.zeros((count, *shape, NUM_CLASSES), dtype=bool)
    rows, columns = np.arange(shape[0]), np.arange(shape[1])
    for slot in range(slots):
        present = items[:, slot] != EMPTY
        x0, y0, x1, y1 = (boxes[:, slot, i][:, None] for i in range(4))
        inside = ((rows >= y0) & (rows < y1))[:, :, None] & ((columns >= x0) & (columns < x1))[:, None, :]
        index = np.flatnonzero(present)
        masks[index, :, :, items[index, slot]] |= inside[index]
    return masks


def localisation_scores(
    maps: np.ndarray, items: np.ndarray, boxes: np.ndarray, predicted: np.ndarray | None = None
) -> dict[str, pd.DataFrame | pd.Series]:
    """Score maps against the true product boxes.

    For every true label of every image: a *pointing-game* hit when the
    map's maximum lies inside a product of that class, and the *energy
    share*, the part of the map's positive mass inside those products.

    Parameters
    ----------
    maps : array (N, H, W, 10)
        Class maps at canvas size (any normalisation).
    items, boxes : arrays (N, S) and (N, S, 4)
        From :class:`helpers.composite.Composites`.
    predicted : bool array (N, 10), optional
        The model's predicted labels; adds a ``predicted`` column so scores
        can be split by correct and missed labels.

    Returns
    -------
    dict
        ``per_label`` (one row per image and true class), ``per_class`` and
        ``overall`` (means).
    """
    maps = np.asarray(maps)
    if maps.ndim != 4 or maps.shape[-1] != NUM_CLASSES or maps.shape[0] != len(items):
        raise ValueError(f"maps must have shape (N, H, W, {NUM_CLASSES}) with N = {len(items)}; got {maps.shape}")
    if boxes.shape != (*items.shape, 4):
        raise ValueError(f"boxes must have shape {(*items.shape, 4)}; got {boxes.shape}")
    masks = box_masks(items, boxes, maps.shape[1:3])
    image, label = np.nonzero(masks.any(axis=(1, 2)))
    chosen = maps[image, :, :, label]  # (L, H, W)
    chosen_masks = masks[image, :, :, label]
    peaks = chosen.reshape(len(chosen), -1).argmax(axis=1)
    hits = chosen_masks.reshape(len(chosen), -1)[np.arange(len(chosen)), peaks]
    positive = np.maximum(chosen, 0, out=chosen)  # `chosen` is a copy: clip it in place
    total = positive.sum(axis=(1, 2))
    inside = positive.sum(axis=(1, 2), where=chosen_masks)
    share = np.divide(inside, total, out=np.zeros_like(total, dtype=np.float64), where=total > 0)
    per_label = pd.DataFrame(
        {"image": image, "class": pd.Categorical.from_codes(label, CLASS_NAMES), "pointing_hit": hits, "energy_share": share}
    )
    if predicted is not None:
        per_label["predicted"] = np.asarray(predicted, dtype=bool)[image, label]
    per_class = per_label.groupby("class", observed=False)[["pointing_hit", "energy_share"]].mean()
    overall = per_label[["pointing_hit", "energy_share"]].mean()
    return {"per_label": per_label, "per_class": per_class, "overall": overall}
