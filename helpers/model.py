"""The GAP network: convolution blocks -> ``last_conv`` -> GAP -> Dense(10, sigmoid); saving and loading it.

How a network is trained lives in :mod:`helpers.recipes` (what) and
:mod:`helpers.training` (how).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from keras import layers

from helpers._checks import TRAINING_CANVAS, check_choice, check_output_file
from helpers.activations import HEADS
from helpers.fashion import NUM_CLASSES
from helpers.quiet import native_stderr_silenced

INPUT_SHAPE = (None, None, 1)  # any size to Keras; helpers' maps and scores take 32 x 128 only
LAST_CONV = "last_conv"
DTYPES = ("float32", "mixed_bfloat16")


def fold_patches(size: int, name: str = "fold") -> layers.Conv2D:
    """A fixed, lossless layer that folds each ``size x size`` pixel patch into channels.

    A first convolution over one channel runs far below a CPU's speed; the
    same pixels as ``size**2`` channels at a lower resolution keep every
    detail and let the following convolutions run fast. It is a convolution
    with one-hot kernels (not trained), so it works at any canvas size.
    """
    kernel = np.eye(size * size, dtype="float32").reshape(size, size, 1, size * size)
    return layers.Conv2D(
        size * size,
        size,
        strides=size,
        use_bias=False,
        trainable=False,
        name=name,
        kernel_initializer=keras.initializers.Constant(kernel),
    )


def conv_bn_relu(
    x: keras.KerasTensor,
    filters: int,
    prefix: str,
    number: int,
    batch_norm: bool,
    pool: bool = False,
    dtype: str = "float32",
) -> keras.KerasTensor:
    """A 3x3 convolution, 2x2 max pooling if asked, batch norm if asked, then a ReLU.

    The layers are named ``{prefix}_conv{number}``, ``{prefix}_pool``,
    ``{prefix}_bn{number}`` and ``{prefix}_relu{number}``. The pooling comes
    straight after the convolution, so batch norm and ReLU work on a quarter
    of the pixels (notebook 03). ``dtype`` is the layers' Keras dtype policy.
    """
    x = layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=not batch_norm,
        name=f"{prefix}_conv{number}",
        dtype=dtype,
    )(x)
    if pool:
        x = layers.MaxPooling2D(2, name=f"{prefix}_pool", dtype=dtype)(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, name=f"{prefix}_bn{number}", dtype=dtype)(x)
    return layers.ReLU(name=f"{prefix}_relu{number}", dtype=dtype)(x)


def build_gap_cnn(
    blocks: Sequence[Sequence[int]] = ((32, 48), (96,)),
    last_filters: int = 192,
    top: Sequence[int] = (128,),
    batch_norm: bool = True,
    fold: int = 2,
    *,
    head_activation: str = "sigmoid",
    non_negative_head: bool = False,
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
    dtype: str = "float32",
) -> keras.Model:
    """Build the GAP network that class activation maps are read from.

    The network notebook 03 writes out layer by layer, for any widths: each
    block is a few 3x3 convolutions (batch-normalised, ReLU) whose last one
    is max-pooled 2x2; then the ``top`` convolutions, ``last_conv`` (3x3,
    ReLU), global average pooling and ``Dense(10, sigmoid)``. The model takes
    raw canvases, uint8 0-255 of shape ``(N, 32, 128)`` or ``(N, 32, 128, 1)``,
    and scales them itself.

    Parameters
    ----------
    blocks : sequence of sequences of int
        Filters of each convolution, block by block; the last one of each block pools.
    last_filters : int
        Feature maps of ``last_conv`` (the maps CAM weighs).
    top : sequence of int
        Filters of further 3x3 convolutions (batch-normalised, ReLU) after
        the last pooling, at the resolution of ``last_conv``.
    batch_norm : bool
        Batch-normalise every convolution before ``last_conv``.
    fold : int
        Fold ``fold x fold`` pixel patches into channels first (see
        :func:`fold_patches`); 1 keeps the canvas as it is.
    head_activation : {"sigmoid", "softmax"}
        The output activation: sigmoid for multi-label (the default); softmax
        only to show, in notebook 02, why it does not fit.
    non_negative_head : bool
        Keep the Dense kernel non-negative (``keras.constraints.NonNeg``), so
        a class score can only gather evidence and every class activation
        map is non-negative. The kernel starts small and positive and the
        bias at -1 (a probability of 0.27, near the one-in-three rate of
        each label).
    input_shape : tuple
        Canvas height, width and channels.
    dtype : {"float32", "mixed_bfloat16"}
        The Keras dtype policy of the convolutions, their batch norms,
        ReLUs and poolings. ``"mixed_bfloat16"`` keeps float32 weights and
        computes in bfloat16: for training on processors with bfloat16
        instructions (see :func:`helpers.training.training_dtype`). The
        input scaling, the fold and ``predictions`` always compute in float32.

    Returns
    -------
    keras.Model
        Uncompiled; its layers include ``last_conv``, ``gap`` and ``predictions``.
    """
    check_choice(dtype, "dtype", DTYPES)
    check_choice(head_activation, "head_activation", HEADS)
    inputs = keras.Input(shape=input_shape, name="canvas")  # Keras adds a missing channel axis
    # float32: 1/255 in bfloat16 would be 1/256
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    if fold > 1:
        x = fold_patches(fold)(x)
    for b, filters_of_block in enumerate(blocks, start=1):
        for c, filters in enumerate(filters_of_block, start=1):
            last = c == len(filters_of_block)
            x = conv_bn_relu(x, filters, f"block{b}", c, batch_norm, pool=last, dtype=dtype)
    for t, filters in enumerate(top, start=1):
        x = conv_bn_relu(x, filters, "top", t, batch_norm, dtype=dtype)
    x = layers.Conv2D(
        last_filters, 3, padding="same", activation="relu", name=LAST_CONV, dtype=dtype
    )(x)
    x = layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(x)
    head = {}
    if non_negative_head:
        head = {
            "kernel_constraint": keras.constraints.NonNeg(),
            "kernel_initializer": keras.initializers.RandomUniform(0.0, 0.02),
            "bias_initializer": keras.initializers.Constant(-1.0),
        }
    outputs = layers.Dense(NUM_CLASSES, activation=head_activation, name="predictions", **head)(x)
    return keras.Model(inputs, outputs, name="gap_cnn")


def layer_table(model: keras.Model, canvas: tuple[int, int] = TRAINING_CANVAS) -> pd.DataFrame:
    """List every layer of ``model`` with its output shape on one ``canvas`` and its parameters.

    ``model.summary()`` shows ``None`` for the height and width of a network
    built for any canvas; this table runs one blank canvas through it instead.

    Returns
    -------
    pandas.DataFrame
        One row per layer, in network order: ``layer``, ``type``, ``output
        shape`` (without the batch axis) and ``parameters``.
    """
    inner = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.input, [layer.output for layer in inner])
    with native_stderr_silenced():
        outputs = probe(np.zeros((1, *canvas), np.float32), training=False)
    return pd.DataFrame(
        [
            (layer.name, type(layer).__name__, tuple(output.shape[1:]), layer.count_params())
            for layer, output in zip(inner, outputs, strict=True)
        ],
        columns=["layer", "type", "output shape", "parameters"],
    )


def dense_head(model: keras.Model) -> keras.layers.Dense:
    """Return the model's last layer, the Dense(10) head that maps and scores read; or explain what is there instead.

    Raises
    ------
    ValueError
        If the last layer is not a Dense layer with 10 units.
    """
    dense = model.layers[-1]
    if not isinstance(dense, keras.layers.Dense):
        raise ValueError(
            f"the model's last layer must be Dense({NUM_CLASSES}); got {type(dense).__name__}"
        )
    if dense.units != NUM_CLASSES:
        raise ValueError(
            f"the model's last layer must be Dense({NUM_CLASSES}); got Dense({dense.units})"
        )
    return dense


def save(model: keras.Model, path: Path) -> Path:
    """Save ``model`` to a ``.keras`` file atomically (temporary file, then rename)."""
    path = check_output_file(path, "path", ".keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial.keras")
    try:
        model.save(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def load(path: Path) -> keras.Model:
    """Load a ``.keras`` model in Keras' safe mode (no arbitrary code).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a whole ``.keras`` archive (truncated, or of
        another kind), or Keras cannot rebuild a model from it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}; train one with `python -m helpers train`")
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras; got {path.name}")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a Keras model file: a .keras file is a zip archive, "
            "and this one is not (truncated, or of another kind)"
        )
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (
        ValueError,
        KeyError,
        OSError,
        TypeError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
    ) as error:
        raise ValueError(f"{path} holds no model Keras can load: {error}") from None
