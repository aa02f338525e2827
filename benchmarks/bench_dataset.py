"""Building the composites: our vectorised build against the study's figure-per-image way.

Run: ``.venv/bin/python benchmarks/bench_dataset.py``. Prints seconds and ratios.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from timing import best_of  # noqa: E402

from helpers import composite, dataset, fashion  # noqa: E402

STUDY_SAMPLE = 100  # composites drawn the study's way (it is slow)


def study_way(images, items_sources, folder: Path) -> None:
    """One matplotlib figure with four subplots per composite, saved as a 646x184 PNG."""
    for index, sources in enumerate(items_sources):
        figure, axes = plt.subplots(1, 4, figsize=(6.46, 1.84), dpi=100)
        for ax, source in zip(axes, sources, strict=True):
            ax.imshow(images[source], cmap="gray_r")
            ax.axis("off")
        figure.savefig(folder / f"{index:05d}.png")
        plt.close(figure)


def main() -> None:
    data = fashion.load()
    total = sum(composite.SPLIT_SIZES.values())
    in_memory = best_of(5, lambda: composite.standard_splits(data, 0))
    with tempfile.TemporaryDirectory() as tmp:
        splits = composite.standard_splits(data, 0)
        start = time.perf_counter()
        for split, built in splits.items():
            dataset.save(built, Path(tmp) / split, dataset.settings_for(split))
        on_disk = time.perf_counter() - start
        study_folder = Path(tmp) / "study"
        study_folder.mkdir()
        start = time.perf_counter()
        study_way(data[0][0], splits["train"].sources[:STUDY_SAMPLE], study_folder)
        study_per_image = (time.perf_counter() - start) / STUDY_SAMPLE
    study_total = study_per_image * total
    print(f"{total:,} composites (train + val + test), seed 0; best of 5 for in memory")
    print(f"{'method':<40}{'seconds':>9}{'study is slower by':>20}")
    print(
        f"{'ours, in memory (vectorised numpy)':<40}{in_memory:>9.2f}{study_total / in_memory:>19.0f}x"
    )
    print(
        f"{'ours, on disk (PNG + labels.csv + npz)':<40}{on_disk:>9.2f}{study_total / on_disk:>19.1f}x"
    )
    print(
        f"{'study: one matplotlib figure per image':<40}{study_total:>9.0f}   (timed on {STUDY_SAMPLE} images, scaled)"
    )


if __name__ == "__main__":
    main()
