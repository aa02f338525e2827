"""The built site (`make site`) in a real Chromium, served from a local HTTP server.

As a reader uses it, one behaviour a test: every page loads without console errors and
takes nothing from outside the site (any request to another host is blocked and fails
the test; MathJax is served from the site itself), every image loads and has an alt
text, the math is typeset by MathJax, the previous/next links follow the book's order
and lead there and back, a hint unfolds, search finds a word, the explorer of notebook
04 shows its stored picture (never its widget text), every notebook page has its two
Binder launch buttons, no internal link or anchor is broken, and axe-core finds no
violation of impact serious or critical. Every page is visited once (the module's
`visits`); the tests that click open their own tab. The tests build nothing: `make
site` must have built the site (`make test` does). Screenshots land in
test-artifacts/site/.
"""

from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
from book_config import Book, book
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright
from test_explorer_in_browser import CHROMIUM, CHROMIUM_ARGS  # Debian's Chromium, same flags

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site" / "_build" / "html"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "site"  # git-ignored
LOAD_TIMEOUT_MS = 60_000
EXPLORER_PAGE = "notebooks/04_explore_class_activation_maps.html"
# axe-core rules of impact serious or critical that a page may still break, each with why.
# Empty: every page passes them all.
AXE_ALLOWED: dict[str, str] = {}
SERIOUS = ("serious", "critical")


