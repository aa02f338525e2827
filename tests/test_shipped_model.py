"""The shipped model reproduces the test metrics recorded beside it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from helpers import dataset, model, recipes, runs

SHIPPED = dataset.PROJECT_ROOT / "models" / "gap_cnn.keras"


@pytest.fixture(scope="module")
def record():
    return json.loads(SHIPPED.with_suffix(".json").read_text())


@pytest.mark.slow  # the shipped 2.2 M-parameter network on the whole test split
def test_shipped_model_reproduces_its_recorded_test_metrics(splits, record):
    network = model.load(SHIPPED)
    measured = runs.metrics_record(network, splits["test"])
    for name in (
        "exact_match",
        "mean_average_precision",
        "per_label_accuracy",
        "micro_f1",
        "label_count_accuracy",
    ):
        assert measured[name] == pytest.approx(record["test_metrics"][name], abs=2e-3), name


@pytest.mark.slow
def test_shipped_model_reproduces_its_recorded_localisation(splits, record):
    measured = runs.localisation_record(model.load(SHIPPED), splits["test"])
    assert measured == pytest.approx(record["test_localisation"], abs=2e-3)


def test_record_says_how_the_model_was_made(record):
    assert record["recipe_name"] in recipes.RECIPES
    assert record["recipe"] == json.loads(
        json.dumps(dataclasses.asdict(recipes.RECIPES[record["recipe_name"]]))
    )
    assert {
        "seed",
        "canvas",
        "training_seconds",
        "machine",
        "training_dtype",
        "history",
        "test_metrics",
        "test_localisation",
        "val_thresholds",
    } <= set(record)
    assert record["machine"]["device"] in ("CPU", "GPU")
    assert record["training_dtype"] in ("float32", "mixed_bfloat16")
    assert record["canvas"] == [32, 128]  # what evaluate checks before scoring the test split


def test_shipped_model_has_the_cam_head():
    network = model.load(SHIPPED)
    assert [layer.name for layer in network.layers[-3:]] == ["last_conv", "gap", "predictions"]


@pytest.mark.slow
def test_evaluate_command_prints_the_report_as_json(record, capsys):
    from helpers.__main__ import main

    # the default --data: the project's own dataset, built there if missing (any other is only read)
    assert main(["evaluate", "--model", str(SHIPPED)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["exact_match"] == pytest.approx(record["test_metrics"]["exact_match"], abs=2e-3)
    assert set(printed["per_class"]) == set(record["test_metrics"]["per_class"])
