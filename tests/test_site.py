"""The site's set-up (book/): one repository address, every notebook a page, its own pins.

The built pages themselves are checked in Chromium (tests/browser/test_site_in_browser.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from book_config import book

ROOT = Path(__file__).resolve().parents[1]


def test_readme_links_name_the_repository_set_in_book_config():
    configured = book()
    owner, name, branch = configured.owner, configured.name, configured.branch
    readme = (ROOT / "README.md").read_text()
    binder = re.findall(r"https://mybinder\.org/v2/gh/([^/\s)]+)/([^/\s)]+)/([^?\s)]+)", readme)
    clones = re.findall(
        r"git clone https://github\.com/([^/\s]+)/(\S+?)(?:\.git)?[;&\s]+cd (\S+)", readme
    )
    assert binder and clones, "README.md has no Binder or clone link left to check"
    wrong = [
        f"mybinder.org/v2/gh/{'/'.join(link)}" for link in binder if link != (owner, name, branch)
    ]
    wrong += [
        f"git clone .../{o}/{n} && cd {d}" for o, n, d in clones if (o, n, d) != (owner, name, name)
    ]
    assert not wrong, (
        f"book/_config.yml names {owner}/{name} (branch {branch}); change these README.md links "
        f"to match: {wrong}"
    )


def test_every_notebook_is_a_page_in_reading_order():
    files = book().chapters
    notebooks = [
        f"notebooks/{path.stem}" for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    ]
    assert [file for file in files if file.startswith("notebooks/")] == notebooks
    assert "benchmarks/README" in files


def test_the_site_pins_its_own_packages_on_top_of_the_readers_list():
    def names(path: Path) -> list[str]:
        lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
        return [line for line in lines if line]

    site = names(ROOT / "requirements-site.txt")
    assert site[0] == "-r requirements.txt"  # resolved together with what the notebooks pin
    assert all(line.count("==") == 1 for line in site[1:])
    pinned_elsewhere = {
        line.split("==")[0].lower()
        for name in ("requirements.txt", "requirements-test.txt")
        for line in names(ROOT / name)
        if "==" in line
    }
    assert not {line.split("==")[0].lower() for line in site[1:]} & pinned_elsewhere
    assert "jupyter-book==1." in "\n".join(site)  # 2.x fetches its theme at build time
