"""The CAM explorer builds and reacts to its controls without a browser."""

from __future__ import annotations

import base64
import io
import re

import keras
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from PIL import Image

from helpers import cam, explorer, gradcam, localisation, plots
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
    return app.figures[app.drawn]["ax"].images[0].get_array()


def app_matching(app, show: str) -> np.ndarray:
    return explorer.matching_images(
        app.composites.labels, app.probabilities, show, misses=app.misses
    )


def drawn(app) -> dict:
    """The parts of the figure drawn last."""
    return app.figures[app.drawn]


def test_explorer_renders_a_lossless_webp_at_twice_the_width_it_shows(app):
    shown = Image.open(io.BytesIO(app.view.value))
    assert shown.format == "WEBP"
    assert shown.width == 2 * int(app.view.layout.width.removesuffix("px"))


def test_going_to_an_image_by_number_changes_the_figure(app):
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
    bundle, metadata = app._repr_mimebundle_()
    assert metadata == {"image/png": {"width": 800}}  # half its pixels: crisp on dense screens
    assert (
        bundle["text/plain"] == "CAM explorer: run this notebook in JupyterLab to use its controls"
    )
    stored, shown = (
        Image.open(io.BytesIO(data))
        for data in (base64.b64decode(bundle["image/png"]), app.view.value)
    )
    assert stored.format == "PNG"
    assert np.array_equal(np.asarray(stored), np.asarray(shown.convert("RGB")))  # both lossless
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == app.model_id


def test_every_display_control_redraws(app):
    changes = (
        (app.label, app.label.options[-1][1]),
        (app.opacity, 0.2),
        (app.scale, "raw"),
        (app.method, "Grad-CAM"),
        (app.boxes, False),
        (app.mode, "Figure 2"),
        (app.pick, "true labels"),
    )
    for control, value in changes:
        before = app.view.value
        control.value = value
        assert app.view.value != before, control.description
    app.mode.value, app.method.value, app.scale.value = "one label", "CAM", "per image"
    app.boxes.value, app.pick.value = True, "top 3 by logit"


def test_summary_marks_hits_false_alarms_and_misses():
    truth = np.zeros(10)
    truth[[1, 8]] = 1
    probabilities = np.full(10, 0.1)
    probabilities[[1, 3]] = 0.9
    text = explorer.verdict(truth, probabilities)
    assert (
        "&#10003; Trouser 0.900" in text
        and "Dress 0.900 (false alarm)" in text
        and "Bag 0.100 (missed)" in text
    )
    colours = {  # one meaning per colour: the bars' outcome colours
        name: to_hex(plots.OUTCOMES[outcome])
        for name, outcome in (
            ("Trouser", "true, predicted"),
            ("Dress", "false alarm"),
            ("Bag", "true, missed"),
        )
    }
    for name, colour in colours.items():
        assert re.search(f"<span style='color:{colour}'>[^<]*{name}", text), name
    assert len(set(colours.values())) == 3
    logits = np.zeros(10)
    logits[[1, 3, 8]] = 2.0, 9.0, -3.0  # the Dress first, then the Trouser: by logit
    listed = re.findall(
        r"&#1000[37]; ([\w/-]+)", explorer.verdict(truth, probabilities, logits=logits)
    )
    assert listed == ["Dress", "Trouser", "Bag"]


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
    app.image.value = 0
    wrong = explorer.matching_images(app.composites.labels, app.probabilities, "wrong label sets")
    assert len(wrong) > 1
    app.show.value = "wrong label sets"
    assert app.count.value == f"{len(wrong)} of 6 images"
    assert app.position.max == len(wrong) and app.index == wrong[0] and app.position.value == 1
    before = app.view.value
    app.position.value = 2
    assert app.index == app.image.value == wrong[1] and app.view.value != before
    assert drawn(app)["ax"].get_title().startswith(f"image {wrong[1]}\n")
    app.show.value = "all"  # keeps the image shown, now at its place among all
    assert app.position.max == 6 and app.index == wrong[1] and app.position.value == wrong[1] + 1


def test_going_to_a_number_the_filter_leaves_out_shows_it_under_all(app):
    show, wrong = next(
        (name, found)
        for name in explorer.FILTERS[1:]
        if 0 < len(found := app_matching(app, name)) < 6
    )
    outside = next(i for i in range(6) if i not in wrong)
    app.show.value = show
    app.image.value = int(wrong[-1])  # inside the filter: its position there
    assert app.show.value == show and app.position.value == len(wrong)
    app.image.value = outside
    assert app.show.value == "all" and app.index == outside and app.position.value == outside + 1
    assert app.summary.value.startswith(f"<b>image {outside}.</b>")


