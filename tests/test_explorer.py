"""The CAM explorer builds and reacts to its controls without a browser."""

from __future__ import annotations

import base64
import re

import keras
import numpy as np
import pytest

from helpers import cam, explorer, gradcam
from helpers.composite import EMPTY
from helpers.model import build_gap_cnn


@pytest.fixture(scope="module")
def network():
    keras.utils.set_random_seed(
        0
    )  # module fixtures come before the autouse seeding: the same weights every run
    return build_gap_cnn(((8,),), last_filters=8)


@pytest.fixture(scope="module")
def app(network, splits):
    return explorer.explore(network, splits["test"].take(range(6)))


def canvas_shown(app) -> np.ndarray:
    return app.figures[app.mode.value]["ax"].images[0].get_array()


def test_explorer_renders_a_png(app):
    assert app.view.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_moving_the_image_slider_changes_the_figure(app):
    before = app.view.value
    app.image.value = 3
    assert app.view.value != before
    assert canvas_shown(app).tolist() == app.composites.images[3].tolist()


def test_new_image_selects_the_label_with_the_highest_logit_and_lists_them_by_logit(app):
    app.image.value = 2
    logits = app.logits(app.composites.images[2])
    np.testing.assert_allclose(
        logits, cam.logits(app.model, app.composites.images[[2]])[0], atol=1e-4
    )
    assert app.label.value == int(np.argmax(logits))
    assert [c for _, c in app.label.options] == list(np.argsort(-logits))


def test_a_page_without_widgets_shows_a_picture_and_one_line(app):
    bundle = app._repr_mimebundle_()
    assert (
        bundle["text/plain"] == "CAM explorer: run this notebook in JupyterLab to use its controls"
    )
    assert base64.b64decode(bundle["image/png"]) == app.view.value
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == app.model_id


def test_every_display_control_redraws(app):
    changes = (
        (app.label, app.label.options[-1][1]),
        (app.opacity, 0.2),
        (app.scale, "raw"),
        (app.method, "Grad-CAM"),
        (app.mode, "Figure 2"),
    )
    for control, value in changes:
        before = app.view.value
        control.value = value
        assert app.view.value != before, control.description
    app.mode.value, app.method.value, app.scale.value = "one label", "CAM", "per image"


def test_summary_marks_hits_false_alarms_and_misses():
    truth = np.zeros(10)
    truth[[1, 8]] = 1
    probabilities = np.full(10, 0.1)
    probabilities[[1, 3]] = 0.9
    text = explorer.verdict(truth, probabilities)
    assert (
        "&#10003; Trouser 0.90" in text
        and "Dress 0.90 (not present)" in text
        and "Bag 0.10 (missed)" in text
    )


def test_matching_images_selects_mistakes_against_a_hand_count():
    truth = np.zeros((4, 10), int)
    truth[:, 6] = 1  # every image holds a Shirt
    probabilities = np.full((4, 10), 0.1)
    probabilities[[0, 2], 6] = 0.9  # found in images 0 and 2, missed in 1 and 3
    probabilities[3, 0] = 0.8  # image 3 also names a T-shirt/top it lacks
    assert explorer.matching_images(truth, probabilities, "all").tolist() == [0, 1, 2, 3]
    assert explorer.matching_images(truth, probabilities, "wrong label sets").tolist() == [1, 3]
    assert explorer.matching_images(truth, probabilities, "missed: Shirt").tolist() == [1, 3]
    assert explorer.matching_images(truth, probabilities, "false alarm: T-shirt/top").tolist() == [
        3
    ]
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
        assert app.figures["one label"]["ax"].get_title().startswith(f"image {wrong[1]}\n")
    app.show.value = "all"
    assert app.image.max == 5 and app.index == 0


