"""Class activation maps (CAM) for every class at once; upsampling and normalising maps.

For class c, ``M_c = sum_k w[k, c] * f_k``: f are the feature maps of the
layer ``last_conv`` and w the kernel of the final Dense layer (Zhou et al.,
CVPR 2016). Because global average pooling feeds the Dense layer, the class
logit is the spatial mean of ``M_c`` plus the Dense bias.

:class:`ClassMaps` holds the maps of any method (:mod:`helpers.gradcam` too);
:mod:`helpers.localisation` scores them against the product boxes.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import keras
import numpy as np

from helpers._checks import check_choice, check_network_canvases
from helpers.model import LAST_CONV, dense_head
from helpers.quiet import native_stderr_silenced

NORMALIZATIONS = ("none", "per_map", "per_image")


class ClassMaps(NamedTuple):
    """Class maps of a batch of images and the probabilities of the same forward pass.

    Attributes
    ----------
    maps : float32 array (N, H, W, 10) or (N, H, W)
        Every class's map, or one map per image for the class asked; at
        canvas size unless asked otherwise.
    probabilities : float32 array (N, 10)
        The class probabilities of the same pass (for Grad-CAM, the sigmoid
        of the logits).
    """

    maps: np.ndarray
    probabilities: np.ndarray


def _gap_dense_head(model: keras.Model) -> tuple[keras.layers.Layer, keras.layers.Dense]:
    """Return ``last_conv`` and the final Dense layer, or explain what is missing."""
    try:
        last_conv = model.get_layer(LAST_CONV)
    except ValueError:
        raise ValueError(
            f"model has no layer named {LAST_CONV!r}; CAM needs the last convolution under that name"
        ) from None
    dense = dense_head(model)
    source = dense.input._keras_history.operation
    while isinstance(source, keras.layers.Dropout):
        source = source.input._keras_history.operation
    if (
        not isinstance(source, keras.layers.GlobalAveragePooling2D)
        or source.input is not last_conv.output
    ):
        raise ValueError(
            f"CAM needs {LAST_CONV!r} -> GlobalAveragePooling2D -> Dense; "
            f"the Dense layer is fed by {type(source).__name__}"
        )
    return last_conv, dense


def check_images(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Check that ``images`` are raw uint8 canvases of the size ``model`` is meant for; return them
    as (N, H, W).

    That is the input size ``model`` fixes, if it fixes one; the series' GAP
    network fixes none and gets the 32 x 128 canvases it was trained on, so
    that its maps line up with the product boxes (see
    :func:`helpers._checks.check_network_canvases`).
    """
    return check_network_canvases(images, model.input_shape)


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
    return np.einsum(
        "yh,nhwc,xw->nyxc", rows, maps.astype(np.float32, copy=False), columns, optimize=True
    )


def normalize_maps(maps: np.ndarray, normalize: str, *, in_place: bool = False) -> np.ndarray:
    """Scale raw maps (N, H, W, C).

    ``"none"`` keeps them; ``"per_map"`` takes each map to [0, 1] on its own;
    ``"per_image"`` uses one [0, 1] scale for all maps of an image, so
    classes can be compared. A constant map becomes zeros. ``in_place``
    overwrites ``maps`` (float32) instead of making a second full-size array.
    """
    check_choice(normalize, "normalize", NORMALIZATIONS)
    if normalize == "none":
        return maps
    axes = (1, 2) if normalize == "per_map" else (1, 2, 3)
    low = maps.min(axis=axes, keepdims=True)
    span = maps.max(axis=axes, keepdims=True) - low
    scaled = np.subtract(maps, low, out=maps if in_place else None, dtype=np.float32)
    np.divide(scaled, span, out=scaled, where=span > 0)
    scaled[np.broadcast_to(span == 0, scaled.shape)] = 0
    return scaled


