"""The set-up a reader runs first: `make lab` in a root shell or not, and the supported Pythons."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import servers

ROOT = Path(__file__).resolve().parent.parent
LAB_START_TIMEOUT_S = 90


def supported_pythons() -> list[str]:
    """The Makefile's SUPPORTED_PYTHONS, e.g. ["3.13", "3.12", "3.11"]."""
    return (
        re.search(r"^SUPPORTED_PYTHONS := (.+)$", (ROOT / "Makefile").read_text(), re.M)
        .group(1)
        .split()
    )


def test_supported_pythons_agree_in_the_makefile_pyproject_readme_and_binder():
    versions = sorted(supported_pythons(), key=lambda v: tuple(map(int, v.split("."))))
    assert versions == ["3.11", "3.12", "3.13"]
    lowest, highest = versions[0], versions[-1]
    next_minor = f"3.{int(highest.split('.')[1]) + 1}"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={lowest},<{next_minor}"
    assert f"Python {', '.join(versions[:-1])} or {highest}" in (ROOT / "README.md").read_text()
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() in {
        f"python-{v}" for v in versions
    }


def fake_python(folder: Path, version: str) -> Path:
    """A stand-in interpreter that reports ``version`` and fails every ``-c`` check."""
    path = folder / "python"
    path.write_text(
        f'#!/bin/sh\n[ "$1" = --version ] && echo "Python {version}" && exit 0\nexit 1\n'
    )
    path.chmod(0o755)
    return path


def test_make_refuses_an_unsupported_python_and_names_the_supported_ones(tmp_path):
    result = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            "python-check",
            f"PYTHON={fake_python(tmp_path, '3.10.13')}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "this project needs one of Python 3.13 3.12 3.11" in result.stderr
    assert (
        "is Python 3.10.13" in result.stderr and "make PYTHON=/path/to/python3.12" in result.stderr
    )


def test_make_accepts_the_python_running_the_tests():
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "python-check", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_make_lab_serves_jupyterlab_on_loopback_with_a_token(tmp_path):
    """`make lab` from a fresh copy of the set-up files, with this environment as its .venv; root or not."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for name in ("Makefile", "requirements.txt", "requirements-test.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, fresh / name)
    shutil.copytree(
        ROOT / "notebooks", fresh / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    (tmp_path / "dataset" / "test").mkdir(
        parents=True
    )  # the data step sees a built dataset and leaves it
    venv = Path(sys.prefix)
    port, log = servers.free_port(), tmp_path / "make-lab.log"
    command = [
        "make",
        "-C",
        str(fresh),
        "lab",
        f"VENV={venv}",
        "-o",
        f"{venv}/.installed",
        f"DATASET={tmp_path / 'dataset'}",
        f"LAB_PORT={port}",
        "LAB_ARGS=--no-browser --ServerApp.port_retries=0",
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    def printed_url() -> str | None:
        found = re.search(
            rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", log.read_text(errors="replace")
        )
        return found and f"http://127.0.0.1:{port}/api/status?token={found.group(1)}"

    try:
        status = servers.wait_until_answering(printed_url, process, log, LAB_START_TIMEOUT_S)
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(status.split("?")[0], timeout=5)  # no token, no entry
        assert ("--allow-root" in log.read_text()) == (os.geteuid() == 0)
    finally:
        servers.stop(process)


def requirement_lines(path: Path) -> list[str]:
    """Non-blank lines of a requirements file, comments removed."""
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]


def test_test_only_packages_stay_out_of_what_a_reader_installs():
    reader = {line.split("==")[0] for line in requirement_lines(ROOT / "requirements.txt")}
    test_lines = requirement_lines(ROOT / "requirements-test.txt")
    assert test_lines[0] == "-r requirements.txt"  # the notebooks' pins, included, never copied
    test_only = {line.split("==")[0] for line in test_lines[1:]}
    assert all(line.count("==") == 1 for line in test_lines[1:])
    assert test_only == {"nbval", "pytest", "psutil", "playwright", "ruff"}
    assert not test_only & reader
