"""The promotion gate's criteria, each passing and failing, on lists small enough to check by hand;
and the ranked list's order, ranks and percentiles."""

import numpy as np
import pytest

from prodline.config.cutoffs import Threshold
from prodline.pipeline.gate.criteria import (
    beats_champion,
    empty_columns,
    is_plausible,
    list_is_stable,
    recall_is_fair,
    top_overlap,
)
from prodline.pipeline.predictions.ranking import percentile, rank, top

ENTITIES = np.array([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])


def test_ties_are_broken_by_entity_id_and_percentiles_count_from_the_top():
    scores = np.array([0.2, 0.9, 0.5, 0.9, 0.1])
    entities = np.array([5, 7, 3, 2, 9])
    assert rank(scores, entities).tolist() == [4, 2, 3, 1, 5]  # the two 0.9s: entity 2 before 7
    assert top(scores, entities, 2).tolist() == [2, 7]
    assert percentile(np.array([1, 2, 3, 4, 5])).tolist() == [100.0, 80.0, 60.0, 40.0, 20.0]


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "passed", "words"),
    [
        (0.62, 0.60, 0.0, True, "reaches champion 0.6000 +0.0000 = 0.6000"),
        (0.60, 0.60, 0.0, True, "reaches"),
        (0.61, 0.60, 0.02, False, "falls short of champion 0.6000 +0.0200 = 0.6200"),
        (0.59, 0.60, -0.02, True, "reaches champion 0.6000 -0.0200 = 0.5800"),
    ],
)
def test_the_challenger_must_reach_the_champion_plus_the_margin(challenger, champion, margin, passed, words):
    verdict = beats_champion(challenger, champion, {"RandomRanker": 0.3}, margin, "precision@10_pct")
    assert verdict.passed is passed and verdict.severity == "ERROR"
    assert words in verdict.summary
    assert verdict.evidence["challenger"] == challenger and verdict.evidence["champion"] == champion


def test_without_a_champion_the_challenger_must_beat_every_baseline():
    baselines = {"RandomRanker": 0.31, "BestSingleFeature": 0.55}
    assert beats_champion(0.56, None, baselines, 0.0, "p").passed
    refused = beats_champion(0.55, None, baselines, 0.0, "p")
    assert not refused.passed
    assert "does not beat the best baseline (BestSingleFeature, 0.5500)" in refused.summary
    assert not beats_champion(None, 0.5, baselines, 0.0, "p").passed


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "passed", "words"),
    [
        (0.08, 0.10, 0.01, True, "reaches champion 0.1000 -0.0100 = 0.0900"),
        (0.095, 0.10, 0.01, False, "falls short of champion 0.1000 -0.0100 = 0.0900"),
    ],
)
def test_for_a_metric_better_lower_the_challenger_must_stay_under_the_champion_minus_the_margin(
        challenger, champion, margin, passed, words):
    verdict = beats_champion(challenger, champion, {}, margin, "fpr@10_pct", greater_is_better=False)
    assert verdict.passed is passed and words in verdict.summary


def test_for_a_metric_better_lower_the_best_baseline_is_the_lowest():
    baselines = {"RandomRanker": 0.31, "BestSingleFeature": 0.12}
    assert beats_champion(0.11, None, baselines, 0.0, "fpr@10_pct", greater_is_better=False).passed
    refused = beats_champion(0.2, None, baselines, 0.0, "fpr@10_pct", greater_is_better=False)
    assert "does not beat the best baseline (BestSingleFeature, 0.1200)" in refused.summary


def test_list_stability_is_the_share_of_the_champion_top_k_kept():
    champion = np.arange(10, dtype=float)  # top 4: entities 19, 18, 17, 16
    challenger = champion.copy()
    challenger[[9, 8]] = -1  # 19 and 18 fall off: top 4 is 17, 16, 15, 14
    assert top_overlap(challenger, champion, ENTITIES, 4) == pytest.approx(0.5)
    kept = list_is_stable(challenger, champion, ENTITIES, Threshold(4, "abs"), 0.5, "WARN")
    assert kept.passed and kept.evidence["overlap"] == 0.5
    churned = list_is_stable(challenger, champion, ENTITIES, Threshold(40, "pct"), 0.6, "WARN")
    assert not churned.passed and churned.severity == "WARN"
    assert churned.summary == "50.0% of the champion's top 4 stay on the challenger's list (below 60%)"
    assert list_is_stable(challenger, None, ENTITIES, Threshold(4, "abs"), 0.9, "ERROR").passed


def fairness_case():
    # 10 labeled rows ranked by score (entity 19 first). Sex f: positives 19, 17, 15, 13; sex m:
    # positives 18, 16, 14, 12. Top 4 = 19, 18, 17, 16: f recall 2/4, m recall 2/4.
    scores = np.arange(10, dtype=float)
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1], dtype=float)
    sex = np.array(["m", "f", "m", "f", "m", "f", "m", "f", "m", "f"])
    return scores, labels, sex


