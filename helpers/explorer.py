"""An ipywidgets explorer of class activation maps.

All maps are computed once, up front; moving a control only updates the
image data of one matplotlib figure and re-renders it to PNG.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import keras
import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from helpers import cam, plots
from helpers._checks import check_choice
from helpers.composite import Composites
from helpers.fashion import CLASS_NAMES

SCALES = {"per image": "per_image", "per map": "per_map", "raw": "none"}
FILTERS = ("all", "wrong label sets", *(f"missed: {name}" for name in CLASS_NAMES), *(f"false alarm: {name}" for name in CLASS_NAMES))
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
    return f"<b>Labels ({state}):</b> " + ", ".join(parts)


def matching_images(true_labels: np.ndarray, probabilities: np.ndarray, show: str, threshold: float = 0.5) -> np.ndarray:
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
    return np.flatnonzero(truth[:, c] & ~predicted[:, c] if kind == "missed" else predicted[:, c] & ~truth[:, c])


class Explorer(widgets.VBox):
    """Sliders and buttons over precomputed class activation maps.

    Parameters
    ----------
    maps : array (N, H, W, 10)
        Raw class activation maps of every image.
    probabilities : array (N, 10)
    composites : Composites
        The images and their true labels.
    threshold : float
        Probability from which a label counts as predicted.

    Attributes
    ----------
    show, image, label, opacity, scale : ipywidgets controls
        ``show`` filters the images (:data:`FILTERS`); ``image`` moves
        within the filtered ones.
    count : ipywidgets.HTML
        How many images the filter shows.
    indices : array
        The images the filter shows (indices into ``composites``).
    summary : ipywidgets.HTML
        True labels, predictions and whether each is right.
    view : ipywidgets.Image
        The rendered figure (PNG).
    """

    def __init__(self, maps: np.ndarray, probabilities: np.ndarray, composites: Composites, threshold: float = 0.5):
        self.maps, self.probabilities, self.composites, self.threshold = maps, probabilities, composites, threshold
        self.indices = np.arange(len(composites))  # the images the filter shows; the slider moves within them
        self.show = widgets.Dropdown(options=FILTERS, description="show")
        self.count = widgets.HTML()
        self.image = widgets.IntSlider(0, 0, len(composites) - 1, description="image", continuous_update=False)
        self.label = widgets.Dropdown(description="label", options=self._label_options(0))
        self.opacity = widgets.FloatSlider(0.6, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=False)
        self.scale = widgets.ToggleButtons(options=list(SCALES), description="scale")
        self.summary = widgets.HTML()
        self.view = widgets.Image(format="png")
        self.figure, self.artists = self._figure()
        self._updating = False
        self.image.observe(lambda _: None if self._updating else self._on_image(), "value")
        self.show.observe(self._on_filter, "value")
        for control in (self.label, self.opacity, self.scale):
            control.observe(lambda _: None if self._updating else self.redraw(), "value")
        rows = [widgets.HBox([self.show, self.count]), widgets.HBox([self.image, self.label]), widgets.HBox([self.opacity, self.scale])]
        super().__init__([*rows, self.summary, self.view])
        self._on_filter()

    @property
    def index(self) -> int:
        """The index (in ``composites``) of the image shown."""
        return int(self.indices[self.image.value])

    def _label_options(self, index: int) -> list[tuple[str, int]]:
        order = np.argsort(self.probabilities[index])[::-1]
        return [(f"{CLASS_NAMES[c]} ({self.probabilities[index, c]:.2f})", int(c)) for c in order]

    def _figure(self) -> tuple[Figure, dict]:
        figure = Figure(figsize=(8, 2.6), dpi=80, layout="constrained")
        ax = figure.add_subplot()
        heat = plots.overlay(ax, self.composites.images[0], self.maps[0, ..., 0])
        colorbar = figure.colorbar(heat, ax=ax, shrink=0.9, label="scaled activation")  # reserves the label's room
        ax.set_title(" ")
        FigureCanvasAgg(figure).draw()  # lay out once; redraws then keep the layout (much faster)
        figure.set_layout_engine("none")
        return figure, {"ax": ax, "image": ax.images[0], "heat": heat, "colorbar": colorbar}

    def _on_filter(self, _change: dict | None = None) -> None:
        """Show the images the filter selects, from its first one; an empty filter keeps the current image."""
        matching = matching_images(self.composites.labels, self.probabilities, self.show.value, self.threshold)
        self.count.value = f"{len(matching):,} of {len(self.composites):,} images"
        if len(matching):
            self._updating = True  # the slider's new range is one change, not two redraws
            try:
                self.indices = matching
                self.image.value, self.image.max = 0, len(matching) - 1
            finally:
                self._updating = False
            self._on_image()

    def _on_image(self) -> None:
        self._updating = True  # one redraw for the new image, not one per changed control
        try:
            options = self._label_options(self.index)
            self.label.options = options
            self.label.value = options[0][1]
        finally:
            self._updating = False
        self.redraw()

    def current_maps(self) -> np.ndarray:
        """The maps (H, W, 10) of the selected image, on the selected scale."""
        index = self.index
        return cam.normalize_maps(self.maps[index : index + 1], SCALES[self.scale.value])[0]

    def redraw(self) -> None:
        """Update the figure for the current controls and re-render it."""
        index, c = self.index, self.label.value
        maps = self.current_maps()
        low, high = (float(maps.min()), float(maps.max())) if self.scale.value != "per map" else (0.0, 1.0)
        self.artists["image"].set_data(self.composites.images[index])
        self.artists["heat"].set_data(maps[..., c])
        self.artists["heat"].set_clim(low, high if high > low else low + 1)
        self.artists["heat"].set_alpha(self.opacity.value)
        truth = "true label" if self.composites.labels[index, c] else "not present"
        self.artists["ax"].set_title(f"image {index}: CAM of {CLASS_NAMES[c]}, p = {self.probabilities[index, c]:.2f} ({truth})")
        self.artists["colorbar"].set_label("class activation" if self.scale.value == "raw" else "scaled activation")
        self.summary.value = verdict(self.composites.labels[index], self.probabilities[index], self.threshold)
        canvas = FigureCanvasAgg(self.figure)
        canvas.draw()
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
        self.view.value = buffer.getvalue()


def explore(model: keras.Model, composites: Composites, threshold: float = 0.5) -> Explorer:
    """Build the explorer for ``composites``, computing all their maps once.

    Parameters
    ----------
    model : keras.Model
        A GAP network (see :func:`helpers.cam.class_activation_maps`).
    composites : Composites
        Usually the test split.
    threshold : float
        Probability from which a label counts as predicted.

    Returns
    -------
    Explorer
        Display it (it is an ``ipywidgets.VBox``).
    """
    result = cam.class_activation_maps(model, composites.images)
    return Explorer(result.maps, result.probabilities, composites, threshold)


