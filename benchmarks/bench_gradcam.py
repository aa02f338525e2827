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


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(dataset.PROJECT_ROOT / "models" / "gap_cnn.keras"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    network = model.load(args.model)
    images = dataset.load_splits()["test"].images
    top = np.argmax(network.predict(images, batch_size=250, verbose=0), axis=1)  # one class per image
    earlier = gradcam.feature_layers(network)["layer"].iloc[-4]
    runs = {
        "CAM, all classes": lambda: cam.class_activation_maps(network, images, "per_map"),
        "Grad-CAM, all classes": lambda: gradcam.grad_cam(network, images, "all"),
        "Grad-CAM, one class per image": lambda: gradcam.grad_cam(network, images, top),
        "Grad-CAM++, all classes": lambda: gradcam.grad_cam(network, images, "all", method="grad_cam_pp"),
        f"Grad-CAM at {earlier}, all classes": lambda: gradcam.grad_cam(network, images, "all", layer=earlier),
    }
    with native_stderr_silenced():
        for run in runs.values():  # build each sub-model once, outside the timings
            run()
        seconds = {name: best_of(args.repeats, run) for name, run in runs.items()}
    base = seconds["CAM, all classes"]
    print(f"{len(images):,} test images; best of {args.repeats}")
    for name, value in seconds.items():
        print(f"{name:<44}{value:>8.2f} s   {value / base:5.2f}x CAM")


if __name__ == "__main__":
    main()
