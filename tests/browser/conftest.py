"""A throw-away JupyterLab server for the browser tests, always shut down."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import servers

ROOT = Path(__file__).resolve().parents[2]
JUPYTER = Path(sys.executable).parent / "jupyter"  # the one in the environment running the tests
SERVER_START_TIMEOUT_S = 90

# User settings for this server only: no autosave, so running the notebook in
# the browser never rewrites the committed file; every cell kept in the DOM;
# no "get Jupyter news?" toast over the screenshots.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its base URL, token and log file."""

    base_url: str
    token: str
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        return servers.tail(self.log, lines)


@pytest.fixture
def jupyter_lab(tmp_path) -> Lab:
    """JupyterLab from this environment, headless on 127.0.0.1, serving the repository root."""
    port, token = servers.free_port(), secrets.token_urlsafe(24)
    settings = tmp_path / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    log = tmp_path / "jupyter-lab.log"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),  # no user config leaks in
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "CAM_TUTORIAL_LIGHT": "1",  # as binder/start sets it
    }
    command = [
        str(JUPYTER),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands and read the model
        # nothing that reaches for the internet
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--ServerApp.allow_root=True")
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, log)
    try:
        try:
            servers.wait_until_answering(
                lambda: lab.url("api/status"), process, log, SERVER_START_TIMEOUT_S
            )
        except RuntimeError as error:
            pytest.fail(f"jupyter lab did not start: {error}")
        yield lab
    finally:
        servers.stop(process)