class _Anchors(HTMLParser):
    """The ids and names an HTML page defines: what a #fragment can point at."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.anchors.add(value or "")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a page left while loading
            super().handle_error(request, client_address)


@dataclass
class _Tab:
    """A browser tab on the site. Every request to a host other than the local server is
    aborted (so that none waits on a closed network) and listed in `outside`; `errors`
    holds the console errors, uncaught exceptions, failed requests and HTTP errors."""

    page: Page
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@dataclass
class _Visit:
    """What one page showed when it was loaded, typeset and checked by axe."""

    errors: list[str]
    outside: list[str]
    found: dict  # _wait_for_math_and_images' answer
    axe: list[dict]
    images: int
    links: set[str]  # absolute URLs on the local server
    previous: list[str]  # absolute URLs of the page's previous/next links
    next: list[str]
    launch: list[str]  # the hrefs of its links to mybinder.org


@dataclass
class _Visits:
    book: Book
    pages: list[str]  # the book's pages in reading order, then search.html, genindex.html
    by_page: dict[str, _Visit]


def _open_tab(context: BrowserContext, site_url: str) -> _Tab:
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    tab = _Tab(page)
    server = urlsplit(site_url).netloc

    def route(request_route: Route) -> None:
        url = request_route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == server:
            request_route.continue_()
        else:
            tab.outside.append(url)
            request_route.abort("blockedbyclient")

    page.route("**/*", route)
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and tab.errors.append(f"HTTP {response.status}: {response.url}")
        ),
    )
    page.on("requestfailed", lambda request: tab.errors.append(f"failed: {request.url}"))
    return tab


def _new_context(browser: Browser) -> BrowserContext:
    return browser.new_context(viewport={"width": 1400, "height": 1000})


@pytest.fixture(scope="module")
def site_dir() -> Path:
    """The site `make site` built; the tests fail, saying so, where it has not been built."""
    if not (SITE / "index.html").is_file():
        pytest.fail(
            f"{SITE / 'index.html'} is missing: run `make site` first (`make test` does); "
            "these tests only read the built site"
        )
    return SITE


@pytest.fixture(scope="module")
def site_url(site_dir) -> Iterator[str]:
    """The built site, served on 127.0.0.1 by Python's http.server in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole module."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing; install Debian's chromium (`make test` does, as root)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """test-artifacts/site/, emptied of the last run's screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def tab(chromium, site_url, artifacts) -> Iterator[_Tab]:
    """A fresh tab for a test that clicks; it fails if the page asked another host for anything."""
    context = _new_context(chromium)
    opened = _open_tab(context, site_url)
    try:
        yield opened
    finally:
        context.close()
    assert not opened.outside, f"the pages asked other hosts for: {sorted(set(opened.outside))}"


@pytest.fixture(scope="module")
def visits(site_dir, site_url, chromium, artifacts) -> _Visits:
    """Every built page loaded once in one tab, typeset, checked by axe and read: what the
    tests of what every page shows look at."""
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci` (`make test` does)"
    configured = book()
    order = configured.pages
    built = {
        path.relative_to(site_dir).as_posix()
        for path in site_dir.glob("**/*.html")
        if not path.relative_to(site_dir).parts[0].startswith("_")  # _static, _sources: not pages
    }
    pages = order + sorted(built - set(order))  # then search.html and genindex.html
    by_page: dict[str, _Visit] = {}
    context = _new_context(chromium)
    tab = _open_tab(context, site_url)
    page = tab.page
    try:
        for name in pages:
            tab.errors.clear()
            tab.outside.clear()
            page.goto(site_url + name, wait_until="load")
            found = _wait_for_math_and_images(page)
            by_page[name] = _Visit(
                errors=list(tab.errors),
                outside=list(tab.outside),
                found=found,
                axe=_axe(page),
                images=page.locator("img").count(),
                links={
                    href
                    for href in page.eval_on_selector_all(
                        "a[href]", "links => links.map(a => a.href)"
                    )
                    if href.startswith(site_url)
                },
                previous=_hrefs(page, ".prev-next-area a.left-prev"),
                next=_hrefs(page, ".prev-next-area a.right-next"),
                launch=page.eval_on_selector_all(
                    'a[href^="https://mybinder.org/"]',
                    "links => links.map(a => a.getAttribute('href'))",
                ),
            )
    except BaseException:
        try:
            page.screenshot(path=artifacts / "failure-page.png", full_page=True)
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise
    finally:
        context.close()
    return _Visits(configured, pages, by_page)


def _hrefs(page: Page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "links => links.map(a => a.href)")


def _notebook_page(page: str) -> bool:
    return page.startswith("notebooks/")


def _wait_for_math_and_images(page: Page) -> dict:
    """Wait for MathJax's typesetting and every image's load; return what was found."""
    return page.evaluate(
        """async () => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
            const images = [...document.images];
            await Promise.all(images.map(img => {
                img.loading = 'eager';
                if (img.complete) return null;
                return new Promise(done => {
                    img.addEventListener('load', done);
                    img.addEventListener('error', done);
                });
            }));
            const article = document.querySelector('article') || document.body;
            const prose = [...article.querySelectorAll('p, li, td, h1, h2, h3, summary')]
                .map(node => node.innerText).join('\\n');
            return {
                broken_images: images.filter(img => !img.naturalWidth).map(img => img.currentSrc || img.src),
                missing_alt: images.filter(img => !(img.alt || '').trim() || /\\.(png|svg|jpe?g)$/.test(img.alt))
                    .map(img => img.src),
                math: document.querySelectorAll('.math').length,
                untypeset: [...document.querySelectorAll('.math')]
                    .filter(node => !node.querySelector('mjx-container')).map(node => node.textContent.slice(0, 80)),
                math_errors: [...document.querySelectorAll('mjx-merror')].map(node => node.textContent),
                stray_dollars: [...document.querySelectorAll('.math')].filter(node =>
                    /\\$\\s*$/.test(node.previousSibling?.textContent || '')
                    || /^\\s*\\$/.test(node.nextSibling?.textContent || ''))
                    .map(node => node.textContent.slice(0, 80)),
                raw_tex: (prose.match(/\\$\\$|\\\\\\(|\\\\\\[|\\$[^$\\s][^$]*\\\\[a-z]+[^$]*\\$/g) || []),
                widget_text: document.body.innerText.includes('Explorer(children'),
                widget_views: document.querySelectorAll(
                    'script[type="application/vnd.jupyter.widget-view+json"]').length,
            };
        }"""
    )


def _axe(page: Page) -> list[dict]:
    """axe-core's violations on the page, every impact (node_modules' copy of axe-core)."""
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "count": len(violation["nodes"]),
            "nodes": [" ".join(map(str, node["target"])) for node in violation["nodes"]][:5],
        }
        for violation in violations
    ]


def _problems(visits: _Visits, what: str, key) -> list[str]:
    """One line per page where ``key(visit)`` is not empty, for an assertion message."""
    found = {name: key(visit) for name, visit in visits.by_page.items()}
    return [f"{name}: {what}: {problem}" for name, problem in found.items() if problem]


def _open_first_hint(page: Page):
    """Click the first "Hint" of notebook 01's page open; return its <details> and its answer."""
    hint = page.locator("details").filter(has=page.locator("summary", has_text="Hint")).first
    answer = hint.locator("p").first
    expect(answer).to_be_hidden()
    hint.locator("summary").click()
    expect(answer).to_be_visible()
    return hint, answer


