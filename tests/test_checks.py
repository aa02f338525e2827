"""The shared input checks: what each accepts, and the words of each refusal."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers import _checks


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (3, {"low": 0}, 3),
        (np.int64(4), {"low": 1, "high": 4}, 4),
        (0.5, {"expected": float, "low": 0, "high": 1}, 0.5),
        (2, {"expected": float}, 2.0),
    ],
)
def test_check_scalar_returns_what_it_accepts_as_a_python_number(value, kwargs, expected):
    accepted = _checks.check_scalar(value, "x", **kwargs)
    assert accepted == expected and type(accepted) is type(expected)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (True, {"low": 0}, "count must be a non-negative integer; got True"),
        (np.bool_(True), {"low": 1}, "count must be a positive integer; got np.True_"),
        (2.0, {"low": 1}, "count must be a positive integer; got 2.0"),
        ("3", {}, "count must be an integer; got '3'"),
        (5, {"low": 1, "high": 4}, "count must be an integer from 1 to 4; got 5"),
        (-1, {"low": 0}, "count must be a non-negative integer; got -1"),
        (27, {"low": 28}, "count must be an integer of at least 28; got 27"),
        (
            0.0,
            {"expected": float, "low": 0, "open_low": True},
            "count must be a positive number; got 0.0",
        ),
        (
            1.0,
            {"expected": float, "low": 0, "high": 1, "open_high": True},
            r"count must be a number in \[0, 1\); got 1.0",
        ),
        (float("nan"), {"expected": float}, "count must be a number; got nan"),
        (False, {"expected": float}, "count must be a number; got False"),
    ],
)
def test_check_scalar_refuses_naming_the_parameter_and_the_bounds(value, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        _checks.check_scalar(value, "count", **kwargs)


def test_check_choice_names_the_choices():
    assert _checks.check_choice("b", "mode", ("a", "b")) == "b"
    with pytest.raises(ValueError, match=r"^mode must be one of \('a', 'b'\); got 'c'$"):
        _checks.check_choice("c", "mode", ("a", "b"))
    with pytest.raises(ValueError, match=r"mode must be one of \('a', 'b'\); got \['a'\]"):
        _checks.check_choice(["a"], "mode", ("a", "b"))


def test_check_label_sets_accepts_multi_hot_and_refuses_the_rest():
    labels = _checks.check_label_sets(np.eye(3, 10, dtype=np.uint8), "y_true", 10)
    assert labels.dtype == np.int64 and labels.shape == (3, 10)
    with pytest.raises(ValueError, match=r"y_true must have shape \(N, 10\); got \(3, 9\)"):
        _checks.check_label_sets(np.zeros((3, 9)), "y_true", 10)
    with pytest.raises(ValueError, match="y_pred must hold only 0 and 1"):
        _checks.check_label_sets(np.full((3, 10), 0.5), "y_pred", 10)


def test_check_probabilities_checks_shape_and_range():
    assert (
        _checks.check_probabilities(np.full((2, 10), 0.5, np.float32), "p", (None, 10)).dtype
        == np.float64
    )
    with pytest.raises(ValueError, match=r"p must have shape \(N, 10\); got \(10,\)"):
        _checks.check_probabilities(np.zeros(10), "p", (None, 10))
    with pytest.raises(ValueError, match=r"p must have shape \(3, 10\); got \(2, 10\)"):
        _checks.check_probabilities(np.zeros((2, 10)), "p", (3, 10))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        _checks.check_probabilities(np.full((1, 10), np.nan), "p", (None, 10))


def test_check_thresholds_gives_one_per_class():
    np.testing.assert_array_equal(_checks.check_thresholds(0.3, 10), np.full(10, 0.3))
    for bad in (0.0, 1.0, np.full(9, 0.5)):
        with pytest.raises(
            ValueError, match=r"threshold must be in \(0, 1\), one value or one per class"
        ):
            _checks.check_thresholds(bad, 10)


def test_check_canvases_drops_a_channel_axis_and_refuses_floats():
    assert _checks.check_canvases(np.zeros((2, 32, 128, 1), np.uint8), 32, 128).shape == (
        2,
        32,
        128,
    )
    assert _checks.check_canvases(np.zeros((2, 8, 8), np.uint8), None, None).shape == (2, 8, 8)
    with pytest.raises(
        ValueError,
        match=r"images must have shape \(N, 32, 128\) or \(N, 32, 128, 1\); got \(32, 128\)",
    ):
        _checks.check_canvases(np.zeros((32, 128), np.uint8), 32, 128)
    with pytest.raises(ValueError, match=r"images must be uint8 canvases \(0-255\); got float32"):
        _checks.check_canvases(np.zeros((1, 32, 128), np.float32), 32, 128)


def test_the_training_canvas_is_the_composites_default_canvas():
    from helpers import composite

    assert _checks.TRAINING_CANVAS == (
        composite.DEFAULT_SLOT,
        composite.DEFAULT_SLOT * composite.DEFAULT_ITEMS,
    )


@pytest.mark.parametrize("shape", [(5, 32, 96), (5, 28, 28), (5, 64, 256), (5, 32, 96, 1)])
def test_a_network_of_any_input_size_gets_the_canvas_it_was_trained_on(shape):
    assert _checks.check_network_canvases(
        np.zeros((5, 32, 128, 1), np.uint8), (None, None, None, 1)
    ).shape == (5, 32, 128)
    with pytest.raises(
        ValueError,
        match=r"images must be canvases of 32 x 128 pixels, the size the network was trained on, "
        rf"so that its maps line up with the product boxes; got {re.escape(str(shape))}",
    ):
        _checks.check_network_canvases(np.zeros(shape, np.uint8), (None, None, None, 1))


def test_a_network_of_a_fixed_input_size_gets_that_size():
    images = np.zeros((2, 4, 8), np.uint8)
    assert _checks.check_network_canvases(images, (None, 4, 8)).shape == (2, 4, 8)
    with pytest.raises(
        ValueError,
        match=r"images must be canvases of 4 x 8 pixels, the size the network takes; "
        r"got \(2, 32, 128\)",
    ):
        _checks.check_network_canvases(np.zeros((2, 32, 128), np.uint8), (None, 4, 8))


def test_the_size_is_checked_before_the_dtype():
    with pytest.raises(ValueError, match=r"images must be canvases of 32 x 128 pixels"):
        _checks.check_canvases(np.zeros((1, 32, 96), np.float32), 32, 128)
