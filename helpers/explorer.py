"""An ipywidgets explorer of class activation maps: browse the test composites, compose and cover your own.

The pure pieces (:func:`verdict`, :func:`matching_images`, :class:`Composition`, :func:`class_maps`)
are tested on their own; :class:`Explorer` wires them to controls. Each canvas's maps are computed
once per method and layer and kept (the last 256); a redraw updates the artists of one of two
figures laid out once (:func:`helpers.plots.explorer_figure`) and renders it to PNG.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import ipywidgets as widgets
import keras
import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from helpers import cam, fashion, gradcam, plots
from helpers._checks import check_choice, check_indices, check_scalar
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
FILTERS = (
    "all",
    "wrong label sets",
    *(f"missed: {name}" for name in CLASS_NAMES),
    *(f"false alarm: {name}" for name in CLASS_NAMES),
)
METHODS = {"CAM": "cam", "Grad-CAM": "grad_cam", "Grad-CAM++": "grad_cam_pp"}
SOURCES = ("test split", "composed")
VIEWS = ("one label", "Figure 2")
TOP_K = 3  # maps in the Figure 2 view
STATE = (
    "show",
    "image",
    "source",
    "method",
    "layer",
    "mode",
    "scale",
    "opacity",
    "label",
)  # in the order picture() sets them
CACHE_SIZE = 256  # computed canvases kept (at most ~40 MB at full resolution)
RIGHT, WRONG = (sns.color_palette(plots.PALETTE).as_hex()[i] for i in (0, 3))  # blue and vermilion


def verdict(true_labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> str:
    """Describe one image's true and predicted labels as HTML: hits, false alarms, misses."""
    truth = np.asarray(true_labels, dtype=bool)
    predicted = np.asarray(probabilities) >= threshold
    parts = []
    for c in np.flatnonzero(predicted | truth):
        name = f"{CLASS_NAMES[c]} {probabilities[c]:.2f}"
        if predicted[c] and truth[c]:
            parts.append(f"<span style='color:{RIGHT}'>&#10003; {name}</span>")
        elif predicted[c]:
            parts.append(f"<span style='color:{WRONG}'>&#10007; {name} (not present)</span>")
        else:
            parts.append(f"<span style='color:{WRONG}'>&#10007; {name} (missed)</span>")
    state = "all right" if np.array_equal(truth, predicted) else "not all right"
    return f"<b>Labels ({state}):</b> " + (", ".join(parts) or "none predicted, none present")


