"""The named recipes and what a Recipe accepts."""

from __future__ import annotations

import dataclasses

import pytest

from helpers import recipes


def test_recipes_use_the_non_negative_head_except_the_study_and_the_head_comparison():
    signed = {name for name, recipe in recipes.RECIPES.items() if not recipe.non_negative_head}
    assert signed == {"study", "quick"}
    assert recipes.RECIPES["default"].build().get_layer("predictions").kernel_constraint is not None
    assert recipes.RECIPES["study"].build().get_layer("predictions").kernel_constraint is None


def test_a_recipe_builds_its_head():
    softmax = dataclasses.replace(recipes.RECIPES["quick"], head="softmax")
    assert softmax.build().get_layer("predictions").activation.__name__ == "softmax"
    assert (
        recipes.RECIPES["quick"].build().get_layer("predictions").activation.__name__ == "sigmoid"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer; got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer; got 2.5"),
        (
            {"composites_per_epoch": True},
            "composites_per_epoch must be a positive integer; got True",
        ),
        ({"learning_rate": 0}, "learning_rate must be a positive number; got 0"),
        ({"head": "relu"}, r"head must be one of \('softmax', 'sigmoid'\); got 'relu'"),
        ({"optimizer": "sgd"}, r"optimizer must be one of \('adamw', 'adam'\); got 'sgd'"),
        (
            {"head": "softmax"},
            "head='softmax' trains on the fixed composites only; set fresh_composites=False",
        ),
        (
            {"flip": True, "fresh_composites": False},
            "flip mirrors the fresh composites; set fresh_composites=True",
        ),
        (
            {"patience": 3, "keep_best_epoch": False},
            "patience stops at the best validation epoch; it needs keep_best_epoch=True",
        ),
    ],
)
def test_a_recipe_refuses_what_it_cannot_train(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(recipes.RECIPES["default"], **change)


def test_light_recipe_is_chosen_by_the_environment(monkeypatch):
    monkeypatch.setenv(recipes.LIGHT_ENV, "1")
    assert recipes.recipe_for_this_machine() == ("light", recipes.RECIPES["light"])
    monkeypatch.delenv(recipes.LIGHT_ENV)
    assert recipes.recipe_for_this_machine() == ("default", recipes.RECIPES["default"])


def test_every_recipe_notebook_03_can_train_has_measured_scores_to_compare():
    # what recipe_for_this_machine can choose
    assert set(recipes.SEED_SCORES) == {"default", "light"}
    for scores in recipes.SEED_SCORES.values():
        assert scores and all(0.5 < score < 1 for score in scores)
    assert max(recipes.SEED_SCORES["light"]) < min(recipes.SEED_SCORES["default"])


def test_the_command_line_offers_every_recipe(capsys):
    from helpers.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    offered = capsys.readouterr().out.split("--recipe {", 1)[1].split("}", 1)[0]
    assert sorted(offered.split(",")) == sorted(recipes.RECIPES)
