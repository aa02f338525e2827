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
from helpers.composite import Composites
from helpers.fashion import CLASS_NAMES

SCALES = {"per image": "per_image", "per map": "per_map", "raw": "none"}
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
    image, label, opacity, scale : ipywidgets controls
    summary : ipywidgets.HTML
        True labels, predictions and whether each is right.
    view : ipywidgets.Image
        The rendered figure (PNG).
    """

    def __init__(self, maps: np.ndarray, probabilities: np.ndarray, composites: Composites, threshold: float = 0.5):
        self.maps, self.probabilities, self.composites, self.threshold = maps, probabilities, composites, threshold
        self.image = widgets.IntSlider(0, 0, len(composites) - 1, description="image", continuous_update=False)
        self.label = widgets.Dropdown(description="label", options=self._label_options(0))
        self.opacity = widgets.FloatSlider(0.6, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=False)
        self.scale = widgets.ToggleButtons(options=list(SCALES), description="scale")
        self.summary = widgets.HTML()
        self.view = widgets.Image(format="png")
        self.figure, self.artists = self._figure()
        self.image.observe(self._on_image, "value")
        self._updating = False
        for control in (self.label, self.opacity, self.scale):
            control.observe(lambda _: None if self._updating else self.redraw(), "value")
        super().__init__([widgets.HBox([self.image, self.label]), widgets.HBox([self.opacity, self.scale]), self.summary, self.view])
        self.redraw()

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

    def _on_image(self, _change: dict) -> None:
        self._updating = True  # one redraw for the new image, not one per changed control
        try:
            options = self._label_options(self.image.value)
            self.label.options = options
            self.label.value = options[0][1]
        finally:
            self._updating = False
        self.redraw()

    def current_maps(self) -> np.ndarray:
        """The maps (H, W, 10) of the selected image, on the selected scale."""
        index = self.image.value
        return cam.normalize_maps(self.maps[index : index + 1], SCALES[self.scale.value])[0]

    def redraw(self) -> None:
        """Update the figure for the current controls and re-render it."""
        index, c = self.image.value, self.label.value
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