def test_an_empty_filter_keeps_the_image_and_says_so(app):
    shown = app.index
    empty = next(name for name in explorer.FILTERS if not len(app_matching(app, name)))
    app.show.value = empty
    assert app.count.value == "0 of 6 images" and app.index == shown and app.position.disabled
    app.image.value = (shown + 1) % 6  # a number under an empty filter: shown under "all"
    assert app.show.value == "all" and app.index == (shown + 1) % 6 and not app.position.disabled
    assert app.position.value == app.index + 1


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
    assert " at " + app.layer.options[0] in drawn(app)["ax"].get_title()
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
            app.label.value == 3 and " of Dress:" in drawn(app)["ax"].get_title()
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
            for tick in drawn(app)["bars"].get_yticklabels()
            if tick.get_fontweight() == "bold"
        }
        assert bold == {"Shirt", "T-shirt/top", "Sneaker"}  # the other Shirt is still there
        app.covers[1].value = True  # the T-shirt/top
        bold = {
            tick.get_text()
            for tick in drawn(app)["bars"].get_yticklabels()
            if tick.get_fontweight() == "bold"
        }
        assert bold == {"Shirt", "Sneaker"} and not re.search(
            r"T-shirt/top [\d.]+ \(missed\)", app.summary.value
        )
        assert "covered slots 1, 2\n" in drawn(app)["ax"].get_title()
        assert drawn(app)["bars"].get_title() == "probabilities, before \u2192 after covering"
        assert all("\u2192" in text.get_text() for text in drawn(app)["bars"].texts)
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


def test_the_figure_2_view_maps_the_labels_it_is_asked_for_over_the_covered_canvas(app):
    app.image.value = 2
    app.mode.value = "Figure 2"
    app.covers[0].value = True
    try:
        parts = drawn(app)
        canvas = parts["ax"].images[0].get_array().data
        order = plots.ranking(app.logits(canvas))

        def mapped():
            return [
                ax.get_title().split(" of ")[1].split(":")[0]
                for ax in parts["heat_axes"]
                if ax.get_visible()
            ]

        assert mapped() == [explorer.CLASS_NAMES[c] for c in order[:3]]
        canvases = [
            ax.images[0].get_array()
            for ax in (parts["ax"], *parts["heat_axes"])
            if ax.get_visible()
        ]
        assert (
            all(np.array_equal(c, canvases[0]) for c in canvases) and canvases[0][:, :32].max() == 0
        )
        assert parts["ax"].get_title().startswith("image 2, covered slot 1\ntrue labels:")
        truth = app.shown()[0].labels
        app.pick.value = "true labels"
        assert mapped() == [explorer.CLASS_NAMES[c] for c in order if truth[c]]
        app.pick.value = "label and neighbours"
        assert not app.label.disabled
        app.label.value = int(order[-1])  # the least sure label, with the two above it
        assert mapped() == [explorer.CLASS_NAMES[c] for c in order[-3:]]
    finally:
        app.pick.value, app.mode.value = "top 3 by logit", "one label"
        app.covers[0].value = False


def test_figure2_labels_picks_by_logit():
    order = np.array([3, 1, 4, 0, 5, 9, 2, 6, 8, 7])
    truth = np.zeros(10, int)
    truth[[9, 1]] = 1
    assert explorer.figure2_labels(order, truth, 0, "top 3 by logit") == [3, 1, 4]
    assert explorer.figure2_labels(order, truth, 0, "true labels") == [1, 9]
    assert explorer.figure2_labels(order, truth, 0, "label and neighbours") == [4, 0, 5]
    assert explorer.figure2_labels(order, truth, 3, "label and neighbours") == [3, 1, 4]
    assert explorer.figure2_labels(order, truth, 7, "label and neighbours") == [6, 8, 7]
    with pytest.raises(ValueError, match="pick must be one of"):
        explorer.figure2_labels(order, truth, 0, "top 5")


def test_the_boxes_drawn_are_the_composites_boxes_and_the_mapped_class_is_solid(app):
    app.image.value = 3
    one = app.composites.take([3])
    artists = drawn(app)["boxes"][drawn(app)["ax"]]
    shown = [(box, name) for box, name in artists if box.get_visible()]
    present = one.items[0] != EMPTY
    assert len(shown) == present.sum()
    for (box, name), c, (x0, y0, x1, y1) in zip(
        shown, one.items[0][present], one.boxes[0][present], strict=True
    ):
        assert box.get_bbox().bounds == (x0 - 0.5, y0 - 0.5, x1 - x0, y1 - y0)
        assert name.get_text() == explorer.CLASS_NAMES[c]
        assert (box.get_linestyle() == "-") == (c == app.label.value)
    app.boxes.value = False
    assert not any(box.get_visible() or name.get_text() for box, name in artists)
    app.boxes.value = True


def test_the_scores_shown_are_localisations_for_the_same_map(app):
    app.image.value = 1
    one = app.composites.take([1])
    maps = cam.class_activation_maps(app.model, one.images).maps  # upsampled to the canvas
    expected = localisation.peak_and_energy_scores(maps, one.items, one.boxes)["per_label"]
    for c, hit, share in zip(
        expected["class"].cat.codes,
        expected["pointing_game"],
        expected["energy_share"],
        strict=True,
    ):
        app.label.value = int(c)
        words = f"pointing game: {'hit' if hit else 'miss'}, energy share {share:.2f}"
        assert words in drawn(app)["ax"].get_title() and words in app.summary.value
    absent = next(c for c in range(10) if not one.labels[0, c])
    app.label.value = absent
    assert "on the canvas: no box to score against" in drawn(app)["ax"].get_title()


