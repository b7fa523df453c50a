"""Monitoring: PSI and realized performance against figures worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from prodline.config.cutoffs import Threshold
from prodline.pipeline.monitoring.measures import (
    below_promotion,
    drift_level,
    feature_drift,
    psi,
    psi_bins,
    realized,
)

ONE_TO_TEN = np.arange(1.0, 11.0)


def test_bins_are_reference_quantiles_closed_on_the_right():
    # Quintiles of 1..10 are the 2nd, 4th, 6th and 8th values.
    assert psi_bins(ONE_TO_TEN, bins=5).tolist() == [-math.inf, 2, 4, 6, 8, math.inf]
    # 30% of 10 rows is exactly 3 rows: the edge is the 3rd value, not the 4th.
    assert psi_bins(ONE_TO_TEN, bins=10).tolist() == [-math.inf, *range(1, 10), math.inf]


def test_bins_merge_for_few_distinct_values():
    flag = np.array([0.0] * 7 + [1.0] * 3)
    assert psi_bins(flag).tolist() == [-math.inf, 0, 1, math.inf]
    assert psi_bins(np.array([np.nan, np.nan])).tolist() == [-math.inf, math.inf]


def test_psi_by_hand():
    # Bins (-inf,2] (2,4] (4,6] (6,8] (8,inf) hold 20% of the reference each, and none is null.
    # Current: {1,1,2,2,2} {3,4} {5} {7} {9}, so 50%, 20%, 10%, 10%, 10%.
    current = np.array([1, 1, 2, 2, 2, 3, 4, 5, 7, 9], dtype=float)
    expected = (0.5 - 0.2) * math.log(0.5 / 0.2) + 0.0 + 3 * (0.1 - 0.2) * math.log(0.1 / 0.2)
    assert expected == pytest.approx(0.3 * math.log(5))
    assert psi(ONE_TO_TEN, current, bins=5) == pytest.approx(expected)


def test_identical_samples_have_no_drift():
    sample = np.random.default_rng(0).normal(size=1000)
    assert psi(sample, sample.copy()) == 0.0
    assert psi(ONE_TO_TEN, ONE_TO_TEN[::-1]) == 0.0  # order does not matter


def test_constant_feature_has_no_drift():
    assert psi(np.full(50, 3.0), np.full(20, 3.0)) == 0.0


def test_larger_shift_larger_psi():
    rng = np.random.default_rng(1)
    reference, noise = rng.normal(size=5000), rng.normal(size=5000)
    values = [psi(reference, noise + shift) for shift in (0.0, 0.1, 0.3, 1.0)]
    assert values == sorted(values) and values[0] < 0.1 < values[-1]


def test_epsilon_floor_keeps_an_empty_reference_bin_finite():
    # The reference is all 0: bins (-inf,0] and (0,inf), the second empty, floored at 1e-4.
    reference, current = np.zeros(10), np.array([0.0] * 5 + [1.0] * 5)
    expected = (0.5 - 1) * math.log(0.5 / 1) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    got = psi(reference, current)
    assert math.isfinite(got) and got == pytest.approx(expected)
    assert psi(reference, current, epsilon=1e-6) > got  # a smaller floor, a larger penalty


def test_nulls_are_a_bin_of_their_own():
    # Every other value goes missing: each decile holds 5% instead of 10%, the null bin 50% instead of 0.
    reference = np.arange(100.0)
    current = np.where(np.arange(100) % 2 == 0, reference, np.nan)
    expected = 10 * (0.05 - 0.1) * math.log(0.05 / 0.1) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert psi(reference, current) == pytest.approx(expected)
    drift = feature_drift({"x": reference}, {"x": current})
    assert drift.loc[0, ["reference_null_share", "current_null_share"]].tolist() == [0.0, 0.5]
    assert drift_level(drift.loc[0, "psi"]) == "major"


@pytest.mark.parametrize("kind", [pd.DataFrame, dict])
def test_feature_drift_most_drifted_first(kind):
    x = np.arange(100.0)
    reference = kind({"same": x, "shifted": x, "nulls": x})
    current = kind({"same": x, "shifted": x + 10, "nulls": np.where(x < 50, x, np.nan)})
    drift = feature_drift(reference, current)
    assert drift.columns.tolist() == ["feature", "psi", "reference_null_share", "current_null_share"]
    assert drift["feature"].tolist() == ["nulls", "shifted", "same"]
    assert drift["psi"].iloc[-1] == 0.0
    # Shifted by one decile: the first bin empties (floored at 1e-4), the open last bin doubles.
    assert drift["psi"].iloc[1] == pytest.approx(
        (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (0.2 - 0.1) * math.log(0.2 / 0.1)
    )
    assert drift["current_null_share"].tolist() == [0.5, 0.0, 0.0]


def test_feature_drift_reads_pandas_missing_values():
    reference = pd.DataFrame({"n": pd.array([1, 2, 3, 4], dtype="Int64")})
    current = pd.DataFrame({"n": pd.array([1, pd.NA, 3, pd.NA], dtype="Int64")})
    assert feature_drift(reference, current).loc[0, "current_null_share"] == 0.5


def test_feature_drift_names_the_missing_columns():
    with pytest.raises(ValueError) as e_info:
        feature_drift({"a": ONE_TO_TEN, "gone": ONE_TO_TEN}, {"a": ONE_TO_TEN, "new": ONE_TO_TEN})
    assert "reference only ['gone'], current only ['new']" in str(e_info.value)


def test_feature_drift_names_a_text_column():
    with pytest.raises(ValueError, match="feature 'city' is not numeric"):
        feature_drift({"city": np.array(["a", "b"])}, {"city": np.array(["a", "c"])})


def test_psi_of_an_empty_sample_is_an_error():
    with pytest.raises(ValueError, match="0 current"):
        psi(ONE_TO_TEN, np.array([]))


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.1, "moderate"),
        (0.2499, "moderate"),
        (0.25, "major"),
        (3.0, "major"),
    ],
)
def test_drift_level(value, level):
    assert drift_level(value) == level


def test_drift_level_thresholds_are_parameters():
    assert drift_level(0.15, warn=0.2, alert=0.5) == "stable"
    assert drift_level(0.3, warn=0.1, alert=0.3) == "major"


def test_realized_counts_unlabeled_rows_on_the_list_but_not_in_the_metrics():
    # As Triage does: the list is cut on all 7 rows; its unlabeled rows are then left out.
    # Ranked: 0.9 (1), 0.8 (?), 0.7 (0), 0.6 (1), 0.5 (?), 0.4 (1), 0.3 (0): 5 labeled, 3 positives.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    labels = np.array([1, np.nan, 0, 1, np.nan, 1, 0])
    got = realized(scores, labels, [Threshold(2, "abs"), Threshold(50, "pct")])
    # Top 2: 0.9 and 0.8 (unlabeled), one hit of one labeled row. 50% of 7 truncates to 3: 0.9, 0.8, 0.7.
    assert got.precision == pytest.approx({"2_abs": 1.0, "50_pct": 1 / 2})
    assert got.recall == pytest.approx({"2_abs": 1 / 3, "50_pct": 1 / 3})
    assert (got.labeled_rows, got.positives) == (5, 3)
    assert got.labeled_share == pytest.approx(5 / 7)


def test_realized_reads_ties_as_their_mean():
    # Labeled: 0.9 (1), then a tie of three at 0.6 holding one positive, 0.3 (1), 0.1 (0).
    scores = np.array([0.9, 0.8, 0.6, 0.6, 0.6, 0.3, 0.7, 0.1])
    labels = np.array([1, np.nan, 1, 0, 0, 1, np.nan, 0])
    got = realized(scores, labels, [Threshold(2, "abs"), Threshold(50, "pct")])
    # Ranked: 0.9 (1), 0.8 (?), 0.7 (?), the tie. Top 2: 0.9 and 0.8, one hit of one labeled row.
    # 50% of 8 takes 4: those three and one of the tied rows, 1 + 1/3 hits expected of 2 labeled.
    assert got.precision == pytest.approx({"2_abs": 1.0, "50_pct": (4 / 3) / 2})
    assert got.recall == pytest.approx({"2_abs": 1 / 3, "50_pct": (4 / 3) / 3})
    assert (got.labeled_rows, got.positives, got.labeled_share) == (6, 3, 0.75)


def test_realized_before_any_label_is_undefined_not_zero():
    got = realized(np.array([0.9, 0.5]), np.array([np.nan, np.nan]), [Threshold(1, "abs")])
    assert (got.precision["1_abs"], got.recall["1_abs"], got.labeled_share) == (None, None, 0.0)


def test_realized_without_predictions_is_an_error():
    with pytest.raises(ValueError, match="no stored predictions"):
        realized(np.array([]), np.array([]), [Threshold(1, "abs")])


@pytest.mark.parametrize(
    ("value", "promised", "margin", "below"),
    [
        (0.25, 0.30, 0.05, False),  # exactly at the margin
        (0.7, 0.8, 0.1, False),  # exactly at the margin, though 0.8 - 0.7 > 0.1 in floating point
        (0.24, 0.30, 0.05, True),
        (0.2499, 0.30, 0.05, True),
        (0.35, 0.30, 0.05, False),  # better than promised
        (0.30, 0.30, 0.0, False),
        (0.2999, 0.30, 0.0, True),
    ],
)
def test_below_promotion(value, promised, margin, below):
    assert below_promotion(value, promised, margin) is below


def test_below_promotion_without_a_value_is_an_error():
    with pytest.raises(ValueError, match="no realized value"):
        below_promotion(None, 0.3, 0.05)
