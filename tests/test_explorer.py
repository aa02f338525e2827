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


def test_matching_images_selects_mistakes_against_a_hand_count():
    truth = np.zeros((4, 10), int)
    truth[:, 6] = 1                      # every image holds a Shirt
    probabilities = np.full((4, 10), 0.1)
    probabilities[[0, 2], 6] = 0.9       # found in images 0 and 2, missed in 1 and 3
    probabilities[3, 0] = 0.8            # image 3 also names a T-shirt/top it lacks
    assert explorer.matching_images(truth, probabilities, "all").tolist() == [0, 1, 2, 3]
    assert explorer.matching_images(truth, probabilities, "wrong label sets").tolist() == [1, 3]
    assert explorer.matching_images(truth, probabilities, "missed: Shirt").tolist() == [1, 3]
    assert explorer.matching_images(truth, probabilities, "false alarm: T-shirt/top").tolist() == [3]
    assert explorer.matching_images(truth, probabilities, "false alarm: Shirt").tolist() == []
    with pytest.raises(ValueError, match="show must be one of"):
        explorer.matching_images(truth, probabilities, "missed: Hat")


def test_the_filter_sets_the_count_and_the_slider_moves_within_it(app):
    wrong = explorer.matching_images(app.composites.labels, app.probabilities, "wrong label sets")
    app.show.value = "wrong label sets"
    assert app.count.value == f"{len(wrong)} of 6 images"
    assert app.image.max == len(wrong) - 1 and app.index == wrong[0]
    if len(wrong) > 1:
        before = app.view.value
        app.image.value = 1
        assert app.index == wrong[1] and app.view.value != before
        assert app.artists["ax"].get_title().startswith(f"image {wrong[1]}:")
    app.show.value = "all"
    assert app.image.max == 5 and app.index == 0


def test_an_empty_filter_keeps_the_image_and_says_so(app):
    shown = app.index
    empty = next(name for name in explorer.FILTERS if not len(explorer.matching_images(app.composites.labels, app.probabilities, name)))
    app.show.value = empty
    assert app.count.value == "0 of 6 images" and app.index == shown
    app.show.value = "all"
