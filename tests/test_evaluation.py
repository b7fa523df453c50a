"""Metrics of ranked lists: hand-computed examples, and ties against every order of the tied rows."""

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from prodline.config.cutoffs import Threshold
from prodline.pipeline.evaluations.metrics import evaluate


def by_name(results):
    return {(e.metric, e.parameter): e for e in results}


def test_no_ties_by_hand():
    # Ranked: 0.9 (1), 0.8 (0), 0.7 (1), 0.6 (0), 0.5 (1), 0.4 (0): 3 positives in 6 rows.
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 0, 1, 0, 1, 0]
    got = by_name(evaluate(scores, labels, [Threshold(1, "abs"), Threshold(3, "abs"), Threshold(50, "pct")]))
    assert got[("precision@", "1_abs")].mean == 1.0
    assert got[("precision@", "3_abs")].mean == pytest.approx(2 / 3)
    assert got[("recall@", "3_abs")].mean == pytest.approx(2 / 3)
    assert got[("precision@", "50_pct")].rows_above == 3
    # AUC: pairs in order 3 + 2 + 1 of 9; AP: (1/1 + 2/3 + 3/5) / 3.
    assert got[("auc_roc", "")].mean == pytest.approx(6 / 9)
    assert got[("average_precision", "")].mean == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    for e in got.values():  # without ties, the three readings agree
        assert e.worst == pytest.approx(e.best) and e.best == pytest.approx(e.mean)


def test_ties_by_hand():
    # Top 2 of: 0.9 (1), then a tie of four at 0.5 holding one positive.
    scores, labels = [0.9, 0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0, 0]
    p = by_name(evaluate(scores, labels, [Threshold(2, "abs")]))[("precision@", "2_abs")]
    assert (p.worst, p.best, p.mean) == pytest.approx((1 / 2, 2 / 2, (1 + 1 / 4) / 2))


def test_unlabeled_rows_are_left_out():
    scores = [0.9, 0.8, 0.7, 0.6]
    got = by_name(evaluate(scores, [np.nan, 1, 0, np.nan], [Threshold(1, "abs")]))
    top = got[("precision@", "1_abs")]
    assert (top.mean, top.labeled_rows, top.positives) == (1.0, 2, 1)


def test_undefined_metrics_are_null_not_zero():
    got = by_name(evaluate([0.3, 0.2], [0, 0], [Threshold(1, "abs")]))
    assert got[("recall@", "1_abs")].mean is None
    assert got[("auc_roc", "")].mean is None and got[("average_precision", "")].mean is None
    assert got[("precision@", "1_abs")].mean == 0.0


@pytest.mark.parametrize(("value", "unit", "n", "rows", "name"), [
    (5, "pct", 30, 2, "5_pct"), (10, "pct", 30, 3, "10_pct"), (2.5, "pct", 100, 3, "2.5_pct"),
    (100, "abs", 30, 30, "100_abs"), (1, "pct", 7, 1, "1_pct")])
def test_threshold_rows(value, unit, n, rows, name):
    assert Threshold(value, unit).rows(n) == rows
    assert Threshold(value, unit).parameter == name


def brute_force(scores, labels, k):
    """Every order of the tied rows: precision@k, AUC and AP for each, as sorted lists."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    groups = [list(g) for _, g in itertools.groupby(order, key=lambda i: scores[i])]
    precision, auc, ap = [], [], []
    for arrangement in itertools.product(*(itertools.permutations(g) for g in groups)):
        ranked = np.array([labels[i] for g in arrangement for i in g], dtype=float)
        precision.append(ranked[:k].mean())
        strict = -np.arange(len(ranked), dtype=float)  # this order, with no ties left
        auc.append(roc_auc_score(ranked, strict))
        ap.append(average_precision_score(ranked, strict))
    return precision, auc, ap


@pytest.mark.parametrize("seed", range(12))
def test_ties_match_every_order(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 8))
    scores = rng.integers(0, 3, n).astype(float).tolist()  # few distinct scores: many ties
    labels = rng.integers(0, 2, n).astype(float).tolist()
    if len(set(labels)) < 2:
        labels[0] = 1.0 - labels[0]
    k = int(rng.integers(1, n))
    got = by_name(evaluate(scores, labels, [Threshold(k, "abs")]))
    for (metric, parameter), values in zip(
            [("precision@", f"{k}_abs"), ("auc_roc", ""), ("average_precision", "")],
            brute_force(scores, labels, k), strict=True):
        e = got[(metric, parameter)]
        assert e.worst == pytest.approx(min(values)), metric
        assert e.best == pytest.approx(max(values)), metric
        assert e.mean == pytest.approx(sum(values) / len(values)), metric


def test_mean_auc_is_sklearns_tie_aware_auc():
    rng = np.random.default_rng(3)
    scores, labels = rng.integers(0, 20, 500).astype(float), rng.integers(0, 2, 500)
    assert by_name(evaluate(scores, labels, []))[("auc_roc", "")].mean == pytest.approx(
        roc_auc_score(labels, scores))


@pytest.mark.parametrize(("scores", "labels", "message"), [
    ([0.1, 0.2], [1, 0, 1], "2 scores for 3 labels"),
    ([0.1, math.nan], [1, 0], "1 labeled rows have no score"),
    ([0.1, 0.2], [1, 2], "labels must be 0 or 1; found [2.0]")])
def test_bad_input_is_named(scores, labels, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        evaluate(scores, labels, [])
