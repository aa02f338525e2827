"""Keep TensorFlow's native start-up log lines, and its retracing warnings, out of notebook outputs.

TensorFlow's C++ core writes informational lines straight to file descriptor
2 ("Could not find cuda drivers", "XLA service ... initialized"), ignoring
``TF_CPP_MIN_LOG_LEVEL`` for some of them. Python warnings and exceptions do
not pass through descriptor 2 in a notebook kernel, so silencing it around
an import or a first compilation hides only that noise.
"""

from __future__ import annotations

import contextlib
import logging
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


@contextlib.contextmanager
def tensorflow_warnings_silenced() -> Iterator[None]:
    """Drop TensorFlow's Python-side warnings for the duration of the block.

    For calls that trace a ``tf.function`` on purpose, once per layer:
    TensorFlow counts those traces together and warns of "excessive
    retracing" from the fifth on.
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
