"""Shared timing helper for the benchmark scripts (run them as files: the folder is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(repeats: int, function: Callable[[], object]) -> float:
    """Run ``function`` ``repeats`` times and return the fastest wall time in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
