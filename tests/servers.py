"""Starting and stopping throw-away local servers in tests (JupyterLab), always on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True``, its group, then anything it
    started (kernels run in their own sessions)."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    for sig, grace_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    for child in descendants:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(descendants, timeout=10)


def wait_until_answering(
    url: Callable[[], str | None], process: subprocess.Popen, log: Path, timeout_s: float
) -> str:
    """Poll ``url()`` (None while it is not known yet) until it answers 200; return it, or raise with the log's tail."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{tail(log)}")
        address = url()
        if address:
            try:
                with urllib.request.urlopen(address, timeout=5) as response:
                    if response.status == 200:
                        return address
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer within {timeout_s} s:\n{tail(log)}")
        time.sleep(0.5)


def tail(log: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file."""
    return (
        "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        if log.exists()
        else "(no log)"
    )