def stack_batches(batches: Iterable[np.ndarray], count: int) -> np.ndarray:
    """Put maps that come batch by batch into one float32 array of ``count`` rows, filled in place.

    Half the peak memory of collecting the batches in a list and concatenating them.
    """
    maps, start = None, 0
    for batch in batches:
        if maps is None:
            maps = np.empty((count, *batch.shape[1:]), np.float32)
        maps[start : start + len(batch)] = batch
        start += len(batch)
    if maps is None:
        raise ValueError("images must hold at least one canvas; got none")
    return maps


_FEATURES_AND_OUTPUT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _features_and_output(model: keras.Model) -> keras.Model:
    """The sub-model ``input -> (features of last_conv, probabilities)``, built once per model.

    A new sub-model compiles its predict function again: 50 ms for one
    canvas, where the compiled one takes 3 ms (the explorer asks for one
    canvas at a time).
    """
    if model not in _FEATURES_AND_OUTPUT:
        last_conv, _ = _gap_dense_head(model)
        _FEATURES_AND_OUTPUT[model] = keras.Model(model.input, [last_conv.output, model.output])
    return _FEATURES_AND_OUTPUT[model]


def _forward(model: keras.Model, images: np.ndarray, batch_size: int):
    """Yield (features of ``last_conv``, probabilities) batch by batch, from one pass.

    ``predict_on_batch`` runs a compiled graph: about half the time and a third
    of the memory of calling the model eagerly.
    """
    both = _features_and_output(model)
    images = check_images(model, images)
    with native_stderr_silenced():
        for start in range(0, len(images), batch_size):
            features, probabilities = both.predict_on_batch(images[start : start + batch_size])
            yield features, probabilities


def feature_maps(model: keras.Model, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Return the output of ``last_conv`` (N, h, w, K) for ``images``."""
    return np.concatenate([features for features, _ in _forward(model, images, batch_size)])


def logits(model: keras.Model, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Return the class scores before the sigmoid, ``mean(f) @ w + b``, for ``images`` (N, 10)."""
    weights, bias = _gap_dense_head(model)[1].get_weights()
    return np.concatenate(
        [f.mean(axis=(1, 2)) @ weights + bias for f, _ in _forward(model, images, batch_size)]
    )


def class_activation_maps(
    model: keras.Model,
    images: np.ndarray,
    normalize: str = "none",
    *,
    upsampled: bool = True,
    batch_size: int = 100,
) -> ClassMaps:
    """Compute the CAM of every class for a batch of images in one pass.

    Parameters
    ----------
    model : keras.Model
        A network ending in ``last_conv`` -> GlobalAveragePooling2D -> Dense(10).
    images : uint8 array (N, 32, 128) or (N, 32, 128, 1)
        Raw canvases of the size the model was trained on (see :func:`check_images`).
    normalize : {"none", "per_map", "per_image"}
        See :func:`normalize_maps`; ``"none"`` is the exact formula.
    upsampled : bool
        Resize the maps bilinearly to the canvas (True) or keep the feature
        resolution of ``last_conv`` (False).
    batch_size : int
        Images per forward pass; bounds memory.

    Returns
    -------
    ClassMaps
        ``maps`` (N, H, W, 10) float32 and ``probabilities`` (N, 10).

    Raises
    ------
    ValueError
        If the model lacks the GAP head or ``last_conv``, the images have the
        wrong shape, size or dtype, or ``normalize`` is unknown.
    """
    check_choice(normalize, "normalize", NORMALIZATIONS)
    weights = _gap_dense_head(model)[1].get_weights()[0]
    images = check_images(model, images)
    probabilities = []

    def batches() -> Iterator[np.ndarray]:
        for features, probs in _forward(model, images, batch_size):
            probabilities.append(probs)
            small = np.einsum("nhwk,kc->nhwc", features, weights)
            yield upsample(small, images.shape[1:3]) if upsampled else small

    maps = normalize_maps(stack_batches(batches(), len(images)), normalize, in_place=True)
    return ClassMaps(maps, np.concatenate(probabilities).astype(np.float32))
