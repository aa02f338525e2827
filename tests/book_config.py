"""The site's book as book/_config.yml and book/_toc.yml describe it, read and checked once
for every test that needs it (tests/test_site.py, tests/browser/test_site_in_browser.py)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

BOOK = Path(__file__).resolve().parents[1] / "book"
GITHUB = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?")


class BookConfigError(ValueError):
    """book/_config.yml or book/_toc.yml is not what the site and its tests expect."""


@dataclass(frozen=True)
class Book:
    """The repository the launch buttons name, and the pages in reading order."""

    owner: str
    name: str
    branch: str
    root: str  # the landing page, e.g. "index"
    chapters: tuple[str, ...]  # the chapters' files in _toc.yml's order, e.g. "notebooks/01_..."

    @property
    def owner_repo(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def pages(self) -> list[str]:
        """Every page of the table of contents in reading order, as built: "index.html", ..."""
        return [f"{page}.html" for page in (self.root, *self.chapters)]


def _load(name: str) -> dict:
    path = BOOK / name
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise BookConfigError(f"book/{name} cannot be read: {error}") from error
    if not isinstance(loaded, dict):
        raise BookConfigError(f"book/{name} is not a YAML mapping: {loaded!r}")
    return loaded


@functools.cache
def book() -> Book:
    """book/_config.yml's repository (the one place its address is written) and book/_toc.yml's
    pages; raise BookConfigError, saying what is wrong, where either is not as expected."""
    repository = _load("_config.yml").get("repository")
    if not isinstance(repository, dict):
        raise BookConfigError(f"book/_config.yml has no `repository:` mapping: {repository!r}")
    url, branch = repository.get("url"), repository.get("branch")
    found = GITHUB.fullmatch(url) if isinstance(url, str) else None
    if not found:
        raise BookConfigError(
            f"book/_config.yml's repository url is not https://github.com/OWNER/REPO: {url!r}"
        )
    if not isinstance(branch, str) or not branch.strip():
        raise BookConfigError(f"book/_config.yml's repository branch is not a name: {branch!r}")

    toc = _load("_toc.yml")
    if toc.get("format") != "jb-book":
        raise BookConfigError(f"book/_toc.yml's format is not jb-book: {toc.get('format')!r}")
    root, parts = toc.get("root"), toc.get("parts")
    if not isinstance(root, str) or not root:
        raise BookConfigError(f"book/_toc.yml's root is not a page: {root!r}")
    if not isinstance(parts, list) or not parts:
        raise BookConfigError(f"book/_toc.yml has no `parts:` list: {parts!r}")
    chapters = []
    for part in parts:
        entries = part.get("chapters") if isinstance(part, dict) else None
        if not isinstance(entries, list) or not entries:
            raise BookConfigError(f"book/_toc.yml has a part without a `chapters:` list: {part!r}")
        for entry in entries:
            file = entry.get("file") if isinstance(entry, dict) else None
            if not isinstance(file, str) or not file:
                raise BookConfigError(
                    f"book/_toc.yml has a chapter without a `file:` (urls and globs are not "
                    f"used here): {entry!r}"
                )
            chapters.append(file)
    if len(set(chapters)) != len(chapters) or root in chapters:
        raise BookConfigError(f"book/_toc.yml names a page twice: {[root, *chapters]}")
    return Book(found.group(1), found.group(2), branch.strip(), root, tuple(chapters))
