"""Input validation shared by every public function of ``helpers``.

Each check returns the value it accepted (converted where that helps) or
raises ``ValueError`` with a message that names the parameter and what was
expected, in the spirit of scikit-learn's ``check_scalar``. This module
imports nothing from ``helpers``: the number of classes is passed in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from pathlib import Path

import numpy as np

_KINDS = {int: "an integer", float: "a number"}


def _describe(
    expected: type, low: float | None, high: float | None, open_low: bool, open_high: bool
) -> str:
    """Say in words what ``check_scalar`` accepts, e.g. "a positive integer" or "a number in (0, 1)"."""
    if expected is int:  # an open bound on integers is the next integer, closed
        low = None if low is None else low + open_low
        high = None if high is None else high - open_high
        open_low = open_high = False
    kind = _KINDS[expected]
    noun = kind.split()[-1]
    if high is None:
        if (low == 0 and open_low) or (expected is int and low == 1):
            return f"a positive {noun}"
        if low == 0:
            return f"a non-negative {noun}"
        return kind if low is None else f"{kind} {'above' if open_low else 'of at least'} {low}"
    if low is None:
        return f"{kind} {'below' if open_high else 'of at most'} {high}"
    if expected is int:
        return f"an integer from {low} to {high}"
    return f"a number in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"


def check_scalar(
    value: object,
    name: str,
    expected: type = int,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
) -> int | float:
    """Check that ``value`` is one integer (or number) within bounds; return it as ``int`` (or ``float``).

    Parameters
    ----------
    value : object
    name : str
        The parameter's name, for the message.
    expected : {int, float}
        ``int`` accepts Python and numpy integers; ``float`` accepts any
        finite real number, integers included. ``True`` and ``False`` are
        neither.
    low, high : number, optional
        Bounds, inclusive unless ``open_low`` / ``open_high``.

    Raises
    ------
    ValueError
        ``"{name} must be {what was expected}; got {value!r}"``.

    Examples
    --------
    >>> check_scalar(3, "count", low=0)
    3
    >>> check_scalar(True, "count", low=0)
    Traceback (most recent call last):
    ...
    ValueError: count must be a non-negative integer; got True
    """
    if expected not in _KINDS:
        raise ValueError(f"expected must be int or float; got {expected!r}")
    allowed = (int, np.integer) if expected is int else (int, float, np.integer, np.floating)
    fits = isinstance(value, allowed) and not isinstance(value, (bool, np.bool_))
    if fits:
        fits = expected is int or bool(np.isfinite(float(value)))
        fits = fits and (low is None or (value > low if open_low else value >= low))
        fits = fits and (high is None or (value < high if open_high else value <= high))
    if not fits:
        raise ValueError(
            f"{name} must be {_describe(expected, low, high, open_low, open_high)}; got {value!r}"
        )
    return int(value) if expected is int else float(value)


def check_choice(value: object, name: str, choices: Collection) -> object:
    """Check that ``value`` is one of ``choices``; return it.

    Raises
    ------
    ValueError
        ``"{name} must be one of ('a', 'b'); got 'c'"``.
    """
    if isinstance(value, (bool, np.bool_, list, dict, set, np.ndarray)) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}")
    return value


def check_label_sets(labels: object, name: str, classes: int) -> np.ndarray:
    """Check multi-hot label sets: shape (N, classes), only 0 and 1; return them as an int64 array."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != classes:
        raise ValueError(f"{name} must have shape (N, {classes}); got {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return labels.astype(np.int64)


def check_probabilities(
    probabilities: object, name: str, shape: tuple[int | None, ...]
) -> np.ndarray:
    """Check probabilities, each in [0, 1], of ``shape`` (None: any length on that axis); return them as float64."""
    try:
        probabilities = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an array of probabilities; got {type(probabilities).__name__}"
        ) from None
    fits = probabilities.ndim == len(shape) and all(
        want in (None, got) for want, got in zip(shape, probabilities.shape, strict=True)
    )
    if not fits:
        wanted = ", ".join("N" if want is None else str(want) for want in shape)
        raise ValueError(f"{name} must have shape ({wanted}); got {probabilities.shape}")
    if not ((probabilities >= 0) & (probabilities <= 1)).all():
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return probabilities


def check_thresholds(threshold: object, classes: int) -> np.ndarray:
    """Check one decision threshold, or one per class, in (0, 1); return one per class (float64)."""
    values = np.asarray(threshold, dtype=np.float64)
    if values.shape not in ((), (classes,)) or not ((values > 0) & (values < 1)).all():
        raise ValueError(
            f"threshold must be in (0, 1), one value or one per class; got {threshold}"
        )
    return np.broadcast_to(values, (classes,))


