"""CAM cost: all 10 maps of the 1,000 test images, against one predict and the one-at-a-time way.

Run: ``.venv/bin/python benchmarks/bench_cam.py [--model models/gap_cnn.keras]``.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from helpers import cam, dataset, explorer, model
from helpers.quiet import native_stderr_silenced
from timing import best_of

ONE_AT_A_TIME_SAMPLE = 20  # images timed the study's way, then scaled to all


def study_way(network: keras.Model, images: np.ndarray) -> None:
    """One image and one class at a time: a forward pass per map, as in the study's code."""
    both = keras.Model(network.input, [network.get_layer(model.LAST_CONV).output, network.output])
    weights = network.layers[-1].get_weights()[0]
    for image in images:
        for c in range(10):
            features, _ = both.predict(image[None], verbose=0)
            small = features[0] @ weights[:, c]
            cam.upsample(small[None, :, :, None], image.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(dataset.PROJECT_ROOT / "models" / "gap_cnn.keras"))
    args = parser.parse_args()
    network = model.load(args.model)
    test = dataset.load_splits()["test"]
    images = test.images
    with native_stderr_silenced():
        network.predict(images[:10], verbose=0)  # compile once, outside the timings
        cam.class_activation_maps(network, images[:10])
        predict = best_of(3, lambda: network.predict(images, batch_size=250, verbose=0))
        all_maps = best_of(3, lambda: cam.class_activation_maps(network, images))
        one_at_a_time = best_of(1, lambda: study_way(network, images[:ONE_AT_A_TIME_SAMPLE])) * len(images) / ONE_AT_A_TIME_SAMPLE
    app = explorer.explore(network, test)
    redraws = []
    for index in range(1, 41):
        start = time.perf_counter()
        app.image.value = index
        redraws.append(time.perf_counter() - start)
    print(f"{len(images):,} test images, 10 classes each; best of 3")
    print(f"{'one model.predict':<44}{predict:>8.2f} s   1.00x")
    print(f"{'all-class CAMs (one pass + one einsum)':<44}{all_maps:>8.2f} s   {all_maps / predict:.2f}x predict")
    print(f"{'study: one image and one class at a time':<44}{one_at_a_time:>8.1f} s   {one_at_a_time / all_maps:.0f}x slower than ours (timed on {ONE_AT_A_TIME_SAMPLE} images)")
    print(f"explorer redraw after an image change: median {np.median(redraws) * 1e3:.0f} ms, max {max(redraws) * 1e3:.0f} ms over {len(redraws)} moves")


if __name__ == "__main__":
    main()