def test_an_empty_filter_keeps_the_image_and_says_so(app):
    shown = app.index
    empty = next(
        name
        for name in explorer.FILTERS
        if not len(explorer.matching_images(app.composites.labels, app.probabilities, name))
    )
    app.show.value = empty
    assert app.count.value == "0 of 6 images" and app.index == shown
    app.show.value = "all"


def test_a_composition_is_reproducible_and_made_of_the_named_test_products(fashion_data):
    test_images, test_classes = fashion_data[1]
    composition = explorer.Composition((6, 0, EMPTY, 8), (12, 3, 0, 40), seed=5)
    built = composition.build(test_images, test_classes)
    assert built.images.tobytes() == composition.build(test_images, test_classes).images.tobytes()
    assert built.items[0].tolist() == [6, 0, EMPTY, 8] and np.flatnonzero(
        built.labels[0]
    ).tolist() == [0, 6, 8]
    assert (
        built.source_split == "test" and built.images[0, :, 64:96].max() == 0
    )  # the empty slot stays dark
    for slot, (c, k) in enumerate(zip(composition.classes, composition.products, strict=True)):
        if c == EMPTY:
            continue
        source = np.flatnonzero(test_classes == c)[k]
        x0, y0, x1, y1 = built.boxes[0, slot]
        assert built.sources[0, slot] == source and x0 // 32 == slot
        assert np.array_equal(built.images[0, y0:y1, x0:x1], test_images[source])
    moved = explorer.Composition(composition.classes, composition.products, seed=6).build(
        test_images, test_classes
    )
    assert (
        not np.array_equal(moved.boxes, built.boxes)
        and composition.name() == "Shirt #12 | T-shirt/top #3 | empty | Bag #40 (seed 5)"
    )


@pytest.mark.parametrize(
    ("classes", "products", "seed", "message"),
    [
        ((10,), (0,), 0, "classes must be"),
        ((0,), (1000,), 0, "products must be"),
        ((0, 1), (0,), 0, "1 to 4 slots"),
        ((0,), (0,), -1, "seed must be"),
    ],
)
def test_a_bad_composition_names_what_is_wrong(fashion_data, classes, products, seed, message):
    with pytest.raises(ValueError, match=message):
        explorer.Composition(classes, products, seed).build(*fashion_data[1])


def test_cam_maps_are_the_ones_of_helpers_cam(network, splits):
    images = splits["test"].images[:3]
    reference = cam.class_activation_maps(network, images, upsampled=False)
    mine = explorer.class_maps(network, images, "CAM")
    assert np.array_equal(mine.maps, reference.maps) and np.array_equal(
        mine.probabilities, reference.probabilities
    )
    with pytest.raises(ValueError, match="CAM is defined at 'last_conv' only"):
        explorer.class_maps(network, images, "CAM", layer="block1_relu1")


@pytest.mark.parametrize("method", ["Grad-CAM", "Grad-CAM++"])
@pytest.mark.parametrize("layer", ["last_conv", "block1_relu1"])
def test_grad_cam_maps_are_the_ones_of_helpers_gradcam_for_every_class(
    network, splits, method, layer
):
    images = splits["test"].images[:3]
    mine = explorer.class_maps(network, images, method, layer)
    expected = gradcam.grad_cam(
        network,
        images,
        "all",
        layer=layer,
        method=explorer.METHODS[method],
        normalize="none",
        upsampled=False,
    )
    assert mine.maps.shape == expected.maps.shape and np.allclose(
        mine.maps, expected.maps, atol=1e-6
    )
    np.testing.assert_allclose(
        mine.probabilities, cam.class_activation_maps(network, images).probabilities, atol=1e-5
    )


def test_switching_the_method_calls_grad_cam_with_that_method(app, monkeypatch):
    calls = []
    original = gradcam.grad_cam
    monkeypatch.setattr(
        gradcam,
        "grad_cam",
        lambda *args, **kwargs: calls.append(kwargs) or original(*args, **kwargs),
    )
    app.image.value = 4
    app.method.value = "Grad-CAM++"
    app.layer.value = app.layer.options[0]
    assert [(c["method"], c["layer"]) for c in calls] == [
        ("grad_cam_pp", "last_conv"),
        ("grad_cam_pp", app.layer.options[0]),
    ]
    assert " at " + app.layer.options[0] in app.figures["one label"]["ax"].get_title()
    app.method.value, app.layer.value = "CAM", "last_conv"


