"""Command line: ``python -m helpers data | train | evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from helpers.dataset import DEFAULT_ROOT
from helpers.recipes import RECIPES


def _data(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from helpers import dataset

    start = time.perf_counter()
    written = dataset.build(
        args.out,
        args.seed,
        items_per_image=args.items,
        variable_count=args.variable_count,
        progress=lambda it: tqdm(it, desc="writing", unit="img", leave=False),
    )
    counts = ", ".join(
        f"{split} {len(list(folder.glob('*.png')))}" for split, folder in written.items()
    )
    print(
        f"wrote {counts} composites to {args.out} (seed {args.seed}) in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from helpers import runs

    info = runs.train_and_save(args.recipe, args.out, seed=args.seed, data_root=args.data)
    print(json.dumps(info["test_metrics"], indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from helpers import runs

    print(json.dumps(runs.evaluate_file(args.model, args.data, seed=args.seed), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers",
        description="Build the multi-label Fashion-MNIST dataset, train and evaluate the GAP network.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser(
        "data",
        help="build the train/val/test composites from the real Fashion-MNIST",
        description="Build 9,000 train, 1,000 val and 1,000 test composites (PNG + labels.csv + "
        "arrays.npz per split) from the real Fashion-MNIST, leak-free and reproducible.",
    )
    data.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_ROOT,
        help="folder that receives train/, val/ and test/ (default: %(default)s)",
    )
    data.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the same seed gives identical files (default: %(default)s)",
    )
    data.add_argument(
        "--items",
        type=int,
        default=4,
        choices=range(1, 5),
        metavar="{1..4}",
        help="products per composite (default: %(default)s)",
    )
    data.add_argument(
        "--variable-count",
        action="store_true",
        help="a random number of products (1 to --items) per composite",
    )
    data.set_defaults(run=_data)

    train = commands.add_parser(
        "train",
        help="train the GAP network and save it with its history and test metrics",
        description="Train the GAP network on the standard splits (built if missing in the default "
        "--data folder; any other is only read), keep the best "
        "validation epoch (where the recipe keeps it), and write MODEL.keras plus MODEL.json "
        "(recipe, seed, time, machine, history, test metrics).",
    )
    train.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="default",
        help="training recipe (default: %(default)s)",
    )
    train.add_argument(
        "--out",
        type=Path,
        default=Path("models") / "gap_cnn.keras",
        help="model file to write (default: %(default)s)",
    )
    train.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_ROOT,
        help="dataset folder to read: it must hold train/, val/ and test/, except the default, "
        "which is built where missing (default: %(default)s)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the data and the training (default: %(default)s)",
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="print a model's test metrics as JSON",
        description="Evaluate a saved model on the standard test split (32 x 128 canvases, the size "
        "the network is trained on) and print the report as JSON.",
    )
    evaluate.add_argument(
        "--model", type=Path, required=True, help="a .keras file to read (its .json record too)"
    )
    evaluate.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_ROOT,
        help="dataset folder to read: it must hold test/, except the default, which is built "
        "where missing (default: %(default)s)",
    )
    evaluate.add_argument(
        "--seed", type=int, default=0, help="seed the dataset was built with (default: %(default)s)"
    )
    evaluate.set_defaults(run=_evaluate)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (
        OSError,
        ValueError,
    ) as error:  # OSError: missing, existing, unreadable or unwritable files
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
