"""Triage's metrics of ranked lists: hand-computed examples, and ties against every order of the tied rows."""

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from prodline.config.cutoffs import Threshold
from prodline.config.scoring import METRICS, MetricSpec
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
    assert got[("roc_auc", "")].mean == pytest.approx(6 / 9)
    assert got[("average precision score", "")].mean == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    for e in got.values():  # without ties, the three readings agree
        assert e.worst == pytest.approx(e.best) and e.best == pytest.approx(e.mean)


def test_ties_by_hand():
    # Top 2 of: 0.9 (1), then a tie of four at 0.5 holding one positive.
    scores, labels = [0.9, 0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0, 0]
    p = by_name(evaluate(scores, labels, [Threshold(2, "abs")]))[("precision@", "2_abs")]
    assert (p.worst, p.best, p.mean) == pytest.approx((1 / 2, 2 / 2, (1 + 1 / 4) / 2))


def test_unlabeled_rows_take_places_on_the_list_but_are_not_counted():
    # As in Triage: the top 2 of all four rows hold one unlabeled row and one positive.
    scores = [0.9, 0.8, 0.7, 0.6]
    got = by_name(evaluate(scores, [np.nan, 1, 0, np.nan], [Threshold(2, "abs"), Threshold(1, "abs")]))
    top = got[("precision@", "2_abs")]
    assert (top.mean, top.labeled_rows, top.positives, top.rows_above, top.labeled_above) == (1.0, 2, 1, 2, 1)
    assert got[("precision@", "1_abs")].mean is None  # the top row is not labeled: nothing to judge


def test_unlabeled_rows_in_a_tie_come_first_in_the_worst_order_and_last_in_the_best():
    # A tie of three at 0.5: unlabeled, negative, positive; the cut takes one of them.
    got = by_name(evaluate([0.9, 0.5, 0.5, 0.5], [1, np.nan, 0, 1], [MetricSpec(m, Threshold(2, "abs"))
                                                                    for m in METRICS if m.endswith("@")]))
    precision = got[("precision@", "2_abs")]
    assert (precision.worst, precision.best) == (1.0, 1.0)  # worst takes the unlabeled row
    # Mean: the unlabeled row (1/3: 1/1), the negative (1/3: 1/2), the positive (1/3: 2/2).
    assert precision.mean == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert got[("false positives@", "2_abs")].mean == pytest.approx(1 / 3)
    assert got[("true positives@", "2_abs")].best == 2 and got[("true positives@", "2_abs")].worst == 1
    assert got[("fpr@", "2_abs")].mean == pytest.approx(1 / 3)
    assert precision.labeled_above == 1


def test_undefined_metrics_are_null_not_zero():
    got = by_name(evaluate([0.3, 0.2], [0, 0], [Threshold(1, "abs")]))
    assert got[("recall@", "1_abs")].mean is None
    assert got[("roc_auc", "")].mean is None and got[("average precision score", "")].mean is None
    assert got[("precision@", "1_abs")].mean == 0.0


@pytest.mark.parametrize(("value", "unit", "n", "rows", "name"), [
    (5, "pct", 30, 1, "5_pct"), (5.0, "pct", 30, 1, "5.0_pct"), (10, "pct", 30, 3, "10_pct"),
    (2.5, "pct", 100, 2, "2.5_pct"), (100, "abs", 30, 30, "100_abs"), (1, "pct", 7, 0, "1_pct"),
    (29, "pct", 100, 29, "29_pct"), (57.0, "pct", 100, 57, "57.0_pct")])
def test_threshold_rows(value, unit, n, rows, name):
    assert Threshold(value, unit).rows(n) == rows
    assert Threshold(value, unit).parameter == name