TRAINING_CANVAS = (32, 128)
"""Height and width of the canvases every network of the series trains on: four 32 x 32 slots
(``helpers.composite``'s defaults, which a test holds to these numbers)."""

_TRAINED_ON = "the size the network was trained on, so that its maps line up with the product boxes"


def check_canvases(
    images: object, height: int | None, width: int | None, name: str = "images", *, why: str = ""
) -> np.ndarray:
    """Check raw canvases: uint8 (N, H, W) or (N, H, W, 1); return them as (N, H, W).

    ``height`` or ``width`` None accepts any size along that axis; ``why``
    says, in the message, why the size is required.

    Raises
    ------
    ValueError
        ``"{name} must have shape (N, H, W) or (N, H, W, 1); got ..."`` for
        another number of axes or channels, ``"{name} must be canvases of
        32 x 128 pixels, {why}; got ..."`` for another size, ``"{name} must
        be uint8 canvases (0-255); got float64"`` for another dtype.
    """
    images = np.asarray(images)
    given = images.shape
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    h, w = height or "H", width or "W"
    if images.ndim != 3:
        raise ValueError(f"{name} must have shape (N, {h}, {w}) or (N, {h}, {w}, 1); got {given}")
    if not all(
        want in (None, got) for want, got in zip((height, width), images.shape[1:], strict=True)
    ):
        h, w = height or "any height", width or "any width"
        raise ValueError(
            f"{name} must be canvases of {h} x {w} pixels{', ' + why if why else ''}; got {given}"
        )
    if images.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 canvases (0-255); got {images.dtype}")
    return images


def check_network_canvases(
    images: object, input_shape: tuple[int | None, ...], name: str = "images"
) -> np.ndarray:
    """Check canvases for a network whose Keras ``input_shape`` is given; return them as (N, H, W).

    A network that fixes its input size gets canvases of that size. The
    series' GAP network fixes none (it would run on any canvas), but its maps
    only line up with the product boxes, and its scores only mean what they
    say, on the canvases it was trained on: :data:`TRAINING_CANVAS`, 32 x 128.

    Raises
    ------
    ValueError
        As :func:`check_canvases`, e.g. ``"images must be canvases of 32 x
        128 pixels, the size the network was trained on, so that its maps
        line up with the product boxes; got (5, 32, 96)"``.
    """
    declared = tuple(input_shape[1:3])
    if None not in declared:
        return check_canvases(images, *declared, name, why="the size the network takes")
    canvas = [d if d is not None else t for d, t in zip(declared, TRAINING_CANVAS, strict=True)]
    return check_canvases(images, *canvas, name, why=_TRAINED_ON)


def check_indices(indices: object, name: str, size: int, *, distinct: bool = False) -> np.ndarray:
    """Check a 1-D array of integer indices into ``size`` items (0 to size - 1, optionally each
    once); return it as int64."""
    array = np.asarray(indices)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"{name} must be a 1-D array of integer indices; got {array.dtype} {array.shape}"
        )
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(
            f"{name} must hold indices from 0 to {size - 1}; got values from {array.min()} to {array.max()}"
        )
    if distinct and np.unique(array).size != array.size:
        raise ValueError(
            f"{name} must hold each index at most once; {array.size - np.unique(array).size} repeat"
        )
    return array.astype(np.int64)


def check_output_folder(path: object, name: str) -> Path:
    """Check, before any work, that a folder can be created or written at ``path``; return it as a Path.

    Missing folders on the way are fine (the writer creates them); the
    nearest existing one must be a folder this process can create a file in
    (tried with a temporary file, which is removed at once).
    """
    path = Path(path)
    try:
        existing = next((folder for folder in (path, *path.parents) if folder.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ValueError(f"{name} {path} cannot be written: {existing} is a file, not a folder")
        if existing is not None:
            tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise ValueError(f"{name} {path} cannot be written: {error.strerror or error}") from None
    return path


def check_output_file(path: object, name: str, suffix: str | None) -> Path:
    """Check, before any work, that a file (ending in ``suffix``) can be written at ``path``; return it as a Path."""
    path = Path(path)
    if suffix is not None and path.suffix != suffix:
        raise ValueError(f"{name} must end in {suffix}; got {path.name}")
    if path.is_dir():
        raise ValueError(f"{name} must be a file; {path} is a folder")
    check_output_folder(path.parent, name)
    return path