def test_composing_shows_the_composition_and_its_verdict(app):
    app.source.value = "composed"
    try:
        expected = app.composition.build(*app.test_fashion)
        assert canvas_shown(app).tolist() == expected.images[0].tolist()
        assert app.browse.layout.display == "none" and app.compose.layout.display is None
        before, summary = app.view.value, app.summary.value
        app.slot_classes[2].value = 3  # a Dress in slot 3
        assert (
            app.view.value != before
            and "Dress" in app.summary.value
            and app.summary.value != summary
        )
        assert (
            app.label.value == 3 and " of Dress," in app.figures["one label"]["ax"].get_title()
        )  # the new product's map
        assert (
            canvas_shown(app).tolist()
            == app.composition.build(*app.test_fashion).images[0].tolist()
        )
        assert "Dress #0" in app.name.value
        app.slot_products[3].value = 5
        app.slot_classes[3].value = EMPTY  # a product number left on an empty slot is ignored
        assert canvas_shown(app)[:, 96:].max() == 0 and "empty (seed 0)" in app.name.value
    finally:
        app.slot_classes[2].value, app.slot_classes[3].value, app.slot_products[3].value = 7, 8, 0
        app.source.value = "test split"


def test_per_image_keeps_classes_comparable_and_per_map_stretches_each(app):
    small = app.maps(app.composites.images[app.index]).maps
    app.label.value = int(
        np.argmin(small.max(axis=(0, 1)))
    )  # the class whose map is dimmest on this image
    heat = app.figures["one label"]["heats"][0]
    per_image = heat.get_clim()
    app.scale.value = "per map"
    assert heat.get_clim() == (0.0, 1.0) and per_image == (
        0.0,
        1.0,
    )  # per image: the image's scale, over all ten maps
    assert heat.get_array().max() == pytest.approx(1.0) and heat.get_array().max() > 0
    app.scale.value = "per image"
    assert heat.get_array().max() < 1.0  # not the image's brightest map


def test_covering_a_slot_changes_the_canvas_there_only_and_drops_its_label(app):
    app.source.value = "composed"
    try:
        app.slot_classes[3].value = 6  # a second Shirt, in slot 4
        uncovered = canvas_shown(app).copy()
        app.covers[0].value = True  # the first Shirt
        covered = canvas_shown(app)
        changed = np.flatnonzero((covered != uncovered).any(axis=0))
        assert (
            changed.size
            and changed.min() >= 0
            and changed.max() < 32
            and covered[:, :32].max() == 0
        )
        bold = {
            tick.get_text()
            for tick in app.figures["one label"]["bars"].get_yticklabels()
            if tick.get_fontweight() == "bold"
        }
        assert bold == {"Shirt", "T-shirt/top", "Sneaker"}  # the other Shirt is still there
        app.covers[1].value = True  # the T-shirt/top
        bold = {
            tick.get_text()
            for tick in app.figures["one label"]["bars"].get_yticklabels()
            if tick.get_fontweight() == "bold"
        }
        assert bold == {"Shirt", "Sneaker"} and not re.search(
            r"T-shirt/top [\d.]+ \(missed\)", app.summary.value
        )
        assert "covered slot 1 and slot 2" in app.figures["one label"]["ax"].get_title()
        assert (
            app.figures["one label"]["bars"].get_title()
            == "probabilities, before \u2192 after covering"
        )
        assert all("\u2192" in text.get_text() for text in app.figures["one label"]["bars"].texts)
    finally:
        app.covers[0].value = app.covers[1].value = False
        app.slot_classes[3].value = 8
        app.source.value = "test split"