def brute_force(scores, labels, k):
    """Every order of the tied rows: precision@k and fbeta@k (beta 2) of each."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    groups = [list(g) for _, g in itertools.groupby(order, key=lambda i: scores[i])]
    precision, fbeta = [], []
    for arrangement in itertools.product(*(itertools.permutations(g) for g in groups)):
        ranked = np.array([labels[i] for g in arrangement for i in g], dtype=float)
        tp = ranked[:k].sum()
        precision.append(tp / k)
        fbeta.append(5 * tp / (4 * ranked.sum() + k))
    return precision, fbeta


@pytest.mark.parametrize("seed", range(12))
def test_ties_match_every_order(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 8))
    scores = rng.integers(0, 3, n).astype(float).tolist()  # few distinct scores: many ties
    labels = rng.integers(0, 2, n).astype(float).tolist()
    if len(set(labels)) < 2:
        labels[0] = 1.0 - labels[0]
    k = int(rng.integers(1, n))
    cut = Threshold(k, "abs")
    specs = [MetricSpec("precision@", cut), MetricSpec("fbeta@", cut, (("beta", 2),)),
             MetricSpec("roc_auc", None), MetricSpec("average precision score", None)]
    got = by_name(evaluate(scores, labels, specs))
    for (metric, parameter), values in zip([("precision@", f"{k}_abs"), ("fbeta@", f"2_beta/{k}_abs")],
                                           brute_force(scores, labels, k), strict=True):
        e = got[(metric, parameter)]
        assert e.worst == pytest.approx(min(values)), metric
        assert e.best == pytest.approx(max(values)), metric
        assert e.mean == pytest.approx(sum(values) / len(values)), metric
    # AUC and average precision are sklearn's on the tied scores, whatever the order: Triage's.
    for metric, sklearns in (("roc_auc", roc_auc_score),
                             ("average precision score", average_precision_score)):
        e = got[(metric, "")]
        assert e.worst == e.best == e.mean == pytest.approx(sklearns(labels, scores))


def test_mean_auc_is_sklearns_tie_aware_auc():
    rng = np.random.default_rng(3)
    scores, labels = rng.integers(0, 20, 500).astype(float), rng.integers(0, 2, 500)
    assert by_name(evaluate(scores, labels, []))[("roc_auc", "")].mean == pytest.approx(
        roc_auc_score(labels, scores))


@pytest.mark.parametrize(("scores", "labels", "message"), [
    ([0.1, 0.2], [1, 0, 1], "2 scores for 3 labels"),
    ([0.1, math.nan], [1, 0], "1 rows have no score"),
    ([0.1, 0.2], [1, 2], "labels must be 0 or 1; found [2.0]")])
def test_bad_input_is_named(scores, labels, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        evaluate(scores, labels, [])


def test_every_triage_metric_by_hand():
    # Ranked: 0.9 (1), 0.8 (0), 0.7 (1), 0.6 (0), 0.5 (0): top 2 hold one hit and one miss.
    scores, labels = [0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 0]
    two = Threshold(2, "abs")
    specs = [MetricSpec(m, two) for m in METRICS if m.endswith("@") and m != "fbeta@"]
    specs += [MetricSpec("fbeta@", two, (("beta", 0.5),)), MetricSpec("f1", None),
              MetricSpec("accuracy", None),
              MetricSpec("accuracy", two)]
    got = {k: e.mean for k, e in by_name(evaluate(scores, labels, specs)).items()}
    assert got == pytest.approx({
        ("precision@", "2_abs"): 1 / 2, ("recall@", "2_abs"): 1 / 2, ("fpr@", "2_abs"): 1 / 3,
        ("true positives@", "2_abs"): 1, ("true negatives@", "2_abs"): 2, ("false positives@", "2_abs"): 1,
        ("false negatives@", "2_abs"): 1, ("fbeta@", "0.5_beta/2_abs"): 1.25 * 1 / (0.25 * 2 + 2),
        ("f1", ""): 2 * 2 / (2 + 5), ("accuracy", ""): 2 / 5, ("accuracy", "2_abs"): 3 / 5})


def test_an_empty_list_has_no_metric():
    found = evaluate([], [], [MetricSpec(m, None) for m in METRICS])
    assert len(found) == len(METRICS) and all(e.mean is None and e.worst is None for e in found)
