"""Training recipes: the :class:`Recipe` dataclass and the named recipes of the series.

A recipe says *what* a training run does (network, data, schedule, head);
:func:`helpers.training.train` does it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import keras

from helpers._checks import check_choice, check_scalar
from helpers.activations import HEADS
from helpers.model import build_gap_cnn

OPTIMIZERS = ("adamw", "adam")
LIGHT_ENV = "CAM_TUTORIAL_LIGHT"


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run, besides the seed.

    Attributes
    ----------
    blocks, last_filters, top, batch_norm, fold, non_negative_head
        The architecture, as in :func:`helpers.model.build_gap_cnn`.
    head : {"sigmoid", "softmax"}
        The output activation; each trains with its loss (see
        :data:`helpers.activations.HEADS`). Softmax only for notebook 02's
        comparison, on the fixed composites.
    epochs : int
        Passes over ``composites_per_epoch`` composites (or over the fixed
        training composites).
    batch_size : int
    learning_rate : float
        Adam's fixed rate, or the peak rate of AdamW, reached after a
        one-epoch warm-up and decayed to zero along a cosine.
    weight_decay : float
        AdamW's weight decay.
    fresh_composites : bool
        Draw new training composites every epoch from the training pool
        (54,000 products) instead of reusing the fixed 9,000.
    composites_per_epoch : int
    flip : bool
        Mirror each product of the fresh composites left-right with
        probability 1/2 (:func:`helpers.composite.flip_products`).
    keep_best_epoch : bool
        Hand back the weights of the epoch with the best validation exact
        match (True) or those of the last epoch (False).
    patience : int or None
        Stop after this many epochs without a better validation exact match
        (needs ``keep_best_epoch``).
    optimizer : {"adamw", "adam"}
        AdamW with warm-up and cosine decay, or plain Adam at a fixed rate.
    bfloat16 : bool
        Compute in bfloat16 while training, where the processor has bfloat16
        instructions (see :func:`helpers.training.training_dtype`); the trained
        network is handed back in float32 either way.
    """

    blocks: tuple[tuple[int, ...], ...] = ((32, 48), (96,))
    last_filters: int = 192
    top: tuple[int, ...] = (128,)
    batch_norm: bool = True
    fold: int = 2
    non_negative_head: bool = True
    head: str = "sigmoid"
    epochs: int = 80
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    fresh_composites: bool = True
    composites_per_epoch: int = 9_000
    flip: bool = False
    keep_best_epoch: bool = True
    patience: int | None = None
    optimizer: str = "adamw"
    bfloat16: bool = True

    def __post_init__(self) -> None:
        for name in ("last_filters", "fold", "epochs", "batch_size", "composites_per_epoch"):
            check_scalar(getattr(self, name), name, low=1)
        if self.patience is not None:
            check_scalar(self.patience, "patience", low=1)
        check_scalar(self.learning_rate, "learning_rate", float, low=0, open_low=True)
        check_scalar(self.weight_decay, "weight_decay", float, low=0)
        check_choice(self.head, "head", HEADS)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if self.head == "softmax" and self.fresh_composites:
            raise ValueError(
                "head='softmax' trains on the fixed composites only; set fresh_composites=False"
            )
        if self.flip and not self.fresh_composites:
            raise ValueError("flip mirrors the fresh composites; set fresh_composites=True")
        if self.patience is not None and not self.keep_best_epoch:
            raise ValueError(
                "patience stops at the best validation epoch; it needs keep_best_epoch=True"
            )

    def build(self, dtype: str = "float32") -> keras.Model:
        """Build this recipe's (uncompiled) network with the Keras dtype policy ``dtype``."""
        return build_gap_cnn(
            self.blocks,
            self.last_filters,
            self.top,
            self.batch_norm,
            self.fold,
            head_activation=self.head,
            non_negative_head=self.non_negative_head,
            dtype=dtype,
        )


RECIPES: dict[str, Recipe] = {
    "default": Recipe(),
    # Binder's single CPU: a third of the composites per epoch, 50 epochs.
    "light": Recipe(epochs=50, composites_per_epoch=3_000),
    # The shipped model: wider (2.2 M parameters), a first block at full resolution
    # instead of the fold (fine detail: 0.743 against 0.709 for the default's
    # layers, benchmarks/README.md), trained longer.
    "best": Recipe(
        blocks=((32,), (48, 96), (192,)), fold=1, top=(384,), last_filters=384, epochs=128
    ),
    # Notebook 02's head comparison: a small network, three passes over the fixed
    # 9,000 composites with Adam; enough to compare heads, far from finished.
    "quick": Recipe(
        blocks=((16, 32), (64,)),
        last_filters=128,
        top=(),
        non_negative_head=False,
        epochs=3,
        batch_size=32,
        weight_decay=0.0,
        fresh_composites=False,
        keep_best_epoch=False,
        optimizer="adam",
        bfloat16=False,
    ),
    # The 2018 study: 5 x [Conv2D(32) + MaxPool] -> GAP -> Dense; Adam, batch 32, fixed composites.
    "study": Recipe(
        blocks=((32,), (32,), (32,), (32,)),
        last_filters=32,
        top=(),
        batch_norm=False,
        fold=1,
        non_negative_head=False,
        epochs=100,
        batch_size=32,
        learning_rate=1e-3,
        weight_decay=0.0,
        fresh_composites=False,
        patience=10,
        optimizer="adam",
    ),
}


SEED_SCORES: dict[str, tuple[float, ...]] = {
    # 80 epochs on data seed 0, training seeds 0, 1, 2 (benchmarks/bench_training.py --search).
    "default": (0.706, 0.712, 0.709),
    # 50 epochs of 3,000, data and training seed 0: 0.622 in bfloat16 on a 2-core AMD EPYC,
    # 0.623 in float32 (tests/test_binder.py's run, as on Binder).
    "light": (0.622, 0.623),
}
"""Test exact match measured for each recipe notebook 03 can train; a run's 95 % interval should hold them."""


def recipe_for_this_machine() -> tuple[str, Recipe]:
    """Return the recipe notebook 03 trains: ``light`` where ``CAM_TUTORIAL_LIGHT=1`` (Binder), else ``default``."""
    name = "light" if os.environ.get(LIGHT_ENV) == "1" else "default"
    return name, RECIPES[name]
