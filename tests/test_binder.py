"""The Binder set-up in binder/: what repo2docker installs, and whether it fits.

repo2docker reads only binder/ once that folder exists. These tests check that
it installs the one pinned list and the package, the Debian data package and
the Python that CI uses; that every notebook import is pinned; and that the
notebooks a Binder reader runs first stay well inside mybinder.org's 2 GB.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOKS = ROOT / "notebooks"

# mybinder.org allows 2 GB; keep a margin for the server, the browser-side
# state and a reader who runs a few cells twice.
BINDER_MEMORY_BUDGET_KIB = int(1.5 * 1024 * 1024)  # 1.5 GiB
MEMORY_NOTEBOOKS = ("01_build_the_dataset.ipynb", "04_explore_class_activation_maps.ipynb")


def _normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_lines(path: Path) -> list[str]:
    """Non-blank lines of a requirements file, comments removed."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _pinned_distributions() -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line in requirements.txt."""
    pinned = {}
    for line in _requirement_lines(ROOT / "requirements.txt"):
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*(\S+)", line.split(";")[0].strip())
        if match:
            pinned[_normalise(match.group(1))] = match.group(3)
    return pinned


def _notebook_imports(path: Path) -> set[str]:
    """Top-level module names imported anywhere in a notebook's code cells."""
    notebook = nbformat.read(path, as_version=4)
    transform = TransformerManager().transform_cell  # turns %magics and !shell into Python
    modules = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(transform(cell.source), filename=f"{path.name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def test_binder_requirements_install_the_root_pinned_list_and_the_package():
    lines = _requirement_lines(BINDER / "requirements.txt")
    includes = [line.split(None, 1)[1] for line in lines if line.startswith("-r ")]
    local = [line.split(None, 1)[1] for line in lines if line.startswith("-e ")]
    # pip resolves `-r` against the including file's folder ...
    assert [(BINDER / path).resolve() for path in includes] == [ROOT / "requirements.txt"]
    # ... and a local path against its working directory: repo2docker runs
    # `pip install -r binder/requirements.txt` from the repository root.
    assert [(ROOT / path).resolve() for path in local] == [ROOT]
    assert (ROOT / "pyproject.toml").exists()
    others = [line for line in lines if not line.startswith(("-r ", "-e "))]
    assert others == [], f"binder/requirements.txt must not copy pins from requirements.txt; found {others}"


def test_binder_apt_installs_the_debian_fashion_mnist():
    packages = _requirement_lines(BINDER / "apt.txt")
    assert "dataset-fashion-mnist" in packages


def test_binder_runtime_is_the_python_that_runs_the_tests():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}"


def test_binder_start_sets_the_light_setting_and_hands_over():
    start = BINDER / "start"
    assert os.access(start, os.X_OK), "binder/start must be executable (git add keeps the mode)"
    lines = _requirement_lines(start)  # shell comments drop out the same way
    assert lines[-1] == 'exec "$@"'
    result = subprocess.run(
        [str(start), sys.executable, "-c", "import os; print(os.environ['CAM_TUTORIAL_LIGHT'])"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert result.stdout.strip() == "1"


def test_every_notebook_import_is_stdlib_helpers_or_pinned():
    pinned = _pinned_distributions()
    providers = importlib.metadata.packages_distributions()
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert notebooks, f"no notebooks in {NOTEBOOKS}"
    unpinned = {}
    for path in notebooks:
        for module in sorted(_notebook_imports(path)):
            if module in sys.stdlib_module_names or module == "helpers":
                continue
            distributions = {_normalise(name) for name in providers.get(module, [])}
            if not distributions & pinned.keys():
                unpinned.setdefault(path.name, []).append(f"{module} (from {sorted(distributions) or 'nothing installed'})")
    assert unpinned == {}, f"notebook imports whose distribution is not pinned in requirements.txt: {unpinned}"


@pytest.mark.slow
def test_notebooks_01_and_04_fit_in_binder_memory():
    """Run 01 then 04 in one fresh kernel, as a Binder reader would, and read its peak RSS."""
    cells = []
    for name in MEMORY_NOTEBOOKS:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        cells += [cell for cell in notebook.cells if cell.cell_type == "code"]
    cells.append(nbformat.v4.new_code_cell(
        "import json, resource, sys\n"
        "print(json.dumps({'prefix': sys.prefix, 'maxrss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"
    ))
    combined = nbformat.v4.new_notebook(cells=cells, metadata=notebook.metadata)
    for cell in combined.cells:
        cell.outputs, cell.execution_count = [], None

    client = NotebookClient(
        combined, kernel_name="python3", timeout=1800,
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # the kernel starts where JupyterLab would start it
    )
    client.execute(env={**os.environ, "CAM_TUTORIAL_LIGHT": "1"})  # Binder's setting, from binder/start

    measured = json.loads(combined.cells[-1].outputs[0]["text"])
    assert Path(measured["prefix"]).resolve() == Path(sys.prefix).resolve(), "the kernel must run in this environment"
    peak_kib = measured["maxrss_kib"]
    print(f"\npeak RSS of one kernel running {' + '.join(MEMORY_NOTEBOOKS)}: "
          f"{peak_kib / 1024:.0f} MiB (budget {BINDER_MEMORY_BUDGET_KIB / 1024:.0f} MiB)")
    assert peak_kib < BINDER_MEMORY_BUDGET_KIB, (
        f"notebooks 01 + 04 peak at {peak_kib / 1024:.0f} MiB; Binder gives 2 GB and we keep them under 1.5 GiB"
    )
