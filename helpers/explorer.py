"""An ipywidgets explorer of class activation maps: browse the test composites, compose and cover your own.

The pure pieces (:func:`verdict`, :func:`matching_images`, :func:`peak_misses`,
:func:`figure2_labels`, :func:`label_scores`, :class:`Composition`, :func:`class_maps`) are tested
on their own; :class:`Explorer` wires them to controls. Each canvas's maps are computed once per
method and layer and kept (the last 256); the scores of a map are :mod:`helpers.localisation`'s. A
redraw updates the artists of one of four figures laid out once
(:func:`helpers.plots.explorer_figure`), draws those over the rest (:class:`helpers.plots.Blitted`)
and encodes the picture at twice the pixels it shows at.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import ipywidgets as widgets
import keras
import numpy as np
from matplotlib.colors import to_hex
from PIL import Image
from threadpoolctl import ThreadpoolController

from helpers import cam, fashion, gradcam, localisation, plots
from helpers._checks import check_choice, check_scalar
from helpers.composite import (
    DEFAULT_ITEMS,
    DEFAULT_SLOT,
    EMPTY,
    PRODUCT,
    Composites,
    blank_slots,
    place,
)
from helpers.fashion import CLASS_NAMES, NUM_CLASSES
from helpers.model import LAST_CONV, dense_head

SCALES = {"per image": "per_image", "per map": "per_map", "raw": "none"}
OFF_PRODUCT = "CAM maps off their product"
FILTERS = (
    "all",
    "wrong label sets",
    OFF_PRODUCT,
    *(f"missed: {name}" for name in CLASS_NAMES),
    *(f"false alarm: {name}" for name in CLASS_NAMES),
)
METHODS = {"CAM": "cam", "Grad-CAM": "grad_cam", "Grad-CAM++": "grad_cam_pp"}
SOURCES = ("test split", "composed")
VIEWS = ("one label", "Figure 2")
FIGURE2_LABELS = ("top 3 by logit", "true labels", "label and neighbours")
MAPS_SHOWN = DEFAULT_ITEMS  # map axes of the Figure 2 view: as many as a canvas has true labels
CACHE_SIZE = 256  # computed canvases kept (at most ~40 MB at full resolution)
SHOWN_DPI = plots.EXPLORER_DPI // 2  # on the page, the figure shows at half its pixels: crisp


def verdict(
    true_labels: np.ndarray,
    probabilities: np.ndarray,
    threshold: float = 0.5,
    logits: np.ndarray | None = None,
) -> str:
    """Describe one image's true and predicted labels as HTML, each in its outcome's colour.

    The colours and words are those of the probability bars (:data:`helpers.plots.OUTCOMES`):
    hits, misses and false alarms; probabilities to three decimals, as several round to 1.00.
    Given ``logits``, the labels are listed by logit, most sure first (class order otherwise).
    """
    truth = np.asarray(true_labels, dtype=bool)
    named = plots.outcomes(probabilities, truth, threshold)
    order = range(NUM_CLASSES) if logits is None else plots.ranking(logits)
    marks = {"true, predicted": "&#10003;", "true, missed": "&#10007;", "false alarm": "&#10007;"}
    words = {"true, predicted": "", "true, missed": " (missed)", "false alarm": " (false alarm)"}
    parts = [
        f"<span style='color:{to_hex(plots.OUTCOMES[named[c]])}'>{marks[named[c]]} "
        f"{CLASS_NAMES[c]} {probabilities[c]:.3f}{words[named[c]]}</span>"
        for c in order
        if named[c] != "correctly absent"
    ]
    state = (
        "all right"
        if all(n in ("true, predicted", "correctly absent") for n in named)
        else "not all right"
    )
    return f"<b>Labels ({state}):</b> " + (", ".join(parts) or "none predicted, none present")


def peak_misses(
    maps: np.ndarray, items: np.ndarray, boxes: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Which true labels have a map whose peak lies off every product of their class: bool (N, 10).

    The pointing game of :func:`helpers.localisation.peak_and_energy_scores`, on
    ``maps`` (N, h, w, 10) upsampled to the canvas ``shape``, a hundred images at
    a time (about 16 MB each).
    """
    misses = np.zeros((len(maps), NUM_CLASSES), dtype=bool)
    for rows in np.array_split(np.arange(len(maps)), max(1, len(maps) // 100)):
        scored = localisation.peak_and_energy_scores(
            cam.upsample(maps[rows], shape), items[rows], boxes[rows]
        )["per_label"]
        missed = scored[~scored["pointing_game"]]
        misses[rows[missed["image"].to_numpy()], missed["class"].cat.codes.to_numpy()] = True
    return misses


def matching_images(
    true_labels: np.ndarray,
    probabilities: np.ndarray,
    show: str,
    threshold: float = 0.5,
    misses: np.ndarray | None = None,
) -> np.ndarray:
    """The indices of the images that ``show`` (one of :data:`FILTERS`) selects, in order.

    ``"wrong label sets"``: images whose predicted set differs from the true
    one; ``"maps off their product"``: images with a true label whose map
    peaks off every product of its class (``misses``, from :func:`peak_misses`);
    ``"missed: Shirt"``: images with a Shirt that is not predicted;
    ``"false alarm: Shirt"``: images predicted to hold a Shirt they lack.
    """
    check_choice(show, "show", FILTERS)
    truth, predicted = np.asarray(true_labels, dtype=bool), np.asarray(probabilities) >= threshold
    if show == "all":
        return np.arange(len(truth))
    if show == "wrong label sets":
        return np.flatnonzero((truth != predicted).any(axis=1))
    if show == OFF_PRODUCT:
        if misses is None or np.shape(misses) != truth.shape:
            raise ValueError(
                f"show={OFF_PRODUCT!r} needs misses of shape {truth.shape} (peak_misses); "
                f"got {None if misses is None else np.shape(misses)}"
            )
        return np.flatnonzero(np.asarray(misses).any(axis=1))
    kind, name = show.split(": ")
    c = CLASS_NAMES.index(name)
    return np.flatnonzero(
        truth[:, c] & ~predicted[:, c] if kind == "missed" else predicted[:, c] & ~truth[:, c]
    )


def figure2_labels(order: np.ndarray, true_labels: np.ndarray, label: int, pick: str) -> list[int]:
    """The labels whose maps the Figure 2 view draws, most sure first (``order``, from :func:`helpers.plots.ranking`).

    ``"top 3 by logit"``; ``"true labels"`` (none to four); ``"label and neighbours"``:
    ``label`` with the labels ranked just above and below it (three in all).
    """
    check_choice(pick, "pick", FIGURE2_LABELS)
    order = [int(c) for c in order]
    if pick == "top 3 by logit":
        return order[:3]
    if pick == "true labels":
        return [c for c in order if true_labels[c]]
    start = min(max(order.index(label) - 1, 0), len(order) - 3)
    return order[start : start + 3]


def label_scores(
    maps: np.ndarray, items: np.ndarray, boxes: np.ndarray
) -> dict[int, tuple[bool, float]]:
    """Pointing-game hit and energy share of each true label's map on one canvas, by :mod:`helpers.localisation`.

    ``maps`` (H, W, 10) at canvas size; ``items`` (S,) and ``boxes`` (S, 4) of that canvas.
    """
    scored = localisation.peak_and_energy_scores(maps[None], items[None], boxes[None])["per_label"]
    return {
        int(c): (bool(hit), float(share))
        for c, hit, share in zip(
            scored["class"].cat.codes, scored["pointing_game"], scored["energy_share"], strict=True
        )
    }


def score_text(scores: dict[int, tuple[bool, float]], label: int) -> str:
    """One label's scores from :func:`label_scores` in words."""
    if label not in scores:
        return f"no {CLASS_NAMES[label]} on the canvas: no box to score against"
    hit, share = scores[label]
    return f"pointing game: {'hit' if hit else 'miss'}, energy share {share:.2f}"


@dataclass(frozen=True)
class Canvas:
    """One canvas as the network gets it: the image, its labels, slots (covered ones empty), boxes, caption."""

    image: np.ndarray
    labels: np.ndarray
    items: np.ndarray
    boxes: np.ndarray
    caption: str


class Reading(NamedTuple):
    """What the explorer shows of one canvas: raw maps at canvas size (H, W, 10) of the method
    chosen, probabilities, logits, labels by logit, outcomes, scores of the true labels' maps."""

    canvas: Canvas
    maps: np.ndarray
    probabilities: np.ndarray
    logits: np.ndarray
    order: np.ndarray
    outcomes: list[str]
    scores: dict[int, tuple[bool, float]]


@dataclass(frozen=True)
class Composition:
    """A canvas to build from the Fashion-MNIST test split, named by its parts.

    Attributes
    ----------
    classes : tuple of int
        Class id per slot, :data:`~helpers.composite.EMPTY` (-1) for a dark slot.
    products : tuple of int
        Which product of that class: 0 is its first image in the test split
        (ignored for an empty slot).
    seed : int
        Draws each slot's offset, in the range :func:`helpers.composite.compose` draws from.
    """

    classes: tuple[int, ...]
    products: tuple[int, ...]
    seed: int = 0

    def name(self) -> str:
        """The composition as text, enough to build it again."""
        parts = (
            "empty" if c == EMPTY else f"{CLASS_NAMES[c]} #{k}"
            for c, k in zip(self.classes, self.products, strict=True)
        )
        return " | ".join(parts) + f" (seed {self.seed})"

    def build(self, test_images: np.ndarray, test_classes: np.ndarray) -> Composites:
        """Place the products with :func:`helpers.composite.place`; one composite, ``source_split="test"``."""
        check_scalar(self.seed, "seed", low=0)
        if len(self.classes) != len(self.products) or not 1 <= len(self.classes) <= DEFAULT_ITEMS:
            raise ValueError(
                f"classes and products must give 1 to {DEFAULT_ITEMS} slots alike; "
                f"got {len(self.classes)} and {len(self.products)}"
            )
        sources = []
        for c, k in zip(self.classes, self.products, strict=True):
            check_scalar(c, "classes", low=EMPTY, high=NUM_CLASSES - 1)
            of_class = np.flatnonzero(test_classes == c)
            sources.append(
                EMPTY
                if c == EMPTY
                else of_class[check_scalar(k, "products", low=0, high=len(of_class) - 1)]
            )
        offsets = np.random.default_rng(self.seed).integers(
            0, DEFAULT_SLOT - PRODUCT + 1, size=(1, len(sources), 2)
        )
        return place(test_images, test_classes, np.array([sources]), offsets, source_split="test")


def class_maps(
    model: keras.Model, images: np.ndarray, method: str = "CAM", layer: str = LAST_CONV
) -> cam.ClassMaps:
    """Raw maps of every class at ``layer``'s resolution, and the probabilities, with the functions notebook 05 uses.

    ``"CAM"`` is :func:`helpers.cam.class_activation_maps` (``last_conv`` only);
    ``"Grad-CAM"`` and ``"Grad-CAM++"`` are :func:`helpers.gradcam.grad_cam` at ``layer``.
    """
    check_choice(method, "method", tuple(METHODS))
    # checked before the copies below, so that an error names the images as given
    images = cam.check_images(model, images)
    if method == "CAM":
        if layer != LAST_CONV:
            raise ValueError(
                f"CAM is defined at {LAST_CONV!r} only; got layer {layer!r} (Grad-CAM takes any convolution)"
            )
        return cam.class_activation_maps(model, images, upsampled=False)
    # each canvas once per class, one target class per copy: one backward pass, not ten
    # (one canvas: 50 vs 91 ms at block1_relu1, 29 vs 17 at last_conv)
    copies, targets = (
        np.repeat(images, NUM_CLASSES, axis=0),
        np.tile(np.arange(NUM_CLASSES), len(images)),
    )
    result = gradcam.grad_cam(
        model,
        copies,
        targets,
        layer=layer,
        method=METHODS[method],
        normalize="none",
        upsampled=False,
    )
    maps = result.maps.reshape(len(images), NUM_CLASSES, *result.maps.shape[1:]).transpose(
        0, 2, 3, 1
    )
    return cam.ClassMaps(maps, result.probabilities[::NUM_CLASSES])


def _compact(
    control: widgets.Widget, width: str | None = None, tooltip: str = ""
) -> widgets.Widget:
    """Lay a control out on one line, its description as wide as its text, with a tooltip."""
    control.style.description_width = "initial"
    if isinstance(control, widgets.ToggleButtons):
        control.style.button_width = "auto"
    control.layout = widgets.Layout(display="flex", flex_flow="row", width=width or "auto")
    control.tooltip = tooltip
    return control


def _row(*children: widgets.Widget) -> widgets.HBox:
    return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap", align_items="center"))


class Explorer(widgets.VBox):
    """Controls over the test composites and over canvases the reader composes and covers.

    Parameters
    ----------
    model : keras.Model
        A GAP network (see :func:`helpers.cam.class_activation_maps`).
    composites : Composites
        The images to browse, usually the test split.
    test_fashion : (images, classes)
        The Fashion-MNIST test split, where composed products come from.
    threshold : float
        Probability from which a label counts as predicted.

    Attributes
    ----------
    source, show, image, position : where the canvas comes from ("test split" or "composed"),
        the filter (:data:`FILTERS`), the test image's number, its position among the filter's images
    slot_classes, slot_products, seed : per slot a class menu and a product number; the offsets' seed
    covers, boxes : per slot a cover button (cleared on every new canvas); the boxes on or off
    method, layer, scale : the maps
    mode, pick, label, opacity : the view ("one label" or "Figure 2"), Figure 2's labels
        (:data:`FIGURE2_LABELS`), the label mapped, the maps' opacity
    count, name, summary, view : HTML: the filter's count, the composition's name, the caption,
        verdict (:func:`verdict`) and scores (:func:`score_text`); the figure (lossless WebP)
    figures, drawn : the layouts of :data:`helpers.plots.EXPLORER_VIEWS`; the one drawn last
    """

    def __init__(
        self,
        model: keras.Model,
        composites: Composites,
        test_fashion: tuple[np.ndarray, np.ndarray],
        threshold: float = 0.5,
    ):
        self.model, self.composites, self.test_fashion = model, composites, test_fashion
        self.threshold = threshold
        self.computed: dict[
            tuple, cam.ClassMaps
        ] = {}  # (method, layer, canvas) -> maps, oldest first
        self.tested = class_maps(model, composites.images)  # every test composite's CAM, up front
        self.probabilities = self.tested.probabilities
        self.misses = peak_misses(
            self.tested.maps, composites.items, composites.boxes, composites.images.shape[1:]
        )
        self.bias = dense_head(model).get_weights()[1]
        self._blas = ThreadpoolController()
        self._test_rows = {image.tobytes(): row for row, image in enumerate(composites.images)}
        self.indices = np.arange(len(composites))  # the images the filter shows
        self._build_controls(int(np.bincount(test_fashion[1]).min()) - 1)
        for layer in self.layer.options:  # each layer's gradient traced once, up front (~0.3 s)
            class_maps(model, composites.images[:1], "Grad-CAM", layer)
        layers = [*self.layer.options]
        long_map = (
            f"Grad-CAM++ at {max(layers, key=len)} of T-shirt/top: p = 1.000, logit -88.8 (correctly absent)\n"
            "no T-shirt/top on the canvas: no box to score against"
        )
        self.figures = {
            view: plots.explorer_figure(
                view,
                composites.images.shape[1:],
                threshold,
                long_map
                if view.startswith("Figure 2")
                else f"image 999, covered slots 1, 2, 3, 4 (before covering)\n{long_map}",
                MAPS_SHOWN,
                DEFAULT_ITEMS,
            )
            for view in plots.EXPLORER_VIEWS
        }
        self._updating = False
        self._observe()
        super().__init__([*self.rows, self.summary, self.view])
        self._filter()
        self._on_image()

    def _build_controls(self, last_product: int) -> None:
        """The controls in four rows (image, covers, maps, view), each with a tooltip."""
        count = len(self.composites)
        self.source = _compact(
            widgets.Dropdown(options=SOURCES, description="from"),
            "130px",
            "browse the test split, or put a canvas together from test products",
        )
        self.show = _compact(
            widgets.Dropdown(options=FILTERS, description="show"),
            "230px",
            "only the test images with this kind of mistake (maps off their product: by CAM)",
        )
        self.image = _compact(
            widgets.BoundedIntText(0, min=0, max=count - 1, description="image"),
            "120px",
            f"the test image's number, 0 to {count - 1}: type one to go there",
        )
        self.position = _compact(
            widgets.IntSlider(1, 1, count, description="position", continuous_update=False),
            "210px",
            "move among the images the filter shows",
        )
        self.count = widgets.HTML()
        self.slot_classes = [
            _compact(
                widgets.Dropdown(
                    options=[("empty", EMPTY), *((name, c) for c, name in enumerate(CLASS_NAMES))],
                    value=c,
                    description=f"slot {s + 1}",
                ),
                "135px",
                f"the class in slot {s + 1}, or empty",
            )
            for s, c in enumerate((6, 0, 7, 8))
        ]
        self.slot_products = [
            _compact(
                widgets.BoundedIntText(0, min=0, max=last_product, description="#"),
                "56px",
                f"which test product of that class, 0 to {last_product}",
            )
            for _ in range(DEFAULT_ITEMS)
        ]
        self.seed = _compact(
            widgets.BoundedIntText(0, min=0, max=2**31 - 1, description="seed"),
            "110px",
            "draws where each product sits in its slot",
        )
        self.name = widgets.HTML()
        self.covers = [
            _compact(
                widgets.ToggleButton(description=f"cover {s + 1}"),
                "72px",
                f"blank slot {s + 1} to the background; a new canvas clears it",
            )
            for s in range(DEFAULT_ITEMS)
        ]
        self.boxes = _compact(
            widgets.Checkbox(True, description="boxes", indent=False),
            "80px",
            "outline the products and name them; the mapped label's boxes solid",
        )
        self.method = _compact(
            widgets.ToggleButtons(options=list(METHODS), description="method"),
            tooltip="CAM, or Grad-CAM and Grad-CAM++ at any layer (notebook 05)",
        )
        self.layer = _compact(
            widgets.Dropdown(
                options=self._layers(), value=LAST_CONV, description="layer", disabled=True
            ),
            "190px",
            "the convolution Grad-CAM reads; CAM is defined at last_conv only",
        )
        self.scale = _compact(
            widgets.Dropdown(options=list(SCALES), description="scale"),
            "150px",
            "per image: one 0-1 scale for all ten maps; per map: each its own; "
            "raw: the method's own values (a CAM's mean plus the bias is the logit)",
        )
        self.mode = _compact(
            widgets.ToggleButtons(options=VIEWS, description="view"),
            tooltip="one label's map, or the study's Figure 2 layout",
        )
        self.pick = _compact(
            widgets.Dropdown(options=FIGURE2_LABELS, description="maps"),
            "210px",
            "which labels Figure 2 maps",
        )
        self.label = _compact(
            widgets.Dropdown(
                options=[(name, c) for c, name in enumerate(CLASS_NAMES)], description="label"
            ),
            "300px",
            "the label mapped, highest logit first",
        )
        self.opacity = _compact(
            widgets.FloatSlider(
                0.6, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=False
            ),
            "190px",
            "how opaque the map is over the canvas",
        )
        self.summary = widgets.HTML()
        self.view = widgets.Image(format="webp", layout=widgets.Layout(max_width="100%"))
        self.browse = _row(self.show, self.image, self.position, self.count)
        self.compose = _row(
            *(_row(c, p) for c, p in zip(self.slot_classes, self.slot_products, strict=True))
        )
        self.rows = [
            _row(self.source, self.browse, self.compose),
            _row(*self.covers, self.boxes, self.seed, self.name),
            _row(self.method, self.layer, self.scale),
            _row(self.mode, self.pick, self.label, self.opacity),
        ]

    def _layers(self) -> list[str]:
        """Each block's output: the layers Grad-CAM can read."""
        table = gradcam.feature_layers(self.model)
        return list(table.query("type == 'ReLU' or layer == @LAST_CONV")["layer"])

    def _observe(self) -> None:
        """Wire each control to what it changes."""
        react = self._unless_updating
        self.show.observe(react(lambda: self._filter() and self._on_image()), "value")
        self.image.observe(react(self._go_to), "value")
        self.position.observe(react(self._on_position), "value")
        self.source.observe(react(self._on_image), "value")
        for menu in self.slot_classes:
            menu.observe(react(lambda menu=menu: self._on_canvas(menu.value)), "value")
        for control in (*self.slot_products, self.seed):
            control.observe(react(self._on_canvas), "value")
        redrawn = (*self.covers, self.boxes, self.method, self.layer, self.scale, self.mode)
        for control in (*redrawn, self.pick, self.label, self.opacity):
            control.observe(react(self.redraw), "value")

    @property
    def index(self) -> int:
        """The index (in ``composites``) of the test image shown."""
        return int(self.image.value)

    @property
    def composition(self) -> Composition:
        """The composition the slot controls describe."""
        return Composition(
            tuple(d.value for d in self.slot_classes),
            tuple(s.value for s in self.slot_products),
            self.seed.value,
        )

    def shown(self) -> tuple[Canvas, Canvas | None]:
        """The canvas as the network gets it (covered slots blanked and emptied), and the one before
        covering (None when nothing is covered)."""
        if self.source.value == "test split":
            one, caption = self.composites.take([self.index]), f"image {self.index}"
        else:
            one, caption = self.composition.build(*self.test_fashion), "composed"
        whole = Canvas(one.images[0], one.labels[0], one.items[0], one.boxes[0], caption)
        covered = [s for s, button in enumerate(self.covers) if button.value]
        if not covered:
            return whole, None
        items = whole.items.copy()
        items[covered] = EMPTY
        slots = ", ".join(str(s + 1) for s in covered)
        return (
            Canvas(
                blank_slots(whole.image, covered),
                np.isin(np.arange(NUM_CLASSES), items).astype(np.uint8),
                items,
                whole.boxes,
                f"{caption}, covered slot{'s' if len(covered) > 1 else ''} {slots}",
            ),
            whole,
        )

    def maps(self, image: np.ndarray, method: str = "CAM", layer: str = LAST_CONV) -> cam.ClassMaps:
        """The raw maps (h, w, 10) and probabilities (10,) of one canvas, computed once per method and layer."""
        test_like = (
            method == "CAM"
            and layer == LAST_CONV
            and image.shape == self.composites.images.shape[1:]
            and image.dtype == np.uint8
        )
        row = self._test_rows.get(image.tobytes()) if test_like else None
        if row is not None:  # a test composite: computed with the others, up front
            return cam.ClassMaps(self.tested.maps[row], self.probabilities[row])
        key = (method, layer, image.shape, image.dtype.str, image.tobytes())
        if key not in self.computed:
            if len(self.computed) >= CACHE_SIZE:
                del self.computed[next(iter(self.computed))]
            result = class_maps(self.model, image[None], method, layer)
            self.computed[key] = cam.ClassMaps(result.maps[0], result.probabilities[0])
        return self.computed[key]

    def logits(self, image: np.ndarray) -> np.ndarray:
        """The class logits (10,) of one canvas: the mean of each class's CAM plus the Dense bias.

        The formula of :func:`helpers.cam.logits` (``mean(f) @ w + b``), from the cached CAM maps:
        their mean is ``mean(f) @ w``, so no second pass through the model is needed.
        """
        return self.maps(image).maps.mean(axis=(0, 1)) + self.bias

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Change controls without each change redrawing."""
        before, self._updating = self._updating, True
        try:
            yield
        finally:
            self._updating = before

    def _unless_updating(self, react: Callable[[], object]) -> Callable[[dict], None]:
        return lambda _change: None if self._updating else react()

    def _filter(self) -> bool:
        """Point the slider at the images the filter selects, at the image shown if it is one of them,
        else at the first; False (nothing moved) if none."""
        matching = matching_images(
            self.composites.labels, self.probabilities, self.show.value, self.threshold, self.misses
        )
        labels = f", {int(self.misses.sum()):,} labels" if self.show.value == OFF_PRODUCT else ""
        self.count.value = f"{len(matching):,} of {len(self.composites):,} images{labels}"
        self.position.disabled = not len(matching)
        if len(matching):
            at = int(np.searchsorted(matching, self.index))
            at = at if at < len(matching) and matching[at] == self.index else 0
            with self._quietly():
                self.indices = matching
                self.position.max = len(matching)
                self.position.value = at + 1
                self.image.value = int(matching[at])
        return bool(len(matching))

    def _go_to(self) -> None:
        """The number of a test image typed: show it, under the filter "all" if the filter leaves it out."""
        if self.index not in self.indices or self.position.disabled:
            with self._quietly():
                self.show.value = "all"
        self._filter()
        self._on_image()

    def _on_position(self) -> None:
        with self._quietly():
            self.image.value = int(self.indices[self.position.value - 1])
        self._on_image()

    def _clear_covers(self) -> None:
        with self._quietly():
            for button in self.covers:
                button.value = False

    def _on_image(self) -> None:
        """A new image: no covers; the label it is most sure of, or under "maps off their product"
        the highest-logit label whose map peaks off its product."""
        self._clear_covers()
        canvas, _ = self.shown()
        order = plots.ranking(self.logits(canvas.image))
        if self.show.value == OFF_PRODUCT and self.source.value == "test split":
            order = [c for c in order if self.misses[self.index, c]] or order
        with self._quietly():
            self.label.value = int(order[0])
        self.redraw()

    def _on_canvas(self, new_class: int | None = None) -> None:
        """A composition changed: no covers; a class put in a slot shows its map."""
        self._clear_covers()
        if new_class not in (None, EMPTY) and self.source.value == "composed":
            with self._quietly():
                self.label.value = new_class
        self.redraw()

    def read(self, canvas: Canvas, method: str, layer: str) -> Reading:
        """Everything a redraw shows of one canvas (the maps come from :meth:`maps`' cache)."""
        cams, logits = self.maps(canvas.image), self.logits(canvas.image)
        small = (
            cams.maps
            if (method, layer) == ("CAM", LAST_CONV)
            else self.maps(canvas.image, method, layer).maps
        )
        maps = cam.upsample(small[None], canvas.image.shape)[0]
        return Reading(
            canvas,
            maps,
            cams.probabilities,
            logits,
            plots.ranking(logits),
            plots.outcomes(cams.probabilities, canvas.labels, self.threshold),
            label_scores(maps, canvas.items, canvas.boxes),
        )

    def redraw(self) -> None:
        """Update the figure and the other outputs for the current controls, and re-render it.

        numpy runs on one BLAS thread meanwhile: OpenBLAS threads left spinning
        after an einsum took a core from the gradient pass that followed (Grad-CAM
        at block1_relu1 of a covered canvas: 80 against 45 ms on two cores).
        """
        with self._blas.limit(limits=1, user_api="blas"):
            self._draw()

    def _draw(self) -> None:
        canvas, before = self.shown()
        method = self.method.value
        layer = LAST_CONV if method == "CAM" else self.layer.value
        readings = [
            self.read(c, method, layer) for c in ([canvas] if before is None else [before, canvas])
        ]
        now = readings[-1]
        self._show_controls(now.probabilities, now.logits, now.order)
        one_label = self.mode.value == "one label"
        view = {
            (True, False): "one label",
            (True, True): "before and after",
            (False, False): "Figure 2",
            (False, True): "Figure 2, covered",
        }[one_label, before is not None]
        parts, self.drawn = self.figures[view], view
        mapped = readings if one_label else [now]  # Figure 2 maps the canvas as it is
        # one colour scale for the maps before and after covering: normalised side by side
        joint = cam.normalize_maps(
            np.concatenate([r.maps for r in mapped], axis=1)[None], SCALES[self.scale.value]
        )[0]
        scaled = np.split(joint, len(mapped), axis=1)
        if one_label:
            drawn = [(r, m, self.label.value) for r, m in zip(mapped, scaled, strict=True)]
        else:
            picked = figure2_labels(now.order, canvas.labels, self.label.value, self.pick.value)
            drawn = [(now, scaled[0], c) for c in picked]
        low, high = (
            (float(joint.min()), float(joint.max())) if self.scale.value == "raw" else (0.0, 1.0)
        )
        at = "" if method == "CAM" else f" at {layer}"
        for i, (ax, heat) in enumerate(zip(parts["heat_axes"], parts["heats"], strict=True)):
            ax.set_visible(i < len(drawn))
            if i >= len(drawn):
                continue
            reading, maps, c = drawn[i]
            heat.set_data(maps[..., c])
            heat.set_alpha(self.opacity.value)  # before the limits: the colour bar follows both
            heat.set_clim(low, high if high > low else low + 1)
            ax.images[0].set_data(reading.canvas.image)
            title = (
                f"{method}{at} of {CLASS_NAMES[c]}: p = {reading.probabilities[c]:.3f}, "
                f"logit {reading.logits[c]:.1f} ({reading.outcomes[c]})\n"
                f"{score_text(reading.scores, c)}"
            )
            caption = reading.canvas.caption + (" (before covering)" if reading is not now else "")
            ax.set_title(f"{caption}\n{title}" if one_label else title, fontsize=10)
            plots.update_boxes(
                parts["boxes"][ax], reading.canvas.items, reading.canvas.boxes, c, self.boxes.value
            )
        if not one_label:
            parts["ax"].images[0].set_data(canvas.image)
            parts["ax"].set_title(
                f"{canvas.caption}\ntrue labels: {plots.label_names(canvas.labels)}", fontsize=10
            )
            plots.update_boxes(
                parts["boxes"][parts["ax"]], canvas.items, canvas.boxes, None, self.boxes.value
            )
        parts["colorbar"].set_label(
            "raw map value" if self.scale.value == "raw" else "scaled activation"
        )
        plots.update_probability_bars(
            parts["bars"],
            now.probabilities,
            canvas.labels,
            None if before is None else readings[0].probabilities,
            threshold=self.threshold,
        )
        scores = dict.fromkeys(
            f"{CLASS_NAMES[c]}: {score_text(now.scores, c)}" for r, _, c in drawn if r is now
        )
        self.summary.value = (
            f"<b>{canvas.caption}.</b> {verdict(canvas.labels, now.probabilities, self.threshold, now.logits)}"
            f"<br><b>Maps ({method}{at}):</b> {'; '.join(scores) or 'none drawn'}"
        )
        parts["blitted"].draw((self.scale.value, low, high, self.opacity.value))  # the colour bar
        self.view.layout.width = f"{parts['figure'].get_figwidth() * SHOWN_DPI:.0f}px"
        self.view.value = self.picture("webp")

    def picture(self, format: str = "png") -> bytes:
        """The figure drawn last, encoded losslessly and fast: ``"webp"`` for the live view
        (15 against 25 ms for PNG), ``"png"`` for a page without widgets."""
        pixels = self.figures[self.drawn]["blitted"].canvas.buffer_rgba()
        image = Image.frombuffer("RGBA", pixels.shape[1::-1], pixels).convert("RGB")
        buffer = io.BytesIO()
        options = {"lossless": True, "method": 0} if format == "webp" else {"compress_level": 1}
        image.save(buffer, format=format, **options)
        return buffer.getvalue()

    def _show_controls(
        self, probabilities: np.ndarray, logits: np.ndarray, order: np.ndarray
    ) -> None:
        """Show the controls of the current source and view, the labels by logit with p and logit,
        the composition's name."""
        with self._quietly():  # the same label, listed with the others, most sure first
            chosen = self.label.value
            self.label.options = [
                (f"{CLASS_NAMES[c]} (p {probabilities[c]:.3f}, logit {logits[c]:.1f})", int(c))
                for c in order
            ]
            self.label.value = chosen
        composing = self.source.value == "composed"
        self.browse.layout.display, self.compose.layout.display, self.seed.layout.display = (
            ("none", None, None) if composing else (None, "none", "none")
        )
        self.name.value = self.composition.name() if composing else ""
        self.layer.disabled = self.method.value == "CAM"
        figure2 = self.mode.value == "Figure 2"
        self.pick.disabled = not figure2
        self.label.disabled = figure2 and self.pick.value != "label and neighbours"
        for classes, products in zip(self.slot_classes, self.slot_products, strict=True):
            products.disabled = classes.value == EMPTY

    def _repr_mimebundle_(self, **kwargs) -> tuple[dict, dict]:
        """The widgets; for a page without them (GitHub, nbconvert) a picture of the current view and one line."""
        data = {
            **super()._repr_mimebundle_(**kwargs),
            "text/plain": "CAM explorer: run this notebook in JupyterLab to use its controls",
            "image/png": base64.b64encode(self.picture("png")).decode("ascii"),
        }
        return data, {"image/png": {"width": int(self.view.layout.width.removesuffix("px"))}}


def explore(model: keras.Model, composites: Composites, threshold: float = 0.5) -> Explorer:
    """Build the explorer for ``composites`` (usually the test split), composing from the Fashion-MNIST test split."""
    return Explorer(model, composites, fashion.load()[1], threshold)
