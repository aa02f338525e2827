"""Notebook 04 in a real JupyterLab and a real Chromium: run it all, then use the CAM explorer.

The explorer is ipywidgets: sliders, menus and buttons over an Image widget that
shows the matplotlib figure. The test uses it as a reader would: moves along the
filter, picks a label, turns the boxes off and on, picks the filters "wrong label
sets" and "CAM maps off their product" (its count checked against a count by hand),
goes to an image by its number, covers a slot and moves to another image (no cover
may stay), composes a canvas and changes a slot, covers a slot, switches the method
and the view. Only a browser shows that the widgets render, that the four rows of
controls each fit on one line of a 1,400-pixel window with the file browser open, that each change
redraws the figure and the text under the controls as it should, and that nothing
raises on the way.
Screenshots land in test-artifacts/browser/ for the CI log.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"  # git-ignored
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; a Playwright-downloaded browser is never used
# Without the networking flags Chromium keeps calling home, which floods a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK = "notebooks/04_explore_class_activation_maps.ipynb"
OPEN_TIMEOUT_MS = 180_000  # page, extensions, kernel start
RUN_ALL_TIMEOUT_MS = 240_000  # model load and CAM on 1,000 images on a slow 2-core machine
REDRAW_TIMEOUT_MS = 60_000
# The figure: an ipywidgets Image holding the PNG, or an <img> inside an ipywidgets Output.
FIGURE = "img.widget-image, .widget-output img"

PANEL = "window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"""() => {{
    const session = {PANEL}.sessionContext.session;
    return !!(session && session.kernel && session.kernel.status === 'idle');
}}"""
ALL_CELLS_RAN = f"""() => window.__runAll !== undefined
    && ({KERNEL_IDLE})()
    && ![...document.querySelectorAll('.jp-InputArea-prompt')].some(p => p.textContent.includes('*'))"""
ERROR_OUTPUTS = f"""() => {{
    const errors = [];
    for (const cell of {PANEL}.content.model.cells) {{
        if (cell.type !== 'code') continue;
        for (const output of cell.outputs.toJSON())
            if (output.output_type === 'error') errors.push(`${{output.ename}}: ${{output.evalue}}`);
    }}
    // widget Outputs (the explorer's figure) are not in the notebook model: read the page
    for (const node of document.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
        if (node.textContent.includes('Traceback')) errors.push(node.textContent.slice(0, 2000));
    return errors;
}}"""
# The explorer's first four children are its rows of controls (image, covers, maps, view): for
# each, how many lines its visible controls take on the page (centres more than 12 px apart).
CONTROL_LINES = """(root) => [...root.querySelector('.widget-vbox').children].slice(0, 4).map(row => {
    const centres = [...row.querySelectorAll(
            'button, select, input, .widget-label, .widget-readout, .widget-html-content')]
        .filter(node => node.offsetParent !== null && node.getBoundingClientRect().height > 0)
        .map(node => { const box = node.getBoundingClientRect(); return box.top + box.height / 2; })
        .sort((a, b) => a - b);
    return centres.filter((centre, i) => i === 0 || centre - centres[i - 1] > 12).length;
})"""
FIGURE_REPLACED_OR_ERROR = f"""([root, old]) => {{
    const img = root.querySelector({FIGURE!r});
    return (!!img && img.src !== old) || [...root.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')]
        .some(node => node.textContent.includes('Traceback'));
}}"""


def _shot(target: Page | Locator, name: str, **options) -> bytes:
    return target.screenshot(path=ARTIFACTS / name, **options)


def _assert_no_errors(page: Page) -> None:
    errors = page.evaluate(ERROR_OUTPUTS)
    assert errors == [], "error outputs in the notebook:\n" + "\n".join(errors)


def _figure_changed(page: Page, explorer: Locator, old_src: str, after: str) -> str:
    """Wait until the explorer's figure is replaced; return the new image source."""
    try:
        page.wait_for_function(
            FIGURE_REPLACED_OR_ERROR,
            arg=[explorer.element_handle(), old_src],
            timeout=REDRAW_TIMEOUT_MS,
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"the explorer's figure did not change within {REDRAW_TIMEOUT_MS / 1000:.0f} s after {after}"
        )
    _assert_no_errors(page)
    return explorer.locator(FIGURE).first.get_attribute("src")


def _move_slider(page: Page, slider: Locator) -> int:
    """Type the next image number into the slider's editable readout; return it."""
    handle = slider.locator(".noUi-handle").first
    now, top = (
        int(float(handle.get_attribute(name))) for name in ("aria-valuenow", "aria-valuemax")
    )
    target = now + 1 if now < top else now - 1
    readout = slider.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(target))
    page.keyboard.press("Enter")
    expect(readout).to_have_text(str(target))
    return target


def _choose_other_label(chooser: Locator) -> str:
    """Pick a label other than the current one in a Dropdown or ToggleButtons; return it."""
    select = chooser.locator("select")
    if select.count():
        current = select.locator("option:checked").inner_text()
        other = next(text for text in select.locator("option").all_inner_texts() if text != current)
        select.select_option(label=other)
        return other
    value = chooser.locator("button.widget-toggle-button:not(.mod-active)").first.get_attribute(
        "value"
    )
    button = chooser.locator(
        f'button.widget-toggle-button[value="{value}"]'
    )  # stays put once active
    other = button.inner_text()
    button.click()
    expect(button).to_contain_class("mod-active")
    return other


def _assert_four_lines_of_controls(explorer: Locator, state: str) -> None:
    """Each of the four rows of controls fits on one line of the page, none wraps."""
    lines = explorer.evaluate(CONTROL_LINES)
    assert lines == [1, 1, 1, 1], f"lines taken by each row of controls, {state}: {lines}"


def _exactly(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def _control(explorer: Locator, kind: str, description: str) -> Locator:
    """The one widget of ``kind`` (a CSS class such as ``.widget-dropdown``) in the explorer
    labelled ``description``."""
    control = explorer.locator(kind).filter(
        has=explorer.page.locator(".widget-label", has_text=_exactly(description))
    )
    expect(control).to_have_count(1)
    return control


def _press(buttons: Locator, text: str) -> None:
    """Click the toggle button reading exactly ``text`` and wait until it shows as pressed."""
    button = buttons.locator("button.widget-toggle-button").filter(has_text=_exactly(text))
    expect(button).to_have_count(1)
    button.click()
    expect(button).to_contain_class("mod-active")


def _type_number(control: Locator, number: int) -> None:
    """Type a number into an ipywidgets number box and confirm it with Enter."""
    box = control.locator("input")
    box.fill(str(number))
    box.press("Enter")


def maps_off_their_product() -> tuple[list[int], int]:
    """Count by hand the test images, and their true labels, whose CAM peaks off every box of the class.

    The maps come from the shipped model through ``helpers.cam``; the peak and
    the boxes are compared here, without ``helpers.localisation``.
    """
    from helpers import cam, dataset, model

    network = model.load(ROOT / "models" / "gap_cnn.keras")
    test = dataset.load_splits(splits=("test",))["test"]
    maps = cam.class_activation_maps(network, test.images).maps
    images, labels = set(), 0
    for i, c in zip(*np.nonzero(test.labels), strict=True):
        y, x = np.unravel_index(maps[i, :, :, c].argmax(), maps.shape[1:3])
        boxes = test.boxes[i][test.items[i] == c]
        if not any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1 in boxes):
            images.add(int(i))
            labels += 1
    return sorted(images), labels


def _report_artifacts() -> None:
    print(f"\nbrowser screenshots in {ARTIFACTS}:")
    for path in sorted(ARTIFACTS.glob("*.png")):
        print(f"  {path.name}: {path.stat().st_size:,} bytes")


def test_explorer_redraws_when_image_and_label_change(jupyter_lab):
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing; install Debian's chromium (`make test` does, as root)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    notebook_file = ROOT / NOTEBOOK
    committed = hashlib.sha256(notebook_file.read_bytes()).hexdigest()
    off_images, off_labels = maps_off_their_product()
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(REDRAW_TIMEOUT_MS)
        try:
            page.goto(jupyter_lab.url(f"lab/tree/{NOTEBOOK}"), timeout=OPEN_TIMEOUT_MS)
            page.wait_for_function(
                f"() => !!window.jupyterapp && !!{PANEL} && {PANEL}.context && {PANEL}.context.path === {NOTEBOOK!r}",
                timeout=OPEN_TIMEOUT_MS,
            )
            page.wait_for_function(KERNEL_IDLE, timeout=OPEN_TIMEOUT_MS)

            # Run > Run All Cells; the command resolves once every cell has run (false if one failed)
            page.evaluate("""() => { window.jupyterapp.commands.execute('notebook:run-all-cells')
                .then(ok => { window.__runAll = ok; }, error => { window.__runAll = String(error); }); }""")
            page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_ALL_TIMEOUT_MS)
            ran_at = time.monotonic()
            _assert_no_errors(page)
            assert page.evaluate("() => window.__runAll") is True, "Run All Cells stopped early"

            slider = page.locator(".widget-slider").filter(
                has=page.locator(".widget-label", has_text=_exactly("position"))
            )
            chooser = page.locator(".widget-dropdown, .widget-toggle-buttons").filter(
                has=page.locator(".widget-label", has_text="label")
            )
            expect(slider).to_have_count(1)
            expect(chooser).to_have_count(1)
            explorer = (
                page.locator(".jp-OutputArea-output").filter(has=slider).filter(has=chooser).last
            )
            figure = explorer.locator(FIGURE).first
            expect(figure).to_be_visible()
            explorer.scroll_into_view_if_needed()

            _assert_four_lines_of_controls(explorer, "browsing the test split")
            src_before = figure.get_attribute("src")
            _shot(page, "1-page-before.png", full_page=True)
            explorer_before = _shot(explorer, "1-explorer-before.png")
            figure_before = _shot(figure, "1-figure-before.png")

            image = _move_slider(page, slider)
            src_image = _figure_changed(
                page, explorer, src_before, f"moving the image slider to {image}"
            )
            explorer_image = _shot(explorer, f"2-explorer-image-{image}.png")
            figure_image = _shot(figure, f"2-figure-image-{image}.png")

            label = _choose_other_label(chooser)
            src_label = _figure_changed(page, explorer, src_image, f"choosing the label {label!r}")
            _shot(page, "3-page-after.png", full_page=True)
            explorer_label = _shot(explorer, "3-explorer-label.png")
            figure_label = _shot(figure, "3-figure-label.png")

            # the boxes off, then on again: the same picture as before
            verdict = explorer.locator(".widget-html").filter(has_text="Labels (").first
            boxes = (
                explorer.locator(".widget-checkbox")
                .filter(has=page.locator(".widget-label-basic", has_text=_exactly("boxes")))
                .locator("input")
            )
            expect(boxes).to_have_count(1)
            expect(boxes).to_be_checked()
            said = verdict.inner_text()
            boxes.click()
            src_off = _figure_changed(page, explorer, src_label, "turning the boxes off")
            _shot(explorer, "4-explorer-boxes-off.png")
            boxes.click()
            src_on = _figure_changed(page, explorer, src_off, "turning the boxes on")
            assert _shot(figure, "4-figure-boxes-on-again.png") == figure_label, (
                "boxes off and on again must give the same picture"
            )
            assert verdict.inner_text() == said and "pointing game:" in said, said

            show = _control(explorer, ".widget-dropdown", "show").locator("select")
            count = explorer.locator(".widget-html").filter(has_text="images").first
            expect(count).to_have_text("1,000 of 1,000 images")
            show.select_option(label="wrong label sets")
            src_filter = _figure_changed(
                page, explorer, src_on, "showing only the wrong label sets"
            )
            expect(count).not_to_have_text("1,000 of 1,000 images")
            wrong = int(count.inner_text().split(" of ")[0].replace(",", ""))
            assert 0 < wrong < 1000, count.inner_text()
            _shot(explorer, "5-explorer-wrong-label-sets.png")

            show.select_option(label="CAM maps off their product")
            expect(count).to_have_text(
                f"{len(off_images):,} of 1,000 images, {off_labels:,} labels"
            )  # the count by hand
            src_filter = _figure_changed(
                page, explorer, src_filter, "showing the CAM maps off their product"
            )
            expect(verdict).to_contain_text("pointing game: miss")
            _assert_four_lines_of_controls(explorer, "under the filter of the longest name")
            _shot(explorer, "6-explorer-maps-off-their-product.png")

            # go to image 183 by its number: inside the filter, its position there
            number = _control(explorer, ".widget-text", "image")
            _type_number(number, 183)
            src_number = _figure_changed(page, explorer, src_filter, "going to image 183")
            expect(verdict).to_contain_text("image 183.")
            expect(verdict).to_contain_text("Shirt: pointing game: miss")
            expect(show.locator("option:checked")).to_have_text("CAM maps off their product")
            assert 183 in off_images  # the Shirt of notebook 04's failure section
            expect(slider.locator(".widget-readout")).to_have_text(
                str(off_images.index(183) + 1)
            )  # its place among the filter's images, counted by hand
            _shot(explorer, "7-explorer-image-183.png")

            # cover a slot, then move to another image: no cover may stay
            _press(explorer, "cover 2")
            src_cover = _figure_changed(page, explorer, src_number, "covering slot 2")
            expect(verdict).to_contain_text("image 183, covered slot 2.")
            _shot(explorer, "8-explorer-image-183-cover-2.png")
            _type_number(number, 184)
            src = _figure_changed(page, explorer, src_cover, "going to image 184")
            expect(verdict).to_contain_text("image 184.")
            expect(verdict).not_to_contain_text("covered")
            expect(show.locator("option:checked")).to_have_text(
                "CAM maps off their product" if 184 in off_images else "all"
            )  # a number the filter leaves out is shown under "all"
            expect(
                explorer.locator("button.widget-toggle-button.mod-active", has_text="cover")
            ).to_have_count(0)
            _shot(explorer, "9-explorer-image-184-no-cover.png")
            moves = {src_on, src_off, src_filter, src_number, src_cover, src}
            assert len(moves) == 6, "each of these changes must draw a new figure"

            # Compose, change a slot, cover a slot, switch the method and the view: each draws a new figure;
            # the verdict line changes with the canvas, and stays when only the map changes.
            sources = []
            steps = [
                (
                    "10-explorer-composed",
                    "composing a canvas",
                    True,
                    lambda: (
                        _control(explorer, ".widget-dropdown", "from")
                        .locator("select")
                        .select_option(label="composed")
                    ),
                ),
                (
                    "11-explorer-slot-3-dress",
                    "putting a Dress in slot 3",
                    True,
                    lambda: (
                        _control(explorer, ".widget-dropdown", "slot 3")
                        .locator("select")
                        .select_option(label="Dress")
                    ),
                ),
                (
                    "12-explorer-cover-2",
                    "covering slot 2",
                    True,
                    lambda: _press(explorer, "cover 2"),
                ),
                (
                    "13-explorer-grad-cam-pp",
                    "switching the method to Grad-CAM++",
                    False,
                    lambda: _press(
                        _control(explorer, ".widget-toggle-buttons", "method"), "Grad-CAM++"
                    ),
                ),
                (
                    "14-explorer-figure-2",
                    "switching to the Figure 2 view",
                    False,
                    lambda: _press(
                        _control(explorer, ".widget-toggle-buttons", "view"), "Figure 2"
                    ),
                ),
            ]
            for name, change, verdict_changes, act in steps:
                said = verdict.inner_text()
                act()
                src = _figure_changed(page, explorer, src, change)
                sources.append(src)
                if verdict_changes:
                    expect(verdict).not_to_have_text(said)
                else:  # the labels stay; the line of the maps' scores may change
                    assert verdict.inner_text().split("Maps")[0] == said.split("Maps")[0], (
                        f"the verdict changed after {change}, which keeps the canvas"
                    )
                _shot(explorer, f"{name}.png")
            assert "Dress" in verdict.inner_text(), verdict.inner_text()
            _assert_four_lines_of_controls(
                explorer, "composing, with a cover, in the Figure 2 view"
            )

            assert len({src_before, src_image, src_label, *moves, *sources}) == 14, (
                "each change must draw a new figure"
            )
            assert figure_image != figure_before and explorer_image != explorer_before, (
                f"image {image} looks unchanged"
            )
            assert figure_label != figure_image and explorer_label != explorer_image, (
                f"label {label!r} looks unchanged"
            )
            _assert_no_errors(page)
            print(
                f"\nrun-all took {ran_at - started:.0f} s; the whole browser session {time.monotonic() - started:.0f} s"
            )
        except BaseException:  # pytest.fail() raises a BaseException too
            try:
                _shot(page, "failure-page.png", full_page=True)
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
            print(f"\njupyter lab log (tail):\n{jupyter_lab.log_tail()}")
            raise
        finally:
            browser.close()
            _report_artifacts()
            if hashlib.sha256(notebook_file.read_bytes()).hexdigest() != committed:
                pytest.fail(
                    f"{NOTEBOOK} changed on disk while the browser ran it (autosave must stay off)"
                )
