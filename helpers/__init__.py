"""Shared code for the multi-label Fashion-MNIST and CAM tutorial notebooks."""

import os

# TensorFlow's C++ start-up chatter (CUDA probes, CPU feature notes) is not for readers.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
