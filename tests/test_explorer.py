"""The CAM explorer builds and reacts to its controls without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import explorer
from helpers.model import build_gap_cnn


@pytest.fixture(scope="module")
def app(splits):
    test = splits["test"]
    small = type(test)(*(getattr(test, f)[:6] for f in ("images", "labels", "items", "boxes", "sources")), test.source_split)
    return explorer.explore(build_gap_cnn(((8,),), last_filters=8), small)


def test_explorer_renders_a_png(app):
    assert app.view.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_moving_the_image_slider_changes_the_figure(app):
    before = app.view.value
    app.image.value = 3
    assert app.view.value != before
    assert app.artists["image"].get_array().tolist() == app.composites.images[3].tolist()


def test_new_image_selects_its_top_predicted_label(app):
    app.image.value = 2
    assert app.label.value == int(np.argmax(app.probabilities[2]))
    assert len(app.label.options) == 10


def test_changing_label_opacity_and_scale_redraws(app):
    for control, value in ((app.label, app.label.options[-1][1]), (app.opacity, 0.2), (app.scale, "raw")):
        before = app.view.value
        control.value = value
        assert app.view.value != before, control.description


def test_summary_marks_hits_false_alarms_and_misses():
    truth = np.zeros(10)
    truth[[1, 8]] = 1
    probabilities = np.full(10, 0.1)
    probabilities[[1, 3]] = 0.9
    text = explorer.verdict(truth, probabilities)
    assert "&#10003; Trouser 0.90" in text and "Dress 0.90 (not present)" in text and "Bag 0.10 (missed)" in text
