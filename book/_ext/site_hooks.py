"""Build-time touches that make the committed notebooks read well as web pages.

The notebooks stay as JupyterLab shows them; on the site:

- a widget output (the explorer of notebook 04) shows its picture, the image/png
  stored beside the widget view, never its text fallback (``Explorer(children=...``)
  nor a dead widget: the view and the text are dropped before MyST-NB reads the
  notebook, and an output with no picture left is dropped whole;
- every output image gets an alt text: the sentence of the page that introduces it
  (the paragraph before its cell, STYLE.md's "a short paragraph saying what we do"),
  numbered when one cell draws several;
- an image from another site (README's Binder badge) becomes its alt text, so no
  page loads anything from outside the site;
- each notebook page gets a second launch button, "JupyterLab on Binder", the
  README's launch link; the theme's "Binder" button opens the notebook in
  Binder's default interface (BinderHub's ``filepath``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
SHORT_ALT = 20  # a sentence shorter than this is joined with the one before it


def show_widget_pictures(app: Sphinx, docname: str, source: list[str]) -> None:
    """``source-read``: in a notebook, keep only the picture of each widget output."""
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    notebook = json.loads(source[0])
    notebook.get("metadata", {}).pop("widgets", None)  # saved widget state: no kernel here
    for cell in notebook.get("cells", []):
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                data.pop(WIDGET_VIEW)
                data.pop("text/plain", None)  # the widget's repr, never reader content
                if not data:
                    logger.info(f"{docname}: a widget output without a picture is left out")
                    continue
            kept.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept
    source[0] = json.dumps(notebook)


def _plain(text: str) -> str:
    return " ".join(text.split())


def _has_images(node: nodes.Node) -> bool:
    return _is_code_cell(node) and bool(_output_images(node))


def _is_code_cell(node: nodes.Node) -> bool:
    return isinstance(node, nodes.container) and node.get("nb_element") == "cell_code"


def _output_images(cell: nodes.Element) -> list[nodes.image]:
    """The cell's output images (a mime bundle also holds the text fallbacks)."""
    return [
        image
        for image in cell.findall(nodes.image)
        if image.parent.get("mime_type", "").startswith("image/")
    ]


def _introduction(cell: nodes.Element) -> str:
    """The sentence(s) that introduce ``cell``: the end of the nearest paragraph before it
    in its section (saying so when figures of other cells come between), else the
    section's title."""
    parent = cell.parent
    between = 0
    for sibling in reversed(parent.children[: parent.index(cell)]):
        if isinstance(sibling, nodes.paragraph):
            sentences = SENTENCE_END.split(_plain(sibling.astext()))
            text = sentences[-1]
            if len(text) < SHORT_ALT and len(sentences) > 1:
                text = f"{sentences[-2]} {text}"
            text = text.rstrip(":").rstrip()
            text += "" if text.endswith((".", "?", "!")) else "."
            return f"{text} (figure {between + 1} after these words)" if between else text
        if isinstance(sibling, nodes.title):
            break
        between += _has_images(sibling)
    title = parent.next_node(nodes.title)
    return _plain(title.astext()) if title else ""


class SiteImages(SphinxTransform):
    """Alt text for every notebook output image; remote images replaced by their alt text."""

    default_priority = 500

    def apply(self, **kwargs: Any) -> None:
        for image in list(self.document.findall(nodes.image)):
            if "://" in image["uri"]:
                alt = image.get("alt") or image["uri"]
                image.replace_self(nodes.inline(text=alt, classes=["remote-image-alt"]))
        for cell in self.document.findall(_is_code_cell):
            images = _output_images(cell)
            given = cell.get("cell_metadata", {}).get("mystnb", {}).get("image", {})
            if not images or given.get("alt"):  # the notebook's own alt text wins
                continue
            text = _introduction(cell)
            if not text:
                logger.warning(
                    f"cell {cell.get('cell_index')} has an image and no text before it to describe it",
                    location=cell,
                )
            for number, image in enumerate(images, 1):
                suffix = f" (figure {number} of {len(images)})" if len(images) > 1 else ""
                image["alt"] = f"{text}{suffix}"


def add_jupyterlab_button(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """``html-page-context``, after the theme's launch buttons: Binder's ``filepath`` for the
    theme's button, and a "JupyterLab on Binder" button beside it."""
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in list(group["buttons"]):
            if button.get("text") != "Binder":
                continue
            base, _, urlpath = button["url"].partition("?urlpath=")
            path = urlpath.removeprefix("tree/")
            button["url"] = f"{base}?filepath={path}"
            button["tooltip"] = "Launch on Binder (its default interface)"
            group["buttons"].append(
                {
                    "type": "link",
                    "text": "JupyterLab on Binder",
                    "tooltip": "Launch in JupyterLab on Binder",
                    "icon": button["icon"],
                    "url": f"{base}?urlpath=lab/tree/{path}",
                }
            )
            return


def drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """``html-page-context``: no Thebe scripts. The site has no live-code button (Jupyter Book
    loads sphinx-thebe anyway), and its set-up script, added twice, raised on every page."""
    context["script_files"] = [
        script
        for script in context.get("script_files", [])
        if "sphinx-thebe" not in (getattr(script, "filename", None) or str(script))
        and "THEBE_JS_URL" not in str(getattr(script, "attributes", {}).get("body", ""))
    ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", show_widget_pictures)
    app.add_transform(SiteImages)
    app.connect("html-page-context", add_jupyterlab_button, priority=502)
    app.connect("html-page-context", drop_thebe, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