def test_nothing_is_computed_twice(app, monkeypatch):
    calls = []
    original = explorer.class_maps
    monkeypatch.setattr(
        explorer, "class_maps", lambda *args: calls.append(args[2:]) or original(*args)
    )
    for index in (1, 2, 1, 2):  # test composites: their CAMs were computed up front
        app.image.value = index
    assert calls == []
    app.source.value = "composed"
    try:
        calls.clear()
        for product in (905, 906, 905, 906):
            app.slot_products[0].value = product
        assert len(calls) == 2  # one forward pass per new canvas
        for method in ("Grad-CAM", "CAM", "Grad-CAM"):
            app.method.value = method
        assert calls[2:] == [("Grad-CAM", "last_conv")]
    finally:
        app.method.value, app.source.value, app.slot_products[0].value = "CAM", "test split", 0


def test_a_picture_of_other_settings_leaves_every_control_as_it_was(app):
    app.show.value = "all"
    app.image.value = 4
    app.label.value = app.label.options[3][1]  # not the top label
    app.method.value = "Grad-CAM"
    state = {name: getattr(app, name).value for name in explorer.STATE}
    shown, summary = app.view.value, app.summary.value
    text, png = app.picture(
        covers=(1,), source="composed", mode="Figure 2", show="wrong label sets", image=0
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png != shown and text != summary
    assert {name: getattr(app, name).value for name in explorer.STATE} == state and not any(
        b.value for b in app.covers
    )
    assert app.view.value == shown and app.summary.value == summary
    composed = explorer.Composition((0, EMPTY, EMPTY, 0), (7, 0, 0, 8))
    text, _ = app.picture(source="composed", composition=composed)
    assert "T-shirt/top" in text and app.composition.classes == (6, 0, 7, 8)
    with pytest.raises(ValueError, match="picture\\(\\) sets the controls"):
        app.picture(slot_classes=[0])
    with pytest.raises(ValueError, match="covers must hold indices from 0 to 3"):
        app.picture(covers=(4,))
    app.method.value = "CAM"


def test_a_picture_refuses_settings_its_controls_cannot_take_and_restores_an_empty_filter(app):
    empty = next(
        name
        for name in explorer.FILTERS
        if not len(explorer.matching_images(app.composites.labels, app.probabilities, name))
    )
    app.show.value, app.image.value = "all", 4
    app.show.value = empty  # keeps image 4, says 0 of 6
    shown = app.view.value
    app.picture(show="wrong label sets")
    assert (
        app.show.value == empty
        and app.index == 4
        and app.image.max == 5
        and app.view.value == shown
    )
    for bad in ({"image": 100}, {"opacity": 3.0}):
        with pytest.raises(ValueError, match="outside its control's range"):
            app.picture(show="all", **bad)
    with pytest.raises(ValueError, match="outside its control's range"):
        app.picture(source="composed", composition=explorer.Composition((0,), (4,)))
    assert app.index == 4 and app.view.value == shown
    app.show.value = "all"


def test_the_figure_2_view_draws_the_top_three_labels_over_the_canvas(app):
    app.image.value = 2
    text, _ = app.picture(mode="Figure 2", covers=(0,))
    parts = app.figures["Figure 2"]
    top = np.argsort(-app.logits(parts["ax"].images[0].get_array().data))[:3]
    assert [ax.get_title().split(" of ")[1].split(",")[0] for ax in parts["heat_axes"]] == [
        explorer.CLASS_NAMES[c] for c in top
    ]
    canvases = [ax.images[0].get_array() for ax in (parts["ax"], *parts["heat_axes"])]
    assert (
        all(np.array_equal(c, canvases[0]) for c in canvases) and canvases[0][:, :32].max() == 0
    )  # slot 1 covered everywhere
    assert parts["ax"].get_title().startswith("image 2, covered slot 1\ntrue labels:")