def _explorer_cell(page: Page):
    cell = page.locator(".cell").filter(has_text="explorer.explore(")
    expect(cell).to_have_count(1)
    return cell


def test_every_page_of_the_table_of_contents_is_built(site_dir):
    built = {path.relative_to(site_dir).as_posix() for path in site_dir.glob("**/*.html")}
    missing = set(book().pages) - built
    assert not missing, f"pages of book/_toc.yml not built: {sorted(missing)}"


def test_pages_load_without_console_errors(visits):
    problems = _problems(visits, "console errors or failed requests", lambda v: v.errors)
    assert not problems, "\n".join(problems)


def test_pages_take_nothing_from_outside_the_site(visits):
    problems = _problems(visits, "requests to other hosts", lambda v: v.outside)
    assert not problems, "\n".join(problems)


def test_images_load_and_have_an_alt_text(visits):
    problems = _problems(visits, "images that did not load", lambda v: v.found["broken_images"])
    problems += _problems(visits, "images without an alt text", lambda v: v.found["missing_alt"])
    assert not problems, "\n".join(problems)
    assert sum(visit.images for visit in visits.by_page.values()) > 0, "no page has an image"


def test_math_is_rendered_by_mathjax(visits):
    problems = [
        problem
        for key, what in [
            ("untypeset", "formulas MathJax did not typeset"),
            ("math_errors", "MathJax errors"),
            ("raw_tex", "raw TeX in the text"),
            ("stray_dollars", "formulas between stray $ signs"),
        ]
        for problem in _problems(visits, what, lambda v, key=key: v.found[key])
    ]
    assert not problems, "\n".join(problems)
    assert sum(visit.found["math"] for visit in visits.by_page.values()) > 0, "no formula at all"


def test_previous_and_next_links_follow_the_book_order(visits, site_url):
    order = visits.book.pages
    wrong = []
    for at, name in enumerate(order):
        visit = visits.by_page[name]
        expected_previous = [site_url + order[at - 1]] if at else []
        expected_next = [site_url + order[at + 1]] if at + 1 < len(order) else []
        if visit.previous != expected_previous or visit.next != expected_next:
            wrong.append(f"{name}: previous {visit.previous}, next {visit.next}")
    assert not wrong, "\n".join(wrong)


def test_next_and_previous_links_lead_there_and_back(tab, site_url):
    order = book().pages
    page = tab.page
    page.goto(site_url + order[0])
    page.locator(".prev-next-area a.right-next").click()
    expect(page).to_have_url(site_url + order[1])
    expect(page.locator("h1").first).to_contain_text("01")
    page.locator(".prev-next-area a.left-prev").click()
    expect(page).to_have_url(re.compile(re.escape(site_url) + r"(index\.html)?$"))


def test_a_hint_unfolds_when_its_summary_is_clicked(tab, site_url):
    tab.page.goto(site_url + book().pages[1])
    hint, _ = _open_first_hint(tab.page)
    assert hint.evaluate("details => details.open")


def test_search_finds_a_word(tab, site_url):
    page = tab.page
    page.goto(site_url + "search.html?q=sigmoid")
    expect(page.locator("#search-results li").first).to_be_visible()
    expect(
        page.locator('#search-results a[href*="02_activations_and_losses"]').first
    ).to_be_visible()


