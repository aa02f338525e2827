"""The package's layout: one job per module, and imports that flow one way.

``LAYERS`` is the module table of DESIGN.md, top to bottom: a module may
import only modules listed above it. Adding a module means adding it here
(and to DESIGN.md) at the place its imports allow.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "helpers"
DESIGN = ROOT.parent / "shared" / "DESIGN.md"
LAYERS = (
    "_checks", "quiet", "fashion", "composite", "dataset", "activations", "model", "recipes", "training",
    "evaluation", "cam", "gradcam", "localisation", "plots", "explorer", "runs", "__main__",
)  # fmt: skip
PACKAGE_INIT_MAY_IMPORT = {"quiet"}


def helpers_imports(path: Path) -> set[str]:
    """The ``helpers`` modules that the file at ``path`` imports, anywhere in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {
                alias.name.split(".")[1]
                for alias in node.names
                if alias.name.startswith("helpers.")
            }
        elif isinstance(node, ast.ImportFrom):
            module = (
                "helpers" + (f".{node.module}" if node.module else "")
                if node.level == 1
                else node.module or ""
            )
            if module == "helpers":
                found |= {alias.name for alias in node.names}
            elif module.startswith("helpers."):
                found.add(module.split(".")[1])
    return found


def upward_imports(package: Path, layers: tuple[str, ...]) -> list[str]:
    """One line per import of a module that is not listed above the importer in ``layers``."""
    problems = []
    for name in layers:
        for imported in sorted(helpers_imports(package / f"{name}.py")):
            if imported not in layers[: layers.index(name)]:
                problems.append(
                    f"helpers/{name}.py imports {imported}, which is not listed above it"
                )
    return problems


def test_every_module_is_in_the_table_and_every_listed_module_exists():
    assert sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__") == sorted(
        LAYERS
    )


def test_imports_flow_one_way():
    assert upward_imports(PACKAGE, LAYERS) == []
    assert helpers_imports(PACKAGE / "__init__.py") <= PACKAGE_INIT_MAY_IMPORT


def test_an_upward_import_is_caught(tmp_path):
    (tmp_path / "low.py").write_text("def f():\n    from helpers.high import g\n")
    (tmp_path / "high.py").write_text("from helpers import low\n")
    (tmp_path / "relative.py").write_text("from . import high\nfrom .low import f\n")
    assert upward_imports(tmp_path, ("low", "high")) == [
        "helpers/low.py imports high, which is not listed above it"
    ]
    assert upward_imports(tmp_path, ("high", "low")) == [
        "helpers/high.py imports low, which is not listed above it"
    ]
    assert upward_imports(tmp_path, ("relative", "low", "high")) == [
        "helpers/relative.py imports high, which is not listed above it",
        "helpers/relative.py imports low, which is not listed above it",
        "helpers/low.py imports high, which is not listed above it",
    ]


@pytest.mark.skipif(not DESIGN.is_file(), reason="shared/DESIGN.md is not beside this checkout")
def test_design_md_lists_the_same_modules_in_the_same_order():
    table = re.search(r"## helpers, by module\n(.*?)\n\n(?=[A-Z])", DESIGN.read_text(), re.S).group(
        1
    )
    assert tuple(re.findall(r"^\| `(\w+)` \|", table, re.M)) == LAYERS