def matching_images(
    true_labels: np.ndarray, probabilities: np.ndarray, show: str, threshold: float = 0.5
) -> np.ndarray:
    """The indices of the images that ``show`` (one of :data:`FILTERS`) selects, in order.

    ``"wrong label sets"``: images whose predicted set differs from the true
    one; ``"missed: Shirt"``: images with a Shirt that is not predicted;
    ``"false alarm: Shirt"``: images predicted to hold a Shirt they lack.
    """
    check_choice(show, "show", FILTERS)
    truth, predicted = np.asarray(true_labels, dtype=bool), np.asarray(probabilities) >= threshold
    if show == "all":
        return np.arange(len(truth))
    if show == "wrong label sets":
        return np.flatnonzero((truth != predicted).any(axis=1))
    kind, name = show.split(": ")
    c = CLASS_NAMES.index(name)
    return np.flatnonzero(
        truth[:, c] & ~predicted[:, c] if kind == "missed" else predicted[:, c] & ~truth[:, c]
    )


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
    source, show, image, method, layer, mode, scale, opacity, label : the controls of :data:`STATE`
        ``source`` browses ``composites`` ("test split") or builds a canvas
        ("composed"); ``show`` filters the images (:data:`FILTERS`) and
        ``image`` moves within the filtered ones; ``mode`` is the view.
    slot_classes, slot_products, seed, covers : per slot a class menu, a product slider and a
        cover button; the offsets' seed
    count, name, summary, view : HTML: the filter's count, the composition's name, the verdict
        (:func:`verdict`); the figure (PNG)
    """

    def __init__(
        self,
        model: keras.Model,
        composites: Composites,
        test_fashion: tuple[np.ndarray, np.ndarray],
        threshold: float = 0.5,
    ):
        self.model, self.composites, self.test_fashion, self.threshold = (
            model,
            composites,
            test_fashion,
            threshold,
        )
        self.computed: dict[
            tuple, cam.ClassMaps
        ] = {}  # (method, layer, shape, canvas) -> maps, oldest first
        self.tested = class_maps(
            model, composites.images
        )  # every test composite's CAM, at last_conv resolution
        self.probabilities = self.tested.probabilities
        self.bias = dense_head(model).get_weights()[1]
        self._test_rows = {image.tobytes(): row for row, image in enumerate(composites.images)}
        self.indices = np.arange(
            len(composites)
        )  # the images the filter shows; the slider moves within them
        self.source = widgets.ToggleButtons(options=SOURCES, description="image from")
        self.show = widgets.Dropdown(options=FILTERS, description="show")
        self.count, self.name, self.summary = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.image = widgets.IntSlider(
            0, 0, len(composites) - 1, description="image", continuous_update=False
        )
        choices = [("empty", EMPTY), *((name, c) for c, name in enumerate(CLASS_NAMES))]
        self.slot_classes = [
            widgets.Dropdown(options=choices, value=c, description=f"slot {s + 1}")
            for s, c in enumerate((6, 0, 7, 8))
        ]
        last = int(np.bincount(test_fashion[1]).min()) - 1  # 999: each class has 1,000 test images
        self.slot_products = [
            widgets.IntSlider(0, 0, last, description="product", continuous_update=False)
            for _ in range(DEFAULT_ITEMS)
        ]
        self.seed = widgets.BoundedIntText(0, min=0, max=2**31 - 1, description="seed")
        self.covers = [
            widgets.ToggleButton(description=f"cover {s + 1}") for s in range(DEFAULT_ITEMS)
        ]
        self.method = widgets.ToggleButtons(options=list(METHODS), description="method")
        layers = gradcam.feature_layers(model).query("type == 'ReLU' or layer == @LAST_CONV")[
            "layer"
        ]  # each block's output
        self.layer = widgets.Dropdown(
            options=list(layers), value=LAST_CONV, description="layer", disabled=True
        )
        self.mode = widgets.ToggleButtons(options=VIEWS, description="view")
        self.label = widgets.Dropdown(
            description="label", options=[(name, c) for c, name in enumerate(CLASS_NAMES)]
        )
        self.opacity = widgets.FloatSlider(
            0.6, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=False
        )
        self.scale = widgets.ToggleButtons(options=list(SCALES), description="scale")
        self.view = widgets.Image(format="png")
        longest = f"Grad-CAM++ at {max(self.layer.options, key=len)} of T-shirt/top, p = 1.00 (correctly absent)"
        longest = {
            "one label": "image 999, covered slot 1 and slot 2 and slot 3 and slot 4\n" + longest,
            "Figure 2": longest,
        }
        self.figures = {
            v: plots.explorer_figure(v, composites.images.shape[1:], threshold, longest[v], TOP_K)
            for v in VIEWS
        }
        self._updating = False
        self.browse = widgets.HBox([self.show, self.count, self.image])
        self.compose = widgets.VBox(
            [
                widgets.HBox(
                    [
                        widgets.VBox(pair)
                        for pair in zip(self.slot_classes, self.slot_products, strict=True)
                    ]
                ),
                widgets.HBox([self.seed, self.name]),
            ]
        )
        self.show.observe(
            self._unless_updating(lambda: self._filter() and self._on_image()), "value"
        )
        for control in (self.source, self.image):
            control.observe(self._unless_updating(self._on_image), "value")
        for menu in self.slot_classes:
            menu.observe(
                self._unless_updating(lambda menu=menu: self._on_slot_class(menu.value)), "value"
            )
        for control in (
            *self.slot_products,
            self.seed,
            *self.covers,
            self.method,
            self.layer,
            self.mode,
            self.label,
            self.opacity,
            self.scale,
        ):
            control.observe(self._unless_updating(self.redraw), "value")
        rows = [
            self.source,
            self.browse,
            self.compose,
            widgets.HBox(self.covers),
            widgets.HBox([self.method, self.layer]),
            self.mode,
            widgets.HBox([self.label, self.opacity]),
            self.scale,
        ]
        super().__init__([*rows, self.summary, self.view])
        self._filter()
        self._on_image()

    @property
    def index(self) -> int:
        """The index (in ``composites``) of the test image the slider shows."""
        return int(self.indices[self.image.value])

    @property
    def composition(self) -> Composition:
        """The composition the slot controls describe."""
        return Composition(
            tuple(d.value for d in self.slot_classes),
            tuple(s.value for s in self.slot_products),
            self.seed.value,
        )

    def shown(self) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
        """The canvas as the network gets it (covered slots blanked), its true labels, a caption,
        and the probabilities before covering (None when nothing is covered)."""
        if self.source.value == "test split":
            one, caption = self.composites.take([self.index]), f"image {self.index}"
        else:
            one, caption = self.composition.build(*self.test_fashion), "composed"
        covered = [s for s, button in enumerate(self.covers) if button.value]
        if not covered:
            return one.images[0], one.labels[0], caption, None
        truth = np.isin(np.arange(NUM_CLASSES), np.delete(one.items[0], covered)).astype(np.uint8)
        caption += ", covered " + " and ".join(f"slot {s + 1}" for s in covered)
        return (
            blank_slots(one.images[0], covered),
            truth,
            caption,
            self.maps(one.images[0]).probabilities,
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
        """Point the slider at the images the filter selects, from the first; False (nothing moved) if none."""
        matching = matching_images(
            self.composites.labels, self.probabilities, self.show.value, self.threshold
        )
        self.count.value = f"{len(matching):,} of {len(self.composites):,} images"
        self.image.disabled = not len(matching)
        if len(matching):
            with self._quietly():
                self.indices = matching
                self.image.value, self.image.max = 0, len(matching) - 1
        return bool(len(matching))

    def _top_label(self) -> int:
        return int(plots.ranking(self.logits(self.shown()[0]))[0])

    def _on_image(self) -> None:
        """A new image: show the label it is most sure of (covering or changing a product keeps the label chosen)."""
        with self._quietly():
            self.label.value = self._top_label()
        self.redraw()

    def _on_slot_class(self, new: int) -> None:
        """A class put in a slot of the composed canvas: show its map (emptying a slot keeps the label)."""
        if new != EMPTY and self.source.value == "composed":
            with self._quietly():
                self.label.value = new
        self.redraw()

    def picture(
        self, covers: tuple[int, ...] = (), composition: Composition | None = None, **values
    ) -> tuple[str, bytes]:
        """The verdict (HTML) and figure (PNG) for other settings; the controls are then set back.

        ``values`` maps names of :data:`STATE` to values (``source="composed", mode="Figure 2"``), ``covers``
        lists the slots to cover (0 = leftmost), ``composition`` sets the slots; without a ``label``, a new
        image shows the one it is most sure of. For a page without a live kernel.
        """
        unknown = sorted(set(values) - set(STATE))
        if unknown:
            raise ValueError(f"picture() sets the controls {STATE}; got {unknown}")
        saved = (
            {name: getattr(self, name).value for name in STATE},
            np.flatnonzero([b.value for b in self.covers]),
            self.composition,
            (self.indices, self.image.max),
        )
        try:
            self._set(values, check_indices(list(covers), "covers", len(self.covers)), composition)
            return self.summary.value, self.view.value
        finally:
            self._set(*saved)

    def _set(
        self, values: dict, covers, composition: Composition | None, browsed: tuple | None = None
    ) -> None:
        """Set the slots, the controls in :data:`STATE` order and the covers, then redraw once;
        refuse values out of range."""
        with self._quietly():
            if composition is not None:
                for menu, slider, c, k in zip(
                    self.slot_classes,
                    self.slot_products,
                    composition.classes,
                    composition.products,
                    strict=False,
                ):
                    menu.value, slider.value = c, k
                self.seed.value = composition.seed
            for name in (name for name in STATE if name in values):
                if (
                    name == "image" and browsed is not None
                ):  # the filter's images as they were, even where it now finds none
                    self.indices, self.image.max = browsed
                getattr(self, name).value = values[name]
                if name == "show":
                    self._filter()
            if any(
                getattr(self, name).value != value for name, value in values.items()
            ) or composition not in (None, self.composition):
                raise ValueError(
                    f"picture() cannot show {values} {composition or ''}: a value is outside its control's range"
                )
            for s, button in enumerate(self.covers):
                button.value = s in covers
            if "label" not in values and (
                {"show", "image", "source"} & set(values) or composition is not None
            ):
                self.label.value = self._top_label()
        self.redraw()

    def redraw(self) -> None:
        """Update the figure and the other outputs for the current controls, and re-render it."""
        image, truth, caption, before = self.shown()
        method, probabilities = self.method.value, self.maps(image).probabilities
        small = self.maps(image, method, LAST_CONV if method == "CAM" else self.layer.value).maps
        maps = cam.normalize_maps(cam.upsample(small[None], image.shape), SCALES[self.scale.value])[
            0
        ]
        order = plots.ranking(self.logits(image))
        self._show_controls(probabilities, order)
        one_label, parts = self.mode.value == "one label", self.figures[self.mode.value]
        labels = [self.label.value] if one_label else list(order[:TOP_K])
        named = plots.outcomes(probabilities, truth, self.threshold)
        low, high = (
            (float(maps.min()), float(maps.max())) if self.scale.value == "raw" else (0.0, 1.0)
        )  # raw: over all ten maps
        at = "" if method == "CAM" else f" at {self.layer.value}"
        for ax, heat, c in zip(parts["heat_axes"], parts["heats"], labels, strict=True):
            heat.set_data(maps[..., c])
            heat.set_clim(low, high if high > low else low + 1)
            heat.set_alpha(self.opacity.value)
            title = f"{method}{at} of {CLASS_NAMES[c]}, p = {probabilities[c]:.2f} ({named[c]})"
            ax.set_title(f"{caption}\n{title}" if one_label else title, fontsize=9)
        if not one_label:
            parts["ax"].set_title(f"{caption}\ntrue labels: {plots.label_names(truth)}", fontsize=9)
        for ax in {parts["ax"], *parts["heat_axes"]}:
            ax.images[0].set_data(image)  # the canvas under each map
        parts["colorbar"].set_label(
            "raw map value" if self.scale.value == "raw" else "scaled activation"
        )
        plots.update_probability_bars(
            parts["bars"], probabilities, truth, before, threshold=self.threshold
        )
        parts["bars"].set_title(
            "probabilities" if before is None else "probabilities, before \u2192 after covering",
            fontsize=9,
        )
        self.summary.value = verdict(truth, probabilities, self.threshold)
        canvas, buffer = FigureCanvasAgg(parts["figure"]), io.BytesIO()
        canvas.draw()
        Image.fromarray(np.asarray(canvas.buffer_rgba())).save(
            buffer, format="png", compress_level=1
        )  # light compression: fast
        self.view.value = buffer.getvalue()

    def _show_controls(self, probabilities: np.ndarray, order: np.ndarray) -> None:
        """Show the controls of the current source and view, the labels' probabilities (in ``order``),
        the composition's name."""
        with self._quietly():  # the same label, listed with the others, most sure first
            chosen = self.label.value
            self.label.options = [
                (f"{CLASS_NAMES[c]} ({probabilities[c]:.2f})", int(c)) for c in order
            ]
            self.label.value = chosen
        composing = self.source.value == "composed"
        self.browse.layout.display, self.compose.layout.display = (
            ("none", None) if composing else (None, "none")
        )
        self.name.value = f"<code>{self.composition.name()}</code>"
        self.layer.disabled = self.method.value == "CAM"
        self.label.disabled = self.mode.value == "Figure 2"
        for classes, products in zip(self.slot_classes, self.slot_products, strict=True):
            products.disabled = classes.value == EMPTY

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widgets; for a page without them (GitHub, nbconvert) a picture of the current view and one line."""
        return {
            **super()._repr_mimebundle_(**kwargs),
            "text/plain": "CAM explorer: run this notebook in JupyterLab to use its controls",
            "image/png": base64.b64encode(self.view.value).decode("ascii"),
        }


def explore(model: keras.Model, composites: Composites, threshold: float = 0.5) -> Explorer:
    """Build the explorer for ``composites`` (usually the test split), composing from the Fashion-MNIST test split."""
    return Explorer(model, composites, fashion.load()[1], threshold)
