"""Grad-CAM and Grad-CAM++ at any convolution.

Grad-CAM (Selvaraju et al., ICCV 2017) weighs the feature maps ``f_k`` of a
layer by the spatial mean of the gradient of a class *logit* ``z_c`` with
respect to them, sums, and keeps the positive part:
``ReLU(sum_k alpha_k f_k)`` with ``alpha_k = mean_xy dz_c / df_k(x, y)``.
At ``last_conv`` of a GAP -> Dense network ``dz_c / df_k(x, y) = w[k, c] / (h w)``,
so Grad-CAM there is ``ReLU(CAM) / (h w)``; at earlier layers it differs.
:mod:`helpers.localisation` scores these maps and CAM's alike.

The gradients use ``tf.GradientTape``: this module needs the TensorFlow
backend of Keras.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers._checks import TRAINING_CANVAS, check_choice, check_scalar
from helpers.cam import (
    NORMALIZATIONS,
    ClassMaps,
    check_images,
    normalize_maps,
    stack_batches,
    upsample,
)
from helpers.fashion import NUM_CLASSES
from helpers.model import LAST_CONV, dense_head, layer_table
from helpers.quiet import native_stderr_silenced, tensorflow_warnings_silenced

METHODS = ("grad_cam", "grad_cam_pp")


def feature_layers(model: keras.Model, canvas: tuple[int, int] = TRAINING_CANVAS) -> pd.DataFrame:
    """List the layers whose output is 4-D feature maps, with their size on ``canvas``.

    Any of them can be passed to :func:`grad_cam` as ``layer``.

    Returns
    -------
    pandas.DataFrame
        One row per layer, in network order: ``layer``, ``type``, ``height``,
        ``width``, ``maps`` (channels).
    """
    table = layer_table(model, canvas)
    maps = table[table["output shape"].map(len) == 3]
    height, width, channels = zip(*maps["output shape"], strict=True)
    return pd.DataFrame(
        {
            "layer": maps["layer"],
            "type": maps["type"],
            "height": height,
            "width": width,
            "maps": channels,
        }
    ).reset_index(drop=True)


def _is_feature_layer(layer: keras.layers.Layer) -> bool:
    return not isinstance(layer, keras.layers.InputLayer) and len(layer.output.shape) == 4


def _target_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    try:
        layer = model.get_layer(name)
    except ValueError:
        names = [layer.name for layer in model.layers if _is_feature_layer(layer)]
        raise ValueError(
            f"model has no layer named {name!r}; layers with 4-D feature maps: {names}"
        ) from None
    if not _is_feature_layer(layer):
        raise ValueError(
            f"layer {name!r} gives output of shape {tuple(layer.output.shape)}; "
            "Grad-CAM needs a layer inside the network with 4-D feature maps (N, h, w, K)"
        )
    return layer


def _check_classes(classes, count: int) -> np.ndarray | None:
    """Return the class ids as an int array, or None for ``"all"``."""
    if isinstance(classes, str):
        if classes != "all":
            raise ValueError(
                f"classes must be 'all' or an integer array of shape ({count},); got {classes!r}"
            )
        return None
    classes = np.asarray(classes)
    if classes.shape != (count,) or classes.dtype.kind not in "iu":
        raise ValueError(
            f"classes must be 'all' or an integer array of shape ({count},), one class per image; "
            f"got {classes.dtype} {classes.shape}"
        )
    if count and (classes.min() < 0 or classes.max() >= NUM_CLASSES):
        raise ValueError(
            f"classes must be class ids from 0 to {NUM_CLASSES - 1}; got values from {classes.min()} to {classes.max()}"
        )
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


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {layer: function}


def _logit_gradients(model: keras.Model, target: keras.layers.Layer, dense: keras.layers.Dense):
    """Return ``gradients(batch, chosen, k, kernel, bias) -> (features, logits, [dz/df] * k)``.

    ``chosen`` (B, k) holds ``k`` target classes per image; each gradient is
    that of the sum over the batch of one column's logits (images are
    independent). The network is cut at ``target``: the part before it runs
    outside the gradient's reach, the part after it (up to the Dense input)
    on the watched feature maps, then ``logits = dense.input @ W + b`` with
    the ``kernel`` and ``bias`` passed in. Where the cut is impossible (a
    later layer also reads an earlier tensor, as a skip connection does), one
    sub-model ``input -> (features, dense.input)`` runs with the input
    watched: the same numbers, but every backward pass then runs through the
    whole network.

    One ``tf.function`` per model and layer, kept while the model lives: traced
    once, it runs as a graph, which also drops the gradients of the frozen
    filters that eager mode computes (one canvas, ten classes: about 2x faster).
    """
    compiled = _COMPILED.setdefault(model, {})
    if target.name in compiled:
        return compiled[target.name]
    try:
        before = keras.Model(model.input, target.output)
        after = keras.Model(target.output, dense.input)

        def run(batch, tape):
            features = before(batch, training=False)
            tape.watch(features)
            return features, after(features, training=False)

    except ValueError:
        both = keras.Model(model.input, [target.output, dense.input])

        def run(batch, tape):
            tape.watch(batch)  # records every operation, frozen layers included
            return both(batch, training=False)

    @tf.function(reduce_retracing=True)
    def gradients(batch, chosen, k, kernel, bias):
        with tf.GradientTape(persistent=k > 1, watch_accessed_variables=False) as tape:
            features, pooled = run(batch, tape)
            logits = tf.matmul(pooled, kernel) + bias
            targets = [
                tf.reduce_sum(tf.gather(logits, chosen[:, j], axis=1, batch_dims=1))
                for j in range(k)
            ]
        return features, logits, [tape.gradient(t, features) for t in targets]

    compiled[target.name] = gradients
    return gradients


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
    batch_size: int = 50,
) -> ClassMaps:
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
    images : uint8 array (N, 32, 128) or (N, 32, 128, 1)
        Raw canvases of the size the model was trained on (see
        :func:`helpers.cam.check_images`).
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
    ClassMaps
        ``maps`` float32 and ``probabilities`` (N, 10).

    Raises
    ------
    ValueError
        For an unknown layer, method or normalisation, a layer without 4-D
        feature maps, a model whose last layer is not Dense(10), images of the
        wrong shape, size or dtype, or classes of the wrong shape or range.

    Example
    -------
    >>> result = grad_cam(network, test.images, test.items[:, 0])          # doctest: +SKIP
    >>> result.maps.shape                                                  # doctest: +SKIP
    (1000, 32, 128)
    """
    check_choice(method, "method", METHODS)
    check_choice(normalize, "normalize", NORMALIZATIONS)
    check_scalar(batch_size, "batch_size", low=1)
    target = _target_layer(model, layer)
    dense = dense_head(model)
    images = check_images(model, images)
    chosen = _check_classes(classes, len(images))
    gradients_of = _logit_gradients(model, target, dense)
    kernel, bias = (tf.convert_to_tensor(v, tf.float32) for v in dense.get_weights())
    probabilities = []

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, len(images), batch_size):
            batch = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
            picked = (
                chosen[start : start + batch_size, None]
                if chosen is not None
                else np.tile(np.arange(NUM_CLASSES), (len(batch), 1))
            )
            with tensorflow_warnings_silenced():  # a trace per layer, k and new batch shape
                features, logits, grads = gradients_of(
                    batch, tf.constant(picked, tf.int32), picked.shape[1], kernel, bias
                )
            weights = tf.stack([_weights(method, g, features) for g in grads], axis=-1)
            small = tf.einsum("bhwk,bkc->bhwc", features, weights)
            if relu:
                small = tf.nn.relu(small)
            probabilities.append(tf.sigmoid(logits).numpy())
            yield upsample(small.numpy(), images.shape[1:3]) if upsampled else small.numpy()

    with native_stderr_silenced():
        maps = normalize_maps(stack_batches(batches(), len(images)), normalize, in_place=True)
    if chosen is not None:
        maps = maps[..., 0]
    return ClassMaps(maps, np.concatenate(probabilities).astype(np.float32))
