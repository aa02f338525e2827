"""Keep TensorFlow's native start-up log lines out of notebook outputs.

TensorFlow's C++ core writes informational lines straight to file descriptor
2 ("Could not find cuda drivers", "XLA service ... initialized"), ignoring
``TF_CPP_MIN_LOG_LEVEL`` for some of them. Python warnings and exceptions do
not pass through descriptor 2 in a notebook kernel, so silencing it around
an import or a first compilation hides only that noise.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to ``/dev/null`` for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
