"""Grad-CAM cost against CAM on the 1,000 test images: all ten classes, and one class per image.

CAM needs one forward pass and one einsum; Grad-CAM adds a backward pass per
class (ten for all classes, one when each image asks for one class).

Run: ``.venv/bin/python benchmarks/bench_gradcam.py [--model models/gap_cnn.keras] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from helpers import cam, dataset, gradcam, model
from helpers.quiet import native_stderr_silenced


def interleaved_best(repeats: int, runs: dict) -> dict[str, float]:
    """Best time of each run over ``repeats`` rounds, the runs taking turns (fair on a busy machine)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, function in runs.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(dataset.PROJECT_ROOT / "models" / "gap_cnn.keras"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    network = model.load(args.model)
    images = dataset.load_splits()["test"].images
    top = np.argmax(
        network.predict(images, batch_size=250, verbose=0), axis=1
    )  # one class per image
    layers = gradcam.feature_layers(network)
    earlier = layers.loc[layers["type"] == "ReLU", "layer"].iloc[
        -1
    ]  # the last ReLU before last_conv
    runs = {  # each takes the number of images to use
        "CAM, all classes": lambda n: cam.class_activation_maps(network, images[:n], "per_map"),
        "Grad-CAM, all classes": lambda n: gradcam.grad_cam(network, images[:n], "all"),
        "Grad-CAM, one class per image": lambda n: gradcam.grad_cam(network, images[:n], top[:n]),
        "Grad-CAM++, all classes": lambda n: gradcam.grad_cam(
            network, images[:n], "all", method="grad_cam_pp"
        ),
        f"Grad-CAM at {earlier}, all classes": lambda n: gradcam.grad_cam(
            network, images[:n], "all", layer=earlier
        ),
    }
    with native_stderr_silenced():
        for run in runs.values():
            run(10)  # warm up: the first call builds the sub-models
        seconds = interleaved_best(
            args.repeats, {name: (lambda run=run: run(len(images))) for name, run in runs.items()}
        )
    base = seconds["CAM, all classes"]
    print(f"{len(images):,} test images; best of {args.repeats} interleaved rounds")
    for name, value in seconds.items():
        print(f"{name:<44}{value:>8.2f} s   {value / base:5.2f}x CAM")


if __name__ == "__main__":
    main()
