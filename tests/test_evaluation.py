"""Multi-label metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import evaluation


@pytest.fixture
def toy():
    y_true = np.zeros((4, 10), int)
    y_true[0, [1, 3]] = 1
    y_true[1, [2]] = 1
    y_true[2, [0, 5, 9]] = 1
    y_true[3, [4]] = 1
    y_prob = y_true * 0.9 + 0.05
    y_prob[3, 4] = 0.3  # a missed label
    y_prob[1, 7] = 0.8  # a false positive
    return y_true, y_prob


def test_exact_match_counts_whole_label_sets(toy):
    result = evaluation.report(*toy)
    assert result["exact_match"] == pytest.approx(0.5)


def test_per_label_accuracy_and_hamming_loss_by_hand(toy):
    result = evaluation.report(*toy)
    assert result["hamming_loss"] == pytest.approx(2 / 40)
    assert result["per_label_accuracy"] == pytest.approx(38 / 40)
    assert result["all_negative_accuracy"] == pytest.approx(1 - 7 / 40)


def test_label_count_accuracy(toy):
    assert evaluation.report(*toy)["label_count_accuracy"] == pytest.approx(0.5)


def test_micro_precision_and_recall(toy):
    result = evaluation.report(*toy)
    assert result["micro_precision"] == pytest.approx(6 / 7)
    assert result["micro_recall"] == pytest.approx(6 / 7)


def test_per_class_table_names_classes(toy):
    table = evaluation.report(*toy)["per_class"]
    assert table.index[1] == "Trouser" and table.loc["Coat", "recall"] == 0.0


def test_perfect_predictions_score_one(toy):
    y_true, _ = toy
    result = evaluation.report(y_true, y_true.astype(float))
    assert result["exact_match"] == result["mean_average_precision"] == result["micro_f1"] == 1.0


def test_per_class_thresholds_change_predictions(toy):
    y_true, y_prob = toy
    thresholds = np.full(10, 0.5)
    thresholds[4] = 0.25
    assert evaluation.report(y_true, y_prob, thresholds)["micro_recall"] == pytest.approx(1.0)


def test_tuned_thresholds_maximise_each_class_f1(toy):
    y_true, y_prob = toy
    thresholds = evaluation.tune_thresholds(y_true, y_prob)
    assert thresholds.shape == (10,)
    assert 0.05 < thresholds[4] <= 0.3  # recovers the label predicted at 0.3
    assert evaluation.report(y_true, y_prob, thresholds)["per_class"].loc["Coat", "f1"] == 1.0


@pytest.mark.parametrize(
    ("y_true", "y_prob", "message"),
    [
        (np.zeros((3, 9)), np.zeros((3, 9)), r"y_true must have shape \(N, 10\); got \(3, 9\)"),
        (np.zeros((3, 10)), np.zeros((2, 10)), r"y_prob must have shape \(3, 10\); got \(2, 10\)"),
        (np.full((3, 10), 2), np.zeros((3, 10)), "y_true must hold only 0 and 1"),
        (np.zeros((3, 10)), np.full((3, 10), 1.5), r"y_prob must hold probabilities in \[0, 1\]"),
    ],
)
def test_bad_inputs_are_refused(y_true, y_prob, message):
    with pytest.raises(ValueError, match=message):
        evaluation.report(y_true, y_prob)


def test_bad_threshold_is_refused(toy):
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        evaluation.report(*toy, threshold=1.0)


# --- decoding and threshold choice ------------------------------------------------


def test_decode_threshold_keeps_labels_at_or_above_it():
    y_prob = np.full((1, 10), 0.1)
    y_prob[0, [2, 5]] = [0.5, 0.7]
    np.testing.assert_array_equal(
        np.flatnonzero(evaluation.decode_threshold(y_prob, 0.5)[0]), [2, 5]
    )
    per_class = np.full(10, 0.6)
    np.testing.assert_array_equal(
        np.flatnonzero(evaluation.decode_threshold(y_prob, per_class)[0]), [5]
    )


def test_decode_threshold_refuses_a_threshold_outside_zero_one():
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        evaluation.decode_threshold(np.zeros((1, 10)), 1.0)


def test_probabilities_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match=r"y_prob must hold probabilities in \[0, 1\]"):
        evaluation.decode_threshold(np.full((1, 10), 2.0), 0.5)


def test_decode_top_k_takes_the_k_most_probable_per_row():
    y_prob = np.array([[0.4, 0.1, 0.3, 0, 0, 0, 0, 0, 0.2, 0], [0, 0, 0, 0, 0, 0, 0, 0.9, 0, 0.8]])
    decoded = evaluation.decode_top_k(y_prob, np.array([3, 1]))
    np.testing.assert_array_equal(np.flatnonzero(decoded[0]), [0, 2, 8])
    np.testing.assert_array_equal(np.flatnonzero(decoded[1]), [7])


def test_decode_top_k_breaks_ties_by_class_order():
    np.testing.assert_array_equal(
        np.flatnonzero(evaluation.decode_top_k(np.full((1, 10), 0.1), 2)[0]), [0, 1]
    )


def test_decode_top_k_refuses_k_out_of_range():
    with pytest.raises(
        ValueError, match=r"k must be one integer or one per row \(2\), each from 1 to 10"
    ):
        evaluation.decode_top_k(np.zeros((2, 10)), np.array([0, 2]))


def test_set_scores_of_a_perfect_and_a_half_right_prediction(labels):
    perfect = evaluation.set_scores(labels, labels)
    assert perfect == {
        "exact_match": 1.0,
        "per_label_accuracy": 1.0,
        "label_count_accuracy": 1.0,
        "micro_f1": 1.0,
    }
    half = labels.copy()
    half[0, 8] = 0  # one label missed
    half[1, 3] = 1  # one label too many
    result = evaluation.set_scores(labels, half)
    assert result["exact_match"] == pytest.approx(0.5)
    assert result["per_label_accuracy"] == pytest.approx(38 / 40)
    assert result["label_count_accuracy"] == pytest.approx(0.5)


def test_set_scores_refuse_probabilities_as_predictions(labels):
    with pytest.raises(ValueError, match="y_pred must hold only 0 and 1"):
        evaluation.set_scores(labels, labels * 0.7)


def test_threshold_sweep_and_best_threshold(labels):
    y_prob = labels * 0.3 + 0.05  # the right answer needs a threshold in (0.05, 0.35]
    sweep = evaluation.threshold_sweep(labels, y_prob, grid=[0.02, 0.2, 0.5])
    assert list(sweep.columns) == list(evaluation.SET_SCORES)
    np.testing.assert_allclose(sweep["exact_match"], [0.0, 1.0, 0.0])
    assert evaluation.best_threshold(labels, y_prob, grid=[0.02, 0.2, 0.5]) == pytest.approx(0.2)


def test_best_threshold_prefers_the_lowest_of_tied_thresholds(labels):
    assert evaluation.best_threshold(
        labels, labels * 0.9 + 0.05, grid=[0.3, 0.5, 0.7]
    ) == pytest.approx(0.3)


def test_compare_predictions_has_one_row_per_name(labels):
    table = evaluation.compare_predictions(
        labels, {"right": labels, "nothing": np.zeros_like(labels)}
    )
    assert list(table.index) == ["right", "nothing"]
    assert table.loc["nothing", "exact_match"] == 0.0
    assert table.loc["nothing", "per_label_accuracy"] == pytest.approx(1 - labels.mean())


def test_mistaken_for_counts_each_missed_and_false_alarm_pair_against_a_hand_count():
    y_true = np.zeros((3, 10), int)
    y_pred = np.zeros((3, 10), int)
    y_true[0, [6, 8]] = 1
    y_pred[0, [0, 8]] = 1  # Shirt missed, T-shirt/top predicted instead
    y_true[1, [6, 4]] = 1
    y_pred[1, [0, 2]] = 1  # Shirt and Coat missed; T-shirt/top and Pullover predicted
    y_true[2, 6] = 1  # Shirt missed, nothing predicted instead
    table = evaluation.mistaken_for(y_true, y_pred)
    assert table.loc["Shirt", "T-shirt/top"] == 2 and table.loc["Shirt", "Pullover"] == 1
    assert table.loc["Coat", "T-shirt/top"] == 1 and table.loc["Coat", "Pullover"] == 1
    assert table.drop(columns="missed").to_numpy().sum() == 5
    assert table["missed"].to_dict() == {**dict.fromkeys(table.index, 0), "Shirt": 3, "Coat": 1}


def test_mistaken_for_refuses_label_sets_of_two_shapes():
    with pytest.raises(
        ValueError, match=r"y_pred must have the shape of y_true \(2, 10\); got \(3, 10\)"
    ):
        evaluation.mistaken_for(np.zeros((2, 10), int), np.zeros((3, 10), int))


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    """200 synthetic composites with probabilities that rank the labels well but not perfectly, with ties."""
    rng = np.random.default_rng(3)
    y_true = (rng.random((200, 10)) < 0.3).astype(np.uint8)
    noisy = 0.4 * y_true + rng.random((200, 10)) * 0.7
    y_prob = np.clip(noisy, 0, 1).round(2)  # rounding makes ties
    return y_true, y_prob


def test_bootstrap_counts_count_the_draws_of_rng_choice():
    counts = evaluation.bootstrap_counts(200, resamples=3, seed=0)
    drawn = np.random.default_rng(0).choice(200, size=(3, 200))
    np.testing.assert_array_equal(counts, [np.bincount(row, minlength=200) for row in drawn])
    assert (counts.sum(axis=1) == 200).all()


def test_percentile_interval_holds_the_middle_share_of_the_values():
    assert evaluation.percentile_interval(np.arange(101), 0.9) == pytest.approx((5, 95))
    with pytest.raises(ValueError, match=r"values must be one score per resample.*; got \(2, 2\)"):
        evaluation.percentile_interval(np.zeros((2, 2)))


@pytest.mark.parametrize("rows_at_once", [100, 2])  # all three resamples at once, or in pieces
def test_bootstrap_resample_scores_equal_a_report_of_the_drawn_composites(
    scored, monkeypatch, rows_at_once
):
    monkeypatch.setattr(evaluation, "_WEIGHT_ROWS_AT_ONCE", rows_at_once)
    y_true, y_prob = scored
    drawn = np.random.default_rng(0).choice(200, size=(3, 200))
    counts = evaluation.bootstrap_counts(200, resamples=3, seed=0)
    mean_ap = evaluation._weighted_mean_average_precision(y_true, y_prob, counts)
    assert mean_ap.shape == (3,)
    for row in range(3):
        by_report = evaluation.report(y_true[drawn[row]], y_prob[drawn[row]])
        assert mean_ap[row] == pytest.approx(by_report["mean_average_precision"], abs=1e-12)


def test_bootstrap_intervals_equal_resampling_by_hand(scored):
    y_true, y_prob = scored
    intervals = evaluation.bootstrap_intervals(y_true, y_prob, resamples=500, seed=4)
    right = (y_prob >= 0.5) == y_true
    by_hand = {"exact_match": right.all(axis=1), "per_label_accuracy": right.mean(axis=1)}
    for name, per_composite in by_hand.items():
        draws = np.random.default_rng(4).choice(per_composite, size=(500, 200)).mean(axis=1)
        assert intervals.loc[name, "low"] == pytest.approx(np.percentile(draws, 2.5))
        assert intervals.loc[name, "high"] == pytest.approx(np.percentile(draws, 97.5))
        assert intervals.loc[name, "value"] == pytest.approx(per_composite.mean())


def test_bootstrap_intervals_hold_each_score_and_are_repeatable(scored):
    intervals = evaluation.bootstrap_intervals(*scored, resamples=200)
    assert list(intervals.index) == list(evaluation.BOOTSTRAP_SCORES)
    assert (intervals["low"] < intervals["high"]).all()
    assert intervals.equals(evaluation.bootstrap_intervals(*scored, resamples=200))


def test_bootstrap_intervals_refuse_a_confidence_outside_zero_one(scored):
    with pytest.raises(ValueError, match=r"confidence must be .*; got 95"):
        evaluation.bootstrap_intervals(*scored, confidence=95)


def test_bootstrap_intervals_refuse_a_single_resample(scored):
    with pytest.raises(ValueError, match=r"resamples must be an integer of at least 2; got 1"):
        evaluation.bootstrap_intervals(*scored, resamples=1)
