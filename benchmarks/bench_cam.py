"""CAM cost: all 10 maps of the 1,000 test images, against one predict and the one-at-a-time way;
then the explorer's redraw after each kind of control change, against one predict of one canvas.

Run: ``.venv/bin/python benchmarks/bench_cam.py [--model models/gap_cnn.keras]``.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
from timing import best_of

from helpers import cam, dataset, explorer, model
from helpers.quiet import native_stderr_silenced

ONE_AT_A_TIME_SAMPLE = 20  # images timed the study's way, then scaled to all
MOVES = 20  # redraws timed per kind of change


def setters(control, values) -> list:
    """One function per move: set ``control`` to the next of ``values``."""
    return [lambda value=value: setattr(control, "value", value) for value in values]


def redraw_kinds(app: explorer.Explorer) -> list[tuple[str, dict, list]]:
    """Each kind of change: its name, the controls set before timing it, and ``MOVES`` moves.

    A move is a function, or a pair (``prepare``, ``move``) of which only the
    move is timed. A new composition is one not shown before, so its forward
    pass (or gradient) is timed with it. Covering a slot computes the covered
    canvas anew (its maps are forgotten before each move) while the canvas on
    screen keeps its maps, as when a reader covers a slot of what they see; a
    layer switch with a slot covered computes both canvases at the new layer,
    the slowest path there is. Every redraw draws the boxes and scores the
    maps shown (``helpers.localisation``).
    """
    products = range(1, MOVES + 1)

    def forget(keep) -> None:
        """Forget every computed map but those ``keep(key)`` accepts (microseconds)."""
        for key in [key for key in app.computed if not keep(key)]:
            del app.computed[key]

    def uncover() -> None:
        app.covers[1].value = False
        on_screen = app.shown()[0].image.tobytes()
        forget(lambda key: key[-1] == on_screen)

    def cover() -> None:
        app.covers[1].value = True

    def back_to_last_conv() -> None:
        app.covers[1].value = True
        app.layer.value = model.LAST_CONV
        forget(lambda key: key[0] == "CAM")

    def to_block1() -> None:
        app.layer.value = "block1_relu1"

    def boxes() -> None:
        app.boxes.value = not app.boxes.value

    return [
        ("test image by number (CAM, precomputed)", {}, setters(app.image, range(1, MOVES + 1))),
        (
            "test image by number, raw scale (its limits change)",
            {"scale": "raw"},
            setters(app.image, range(1, MOVES + 1)),
        ),
        (
            "scale (the colour bar drawn again)",
            {},
            setters(app.scale, [("per map", "raw", "per image")[i % 3] for i in range(MOVES)]),
        ),
        (
            "opacity (the colour bar drawn again)",
            {},
            setters(app.opacity, [0.3 + 0.05 * (i % 8) for i in range(MOVES)]),
        ),
        ("view", {}, setters(app.mode, [explorer.VIEWS[(i + 1) % 2] for i in range(MOVES)])),
        ("source", {}, setters(app.source, [explorer.SOURCES[(i + 1) % 2] for i in range(MOVES)])),
        (
            "next in a filter (CAM maps off their product)",
            {"show": explorer.OFF_PRODUCT},
            setters(app.position, range(2, MOVES + 2)),
        ),
        ("boxes off or on", {}, [boxes] * MOVES),
        (
            "label",
            {},
            [
                lambda i=i: setattr(app.label, "value", app.label.options[i % 9 + 1][1])
                for i in range(MOVES)
            ],
        ),
        (
            "filter",
            {},
            setters(
                app.show, [explorer.FILTERS[i % 5 + 1] if i % 2 else "all" for i in range(MOVES)]
            ),
        ),
        (
            "new composition (CAM: a forward pass)",
            {"source": "composed"},
            setters(app.slot_products[0], products),
        ),
        (
            "cover a slot (CAM of the covered canvas)",
            {"source": "composed"},
            [(uncover, cover)] * MOVES,
        ),
        (
            "cover a slot (Grad-CAM at block1_relu1 of the covered canvas)",
            {"source": "composed", "method": "Grad-CAM", "layer": "block1_relu1"},
            [(uncover, cover)] * MOVES,
        ),
        (
            "layer switch with a slot covered (Grad-CAM at block1_relu1 of both canvases)",
            {"source": "composed", "method": "Grad-CAM"},
            [(back_to_last_conv, to_block1)] * MOVES,
        ),
        ("seed of a composition (CAM)", {"source": "composed"}, setters(app.seed, products)),
        (
            "method switch",
            {"source": "composed"},
            setters(app.method, [("Grad-CAM", "Grad-CAM++", "CAM")[i % 3] for i in range(MOVES)]),
        ),
        (
            "new composition (Grad-CAM: + a gradient)",
            {"source": "composed", "method": "Grad-CAM"},
            setters(app.slot_products[1], products),
        ),
        (
            "new composition (Grad-CAM++)",
            {"source": "composed", "method": "Grad-CAM++"},
            setters(app.slot_products[2], products),
        ),
        (
            "new composition (Grad-CAM at block1_relu1)",
            {"source": "composed", "method": "Grad-CAM", "layer": "block1_relu1"},
            setters(app.slot_products[3], products),
        ),
        (
            "Figure 2 view, new test image (CAM)",
            {"mode": "Figure 2"},
            setters(app.image, range(100, 100 + MOVES)),
        ),
        (
            "Figure 2 view, new composition (Grad-CAM)",
            {"mode": "Figure 2", "source": "composed", "method": "Grad-CAM"},
            setters(app.slot_products[0], range(100, 100 + MOVES)),
        ),
        (
            "Figure 2 view, cover a slot (CAM of the covered canvas)",
            {"mode": "Figure 2", "source": "composed"},
            [(uncover, cover)] * MOVES,
        ),
        (
            "Figure 2 view, maps of other labels",
            {"mode": "Figure 2"},
            setters(app.pick, [explorer.FIGURE2_LABELS[(i + 1) % 3] for i in range(MOVES)]),
        ),
    ]


def time_redraws(app: explorer.Explorer) -> list[tuple[str, float, float]]:
    """Median and slowest redraw (s) per kind of change, each from the explorer's starting state."""
    results = []
    for name, settings, moves in redraw_kinds(app):
        for button in app.covers:
            button.value = False
        for control, value in {
            "show": "all",
            "source": "test split",
            "mode": "one label",
            "method": "CAM",
            "layer": model.LAST_CONV,
            "boxes": True,
            "pick": explorer.FIGURE2_LABELS[0],
            "scale": "per image",
            "opacity": 0.6,
            **settings,
        }.items():
            getattr(app, control).value = value
        times = []
        for move in moves:
            if isinstance(move, tuple):
                prepare, move = move
                prepare()
            start = time.perf_counter()
            move()
            times.append(time.perf_counter() - start)
        results.append((name, float(np.median(times)), max(times)))
    return results


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
        one_at_a_time = (
            best_of(1, lambda: study_way(network, images[:ONE_AT_A_TIME_SAMPLE]))
            * len(images)
            / ONE_AT_A_TIME_SAMPLE
        )
        one_canvas = best_of(20, lambda: network.predict(images[:1], verbose=0))
        app = explorer.explore(network, test)
        redraws = time_redraws(app)
    print(f"{len(images):,} test images, 10 classes each; best of 3")
    print(f"{'one model.predict':<44}{predict:>8.2f} s   1.00x")
    print(
        f"{'all-class CAMs (one pass + one einsum)':<44}{all_maps:>8.2f} s   {all_maps / predict:.2f}x predict"
    )
    print(
        f"{'study: one image and one class at a time':<44}{one_at_a_time:>8.1f} s   "
        f"{one_at_a_time / all_maps:.0f}x slower than ours (timed on {ONE_AT_A_TIME_SAMPLE} images)"
    )
    print(
        f"\nexplorer redraw per kind of change ({MOVES} moves each), against one model.predict "
        f"of one canvas ({one_canvas * 1e3:.0f} ms, best of 20)"
    )
    width = max(len(name) for name, _, _ in redraws) + 2
    for name, median, slowest in redraws:
        print(
            f"{name:<{width}}median {median * 1e3:>5.0f} ms ({median / one_canvas:.1f}x one predict), "
            f"slowest {slowest * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