def test_maps_off_their_product_match_a_hand_count(app):
    maps = cam.class_activation_maps(app.model, app.composites.images).maps
    hand = np.zeros((6, 10), bool)
    for i in range(6):
        for c in np.flatnonzero(app.composites.labels[i]):
            y, x = np.unravel_index(maps[i, ..., c].argmax(), maps.shape[1:3])
            inside = [
                x0 <= x < x1 and y0 <= y < y1
                for k, (x0, y0, x1, y1) in zip(
                    app.composites.items[i], app.composites.boxes[i], strict=True
                )
                if k == c
            ]
            hand[i, c] = not any(inside)
    assert np.array_equal(app.misses, hand)
    expected = np.flatnonzero(hand.any(axis=1))
    assert (
        explorer.matching_images(
            app.composites.labels, app.probabilities, explorer.OFF_PRODUCT, misses=hand
        ).tolist()
        == expected.tolist()
    )
    with pytest.raises(ValueError, match="needs misses of shape"):
        explorer.matching_images(app.composites.labels, app.probabilities, explorer.OFF_PRODUCT)
    app.show.value = explorer.OFF_PRODUCT
    assert app.count.value == f"{len(expected)} of 6 images, {hand.sum()} labels"
    assert len(expected) > 0
    assert app.index in expected and hand[app.index, app.label.value]
    app.show.value = "all"


def test_covers_belong_to_a_canvas(app):
    app.image.value = 1
    app.covers[2].value = True
    assert "covered slot 3" in app.summary.value
    app.image.value = 2  # another test image: no cover left
    assert not any(b.value for b in app.covers) and "covered" not in app.summary.value
    app.source.value = "composed"
    try:
        app.covers[0].value = True
        app.slot_products[1].value = 7  # another composition: no cover left
        assert not any(b.value for b in app.covers) and "covered" not in app.summary.value
        app.covers[1].value = True
        assert app.drawn == "before and after"
        before, after = drawn(app)["heat_axes"]
        assert before.images[0].get_array()[:, 32:64].max() > 0
        assert after.images[0].get_array()[:, 32:64].max() == 0
        assert before.get_title().startswith("composed (before covering)\n")
    finally:
        app.covers[1].value = False
        app.slot_products[1].value = 0
        app.source.value = "test split"


def test_the_label_menu_gives_p_to_three_decimals_and_the_logit(app):
    app.image.value = 0
    logits = app.logits(app.composites.images[0])
    text, c = app.label.options[0]
    assert c == int(np.argmax(logits))
    assert text == (
        f"{explorer.CLASS_NAMES[c]} (p {app.probabilities[0, c]:.3f}, logit {logits[c]:.1f})"
    )


def test_every_control_has_a_one_line_tooltip_and_four_rows_hold_them(app):
    controls = [
        app.source, app.show, app.image, app.position, *app.slot_classes, *app.slot_products,
        app.seed, *app.covers, app.boxes, app.method, app.layer, app.scale, app.mode, app.pick,
        app.label, app.opacity,
    ]  # fmt: skip
    for control in controls:
        assert control.tooltip and "\n" not in control.tooltip, control.description
    assert len(app.rows) == 4 and app.children[4:] == (app.summary, app.view)


def full_draw(figure) -> np.ndarray:
    """The figure drawn whole, every artist at once, as a fresh canvas would."""
    animated, blitting = [a for a in figure.findobj() if a.get_animated()], figure.canvas
    for artist in animated:
        artist.set_animated(False)
    try:
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).copy()
    finally:
        for artist in animated:
            artist.set_animated(True)
        figure.set_canvas(blitting)


def test_the_blitted_picture_is_the_figure_drawn_whole(app):
    app.image.value = 1
    try:
        for control, value in (
            (app.scale, "raw"),
            (app.opacity, 0.3),
            (app.scale, "per image"),
            (app.boxes, False),
            (app.mode, "Figure 2"),
            (app.pick, "true labels"),
            (app.covers[0], True),
        ):
            control.value = value
            parts = drawn(app)
            shown = np.asarray(Image.open(io.BytesIO(app.view.value)).convert("RGBA"))
            assert np.array_equal(shown, full_draw(parts["figure"])), control.description
    finally:
        app.covers[0].value = False
        app.mode.value, app.pick.value, app.boxes.value = "one label", "top 3 by logit", True
        app.opacity.value, app.scale.value = 0.6, "per image"


def test_maps_before_and_after_covering_share_one_scale(app):
    app.image.value = 2
    app.covers[0].value = True
    try:
        canvas, before = app.shown()
        c = app.label.value
        raw = [
            cam.upsample(app.maps(x.image).maps[None], x.image.shape)[0] for x in (before, canvas)
        ]
        joint = cam.normalize_maps(np.concatenate(raw, axis=1)[None], "per_image")[0]
        heats = drawn(app)["heats"]
        np.testing.assert_allclose(heats[0].get_array(), joint[:, :128, c], atol=1e-6)
        np.testing.assert_allclose(heats[1].get_array(), joint[:, 128:, c], atol=1e-6)
    finally:
        app.covers[0].value = False
