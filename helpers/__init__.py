"""Shared code for the multi-label Fashion-MNIST and CAM tutorial notebooks."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers.quiet import native_stderr_silenced  # noqa: E402

with native_stderr_silenced():
    import keras  # noqa: E402, F401  (imports TensorFlow once, quietly)
