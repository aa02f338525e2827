"""The Binder set-up in binder/: what repo2docker installs, and whether it fits.

repo2docker reads only binder/ once that folder exists. These tests check that
it installs the notebooks' pinned list and the package, and the Debian data
package; that every notebook import is pinned; and that every notebook runs
on one CPU with the light setting, as on mybinder.org, well inside its 2 GB.
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
BINDER_RUNS = [(path.name,) for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))] + [
    ("01_build_the_dataset.ipynb", "04_explore_class_activation_maps.ipynb"),
]


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
        match = re.fullmatch(
            r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*(\S+)", line.split(";")[0].strip()
        )
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
    assert others == [], (
        f"binder/requirements.txt must not copy pins from requirements.txt; found {others}"
    )


def test_binder_apt_installs_the_debian_fashion_mnist():
    packages = _requirement_lines(BINDER / "apt.txt")
    assert "dataset-fashion-mnist" in packages


def test_binder_start_sets_the_light_setting_and_hands_over():
    start = BINDER / "start"
    assert os.access(start, os.X_OK), "binder/start must be executable (git add keeps the mode)"
    lines = _requirement_lines(start)  # shell comments drop out the same way
    assert lines[-1] == 'exec "$@"'
    result = subprocess.run(
        [str(start), sys.executable, "-c", "import os; print(os.environ['CAM_TUTORIAL_LIGHT'])"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
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
                unpinned.setdefault(path.name, []).append(
                    f"{module} (from {sorted(distributions) or 'nothing installed'})"
                )
    assert unpinned == {}, (
        f"notebook imports whose distribution is not pinned in requirements.txt: {unpinned}"
    )


def run_as_on_binder(names: tuple[str, ...]) -> tuple[nbformat.NotebookNode, dict]:
    """Run the code cells of ``names`` in one fresh kernel, as a Binder reader would: one CPU, the light setting.

    Returns the executed notebook and what its kernel measured: its
    environment, peak resident memory (KiB) and the wall time of the cells.
    """
    first = [
        nbformat.v4.new_code_cell(  # names a notebook will not reuse
            "import os as _binder_os, time as _binder_time\n"
            f"_binder_os.sched_setaffinity(0, {{{min(os.sched_getaffinity(0))}}})\n"
            "_binder_start = _binder_time.perf_counter()"
        )
    ]
    cells = []
    for name in names:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        cells += [cell for cell in notebook.cells if cell.cell_type == "code"]
    # The kernel's own peak: VmHWM of its memory map. (getrusage's ru_maxrss keeps the resident size of the
    # process it was started from, here pytest's, across exec: it can report pytest's size, not the kernel's.)
    last = [
        nbformat.v4.new_code_cell(
            "import json as _binder_json, sys as _binder_sys\n"
            "_binder_hwm = next(int(line.split()[1]) for line in open('/proc/self/status') "
            "if line.startswith('VmHWM:'))\n"
            "print(_binder_json.dumps({'prefix': _binder_sys.prefix, 'maxrss_kib': _binder_hwm, "
            "'seconds': _binder_time.perf_counter() - _binder_start, "
            "'cpus': len(_binder_os.sched_getaffinity(0))}))"
        )
    ]
    combined = nbformat.v4.new_notebook(cells=first + cells + last, metadata=notebook.metadata)
    for cell in combined.cells:
        cell.outputs, cell.execution_count = [], None
    client = NotebookClient(
        combined,
        kernel_name="python3",
        timeout=1800,
        resources={
            "metadata": {"path": str(NOTEBOOKS)}
        },  # the kernel starts where JupyterLab would start it
    )
    client.execute(
        env={**os.environ, "CAM_TUTORIAL_LIGHT": "1"}
    )  # Binder's setting, from binder/start
    measured = json.loads(combined.cells[-1].outputs[0]["text"])
    assert Path(measured["prefix"]).resolve() == Path(sys.prefix).resolve(), (
        "the kernel must run in this environment"
    )
    assert measured["cpus"] == 1
    return combined, measured


@pytest.mark.slow
@pytest.mark.parametrize(
    "names", BINDER_RUNS, ids=lambda names: "+".join(name[:2] for name in names)
)
def test_each_notebook_runs_on_one_cpu_within_binder_memory(names):
    """Every notebook in its own kernel (01 + 04 also together, as a reader's first session), on one CPU.

    Notebook 03 trains the light recipe there and checks that its interval
    holds the light recipe's measured score; its scores and time are printed
    with the memory.
    """
    executed, measured = run_as_on_binder(names)
    peak_mib = measured["maxrss_kib"] / 1024
    print(
        f"\nBinder conditions, {' + '.join(names)}: peak RSS {peak_mib:.0f} MiB "
        f"(budget {BINDER_MEMORY_BUDGET_KIB / 1024:.0f} MiB), {measured['seconds']:.0f} s on one CPU"
    )
    if "03_train_the_network.ipynb" in names:
        outputs = "\n".join(
            str(output.get("text", output.get("data", {}).get("text/plain", "")))
            for cell in executed.cells
            for output in cell.outputs
        )
        assert re.search(r"^light: \d+ epochs of", outputs, re.M), (
            "notebook 03 must train the light recipe under CAM_TUTORIAL_LIGHT=1"
        )
        print(re.search(r"light recipe: 100% .*", outputs).group(0))
        print(
            re.search(
                r"exact_match\s+mean_average_precision.*\n\S+\s+([\d.]+)\s+([\d.]+)", outputs
            ).group(0)
        )
    assert measured["maxrss_kib"] < BINDER_MEMORY_BUDGET_KIB, (
        f"{' + '.join(names)} peak at {peak_mib:.0f} MiB; Binder gives 2 GB and we keep each kernel under 1.5 GiB"
    )
