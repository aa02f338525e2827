"""Lay out the site's sources for Jupyter Book in one folder (``make site`` runs it).

Jupyter Book reads its pages from one folder, and the launch buttons name each
page by its path there, so the folder mirrors the repository: this book folder
(configuration, landing page, the Sphinx hooks), README.md beside the landing page
that includes it, the notebooks as they are on disk (executed, never run again)
under notebooks/, the benchmarks summary and its figure under benchmarks/, and the
part of MathJax the pages load under _assets/mathjax/ (served from the site: no CDN).

    python book/stage.py build/site-src
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"
# tex-mml-chtml.js and what it loads on demand: TeX extensions, the CHTML fonts,
# the accessibility tools and the menu; not the SVG output or the other bundles.
MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "a11y", "sre", "ui", "adaptors")
PAGES = {
    "README.md": "README.md",
    "benchmarks/README.md": "benchmarks/README.md",
    "benchmarks/recipe_search.png": "benchmarks/recipe_search.png",
}


def stage(out: Path) -> None:
    """Write the site's sources into ``out``, a folder that must not exist yet (``make site``
    removes it, and the last build's output, first: one place deletes, never this script);
    raise if a part is missing."""
    if not (MATHJAX / MATHJAX_PARTS[0]).is_file():
        raise SystemExit(f"{MATHJAX / MATHJAX_PARTS[0]} is missing: run `npm ci` (make site does)")
    if out.exists():
        raise SystemExit(f"{out} exists: remove it first (make site does), or name a new folder")
    shutil.copytree(BOOK, out, ignore=shutil.ignore_patterns("stage.py", "__pycache__"))
    for source, target in PAGES.items():
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / source, out / target)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit("no notebooks/NN_*.ipynb to build the site from")
    (out / "notebooks").mkdir()
    for notebook in notebooks:
        shutil.copy2(notebook, out / "notebooks" / notebook.name)
    for part in MATHJAX_PARTS:
        source, target = MATHJAX / part, out / "_assets" / "mathjax" / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    stage(Path(sys.argv[1]))