def fair(scores, labels, sex, reference: str):
    """Recall at the top 4 by sex within 0.8-1.25 of the reference's, groups of 2 positives or more."""
    return recall_is_fair(
        scores,
        labels,
        ENTITIES,
        {"sex": sex},
        {"sex": reference},
        Threshold(4, "abs"),
        (0.8, 1.25),
        min_positives=2,
    )


def test_recall_within_bounds_of_the_reference_group_passes():
    scores, labels, sex = fairness_case()
    verdict = fair(scores, labels, sex, "f")
    assert verdict.passed, verdict.summary
    rows = {r["group"]: r for r in verdict.evidence["groups"]}
    assert rows["m"]["recall"] == 0.5 and rows["m"]["ratio"] == 1.0 and rows["f"]["judged"] is False


def test_a_group_whose_recall_falls_out_of_bounds_fails_and_is_named():
    scores, labels, sex = fairness_case()
    scores[[8, 6]] = -1  # m's 18 and 16 leave the top 4 (now 19, 17, 15, 13): m recall 0/4
    scores[[4]] = 20  # and 14 comes first: m recall 1/4 = 0.25 against f's 3/4
    verdict = fair(scores, labels, sex, "f")
    assert not verdict.passed
    assert verdict.summary == "sex=m: recall ratio 0.33 vs 'f' outside 0.8-1.25"


def test_small_groups_are_listed_but_not_judged_and_a_small_reference_fails():
    scores, labels, sex = fairness_case()
    labels[[3, 5, 7]] = np.nan  # f keeps one labeled positive (19)
    small = fair(scores, labels, sex, "m")
    assert small.passed
    assert {r["group"]: r["judged"] for r in small.evidence["groups"]} == {"f": False, "m": False}
    tiny_reference = fair(scores, labels, sex, "f")
    assert not tiny_reference.passed
    assert "reference group 'f' has 1 positives (fewer than 2)" in tiny_reference.summary


def test_sanity_names_each_problem():
    fine = is_plausible(0.6, "precision@1_pct", 0.99, 1000, 200, 500, 50, [])
    assert fine.passed
    bad = is_plausible(0.995, "precision@1_pct", 0.99, 100, 10, 500, 50, ["ext_all_n"])
    assert not bad.passed
    for words in (
        "0.9950 is above 0.99: look for a leak",
        "100 labeled test rows, fewer than 500",
        "10 positive labels, fewer than 50",
        "1 feature(s) entirely null: ext_all_n",
    ):
        assert words in bad.summary


def test_empty_columns_and_which_failures_block():
    X = np.array([[1.0, np.nan, np.nan], [2.0, np.nan, 3.0]])
    assert empty_columns(X, ["a", "b", "c"]) == ["b"]
    warn = list_is_stable(np.arange(10.0), -np.arange(10.0), ENTITIES, Threshold(2, "abs"), 0.5, "WARN")
    error = is_plausible(1.0, "p", 0.99, 10, 1, 5, 1, [])
    assert [v for v in (warn, error) if v.blocks] == [error]


def test_a_watched_gap_warns_without_blocking():
    scores, labels, sex = fairness_case()
    scores[[8, 6]] = -1
    scores[[4]] = 20  # as above: m's recall is a third of f's
    verdict = recall_is_fair(scores, labels, ENTITIES, {"sex": sex}, {"sex": "f"}, Threshold(4, "abs"),
                             (0.8, 1.25), min_positives=2, severity="WARN", check="fairness_watch")
    assert (verdict.passed, verdict.severity, verdict.check) == (False, "WARN", "fairness_watch")
    assert verdict.summary == "sex=m: recall ratio 0.33 vs 'f' outside 0.8-1.25"
    assert not verdict.blocks


def test_checks_that_can_only_warn_do_not_block():
    from prodline.config import load_config
    from prodline.pipeline.gate.judging import gate_checks

    demo = load_config()  # stability at WARN, age band watched
    assert gate_checks(demo) == {"challenger_beats_champion": True, "top_list_is_stable": False,
                                 "recall_is_fair_across_groups": True, "recall_gaps_are_watched": False,
                                 "challenger_is_plausible": True}
    strict = demo.model_copy(update={"promotion": demo.promotion.model_copy(update={
        "stability": demo.promotion.stability.model_copy(update={"severity": "ERROR"}),
        "fairness": demo.promotion.fairness.model_copy(update={"warn_only": []})})})
    assert gate_checks(strict) == {"challenger_beats_champion": True, "top_list_is_stable": True,
                                   "recall_is_fair_across_groups": True, "challenger_is_plausible": True}