def test_notebook_pages_have_both_binder_launch_buttons(visits):
    configured = visits.book
    binder = f"https://mybinder.org/v2/gh/{configured.owner_repo}/{configured.branch}"
    wrong = []
    notebooks = [name for name in configured.pages if _notebook_page(name)]
    assert notebooks, "book/_toc.yml names no notebook"
    for name in notebooks:
        notebook = name.removesuffix(".html") + ".ipynb"
        assert (ROOT / notebook).is_file(), f"{name} is built from no {notebook}"
        launch = visits.by_page[name].launch
        for href in (f"{binder}?filepath={notebook}", f"{binder}?urlpath=lab/tree/{notebook}"):
            if launch.count(href) != 1:
                wrong.append(f"{name}: {launch.count(href)} links to {href} (among {launch})")
    assert not wrong, "\n".join(wrong)


def test_the_explorer_shows_its_stored_picture(tab, site_url):
    page = tab.page
    page.goto(site_url + EXPLORER_PAGE)
    picture = _explorer_cell(page).locator(".cell_output img")
    expect(picture).to_have_count(1)
    picture.scroll_into_view_if_needed()
    assert picture.evaluate("img => img.complete && img.naturalWidth") > 0


def test_no_page_shows_a_widgets_text_or_dead_view(visits):
    problems = _problems(
        visits,
        "a widget's text fallback or dead view",
        lambda v: v.found["widget_text"] or v.found["widget_views"],
    )
    assert not problems, "\n".join(problems)


def test_no_internal_link_or_anchor_is_broken(visits, site_url):
    """Fetch every internal link's page once; check it answers and holds each #anchor."""
    links = set().union(*(visit.links for visit in visits.by_page.values()))
    assert links, "no page links to another"
    broken, anchors = [], {}
    for link in sorted(links):
        target, fragment = urldefrag(link)
        if target not in anchors:
            try:
                with urllib.request.urlopen(target, timeout=10) as response:
                    body = response.read()
                    kind = response.headers.get_content_type()
            except urllib.error.HTTPError as error:
                broken.append(f"{target}: HTTP {error.code}")
                anchors[target] = None
                continue
            parser = _Anchors()
            if kind == "text/html":
                parser.feed(body.decode("utf-8", errors="replace"))
            anchors[target] = parser.anchors
        found = anchors[target]
        if fragment and found is not None and unquote(fragment) not in found:
            broken.append(f"{target.removeprefix(site_url)}#{fragment}: no such anchor")
    assert not broken, "\n".join(broken)


def test_axe_finds_no_serious_or_critical_violation(visits, site_dir):
    print(f"\nsite pages ({site_dir}):")
    for name, visit in visits.by_page.items():
        size = (site_dir / name).stat().st_size
        axe = ", ".join(f"{v['id']} ({v['impact']}, {v['count']}x)" for v in visit.axe)
        print(
            f"  {name}: {size:,} bytes of HTML, {visit.images} images, "
            f"{visit.found['math']} formulas, axe violations: {axe or 'none'}"
        )
    problems = _problems(
        visits,
        "axe violations of impact serious or critical",
        lambda v: [x for x in v.axe if x["impact"] in SERIOUS and x["id"] not in AXE_ALLOWED],
    )
    assert not problems, "\n".join(problems)


def test_screenshots(tab, site_url, artifacts):
    """The landing page, notebook 04's top and its explorer, an open hint: for the CI log."""
    page, order = tab.page, book().pages
    page.goto(site_url + order[0])
    page.screenshot(path=artifacts / "site-1-landing.png", full_page=True)
    page.goto(site_url + EXPLORER_PAGE)
    page.screenshot(path=artifacts / "site-2-notebook-04-top.png")
    cell = _explorer_cell(page)
    cell.scroll_into_view_if_needed()
    _wait_for_math_and_images(page)
    page.screenshot(path=artifacts / "site-3-notebook-04-explorer.png")
    page.goto(site_url + order[1])
    hint, _ = _open_first_hint(page)
    hint.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "site-4-hint-open.png")
    shots = sorted(artifacts.glob("site-*.png"))
    print(f"\nscreenshots in {artifacts}:")
    for path in shots:
        print(f"  {path.name}: {path.stat().st_size:,} bytes")
    assert len(shots) == 4 and all(path.stat().st_size > 1_000 for path in shots)
