"""Differential test: prodline's bias audit against Aequitas 1.0.0 as Triage 6.0.0's evaluator calls
it (triage_side/bias.py, run by Triage's own interpreter), on random scores, labels and attributes.

prodline equals, to 1e-9, what the evaluator means to compute: each threshold audited on its own,
ties broken by the tie breaker (`per_threshold`). Against what Triage actually stores, the
differences are exactly the documented ones and are asserted as such:
- unlabeled rows: Aequitas refuses them (an error), prodline leaves them out first;
- a tie straddling a cutoff: Aequitas re-sorts the tie-broken list with an unstable sort, so who of
  the tie is on the list is not the tie breaker's choice; cells differ only at such cutoffs;
- min_metric with several thresholds: Aequitas's crosstab index repeats per threshold, so the
  reference of `ppr` (its first metric) is the group with the least ppr at the threshold whose name
  sorts last, taken at each threshold's own value; every other cell matches.
"""

import math
import random

import numpy as np
import pytest

from prodline.pipeline.bias.audit import DISPARITY_METRICS, _disparity, audit, tie_broken

NUMBERS = ["k", "accuracy", "tpr", "tnr", "for", "fdr", "fpr", "fnr", "npv", "precision", "pp", "pn", "ppr",
           "pprev", "fp", "fn", "tn", "tp", "group_label_pos", "group_label_neg", "group_size",
           "total_entities", "prev", *[f"{m}_disparity" for m in DISPARITY_METRICS]]
TEXTS = [f"{m}_ref_group_value" for m in DISPARITY_METRICS]


def random_case(rng: random.Random, i: int) -> dict:
    n = rng.randint(15, 300)
    digits = rng.choice([1, 2, 6])  # 1 and 2: many ties; 6: next to none
    scores = [round(rng.random(), digits) for _ in range(n)]
    prevalence = rng.choice([0.05, 0.3, 0.6])
    labels = [1.0 if rng.random() < prevalence else 0.0 for _ in range(n)]
    if i % 10 == 9:  # some unlabeled rows
        labels = [None if rng.random() < 0.1 else y for y in labels]
    attributes = {}
    for a in range(rng.randint(1, 3)):
        groups = [f"g{j}" for j in range(rng.randint(2, 5))]
        weights = [rng.random() + 0.05 for _ in groups]
        unknown = rng.choice([0.0, 0.0, 0.1])
        attributes[f"attr{a}"] = [None if rng.random() < unknown else rng.choices(groups, weights)[0]
                                  for _ in range(n)]
    thresholds = {}
    if rng.random() < 0.8:
        thresholds["top_n"] = rng.sample([1, 5, 10, 17, 50, 100, 400], rng.randint(1, 2))
    if rng.random() < 0.8 or not thresholds:
        thresholds["percentiles"] = rng.sample([1, 5, 10, 12.5, 29, 50, 100], rng.randint(1, 2))
    method = rng.choice(["predefined", "majority", "min_metric"])
    ref_groups = None
    if method == "predefined":
        ref_groups = {a: rng.choice(sorted({v for v in vs if v is not None})) for a, vs in attributes.items()}
    return {"scores": scores, "labels": labels, "attributes": attributes, "thresholds": thresholds,
            "ref_groups_method": method, "ref_groups": ref_groups}


def parameters(case: dict) -> list[str]:
    t = case["thresholds"]
    return [f"{n}_abs" for n in t.get("top_n", [])] + [f"{p / 100.0}_pct" for p in t.get("percentiles", [])]


def ours(case: dict, tie_breaker: str) -> list[dict]:
    labels = np.array([math.nan if y is None else y for y in case["labels"]])
    attributes = {a: np.array(v, dtype=object) for a, v in case["attributes"].items()}
    return audit(np.array(case["scores"]), labels, attributes, parameters(case), case["ref_groups_method"],
                 case["ref_groups"], (tie_breaker,))


def keyed(rows: list[dict]) -> dict[tuple, dict]:
    return {(r["parameter"], r["attribute_name"], r["attribute_value"]): r for r in rows}


def differing(mine: dict, theirs: dict, columns: list[str]) -> list[str]:
    """The columns whose values differ (numbers beyond 1e-9; NaN equals NULL)."""
    out = []
    for c in columns:
        a, b = mine.get(c), theirs.get(c)
        a = None if isinstance(a, float) and math.isnan(a) else a
        b = None if isinstance(b, float) and math.isnan(b) else b
        if c in TEXTS or a is None or b is None:
            if a != b:
                out.append(c)
        elif abs(a - b) > 1e-9:
            out.append(c)
    return out


def straddled(case: dict, tie_breaker: str) -> set[str]:
    """Cutoffs where a tie of scores (among labeled rows) crosses the edge of the list."""
    labeled = [i for i, y in enumerate(case["labels"]) if y is not None]
    scores = np.array(case["scores"])[labeled]
    labels = np.array([case["labels"][i] for i in labeled])
    ranked = scores[tie_broken(scores, labels, tie_breaker)]
    from prodline.pipeline.bias.audit import listed_rows

    out = set()
    for p in parameters(case):
        k = listed_rows(p, len(ranked))
        if 0 < k < len(ranked) and ranked[k - 1] == ranked[k]:
            out.add(p)
    return out


def ppr_as_triage_stores(mine: list[dict]) -> dict[tuple, tuple[float, str]]:
    """min_metric's ppr disparity as Aequitas computes it with several thresholds: the reference is
    the least-ppr group at the last threshold by name, its ppr taken at each threshold."""
    last = max(r["parameter"] for r in mine)
    out = {}
    for r in mine:
        at_last = [x for x in mine if x["parameter"] == last and x["attribute_name"] == r["attribute_name"]]
        valued = [x for x in at_last if not math.isnan(x["ppr"])]
        reference = min(valued, key=lambda x: x["ppr"]) if valued else at_last[0]
        ref_row = next(x for x in mine if x["parameter"] == r["parameter"]
                       and x["attribute_name"] == r["attribute_name"]
                       and x["attribute_value"] == reference["attribute_value"])
        out[(r["parameter"], r["attribute_name"], r["attribute_value"])] = (
            _disparity(r["ppr"], ref_row["ppr"]), reference["attribute_value"])
    return out


@pytest.fixture(scope="module")
def compared(triage):
    rng = random.Random(17)
    cases = [random_case(rng, i) for i in range(40)]
    return cases, triage("bias.py", cases)


def test_prodline_gives_what_the_evaluator_means_to_compute(compared):
    cases, answers = compared
    cells = 0
    for case, answer in zip(cases, answers, strict=True):
        for tie_breaker in ("worst", "best"):
            mine, theirs = keyed(ours(case, tie_breaker)), keyed(answer[f"per_threshold_{tie_breaker}"])
            assert mine.keys() == theirs.keys()
            for key, row in mine.items():
                assert differing(row, theirs[key], NUMBERS + TEXTS) == [], (key, case["ref_groups_method"])
                cells += len(NUMBERS + TEXTS)
    print({"cells_equal_to_the_intent": cells})
    assert cells > 20_000


def test_against_what_triage_stores_only_the_documented_differences(compared):
    cases, answers = compared
    counts = {"refused_unlabeled": 0, "tie_cells": 0, "tie_cutoffs": set(), "tie_cutoffs_differing": set(),
              "ppr_cells": 0, "equal_cells": 0}
    for case, answer in zip(cases, answers, strict=True):
        for tie_breaker in ("worst", "best"):
            stored = answer[f"triage_{tie_breaker}"]
            if any(y is None for y in case["labels"]):
                assert "error" in stored, "Triage audited unlabeled rows"
                assert "not binarized" in stored["error"] or "non-finite" in stored["error"], stored
                counts["refused_unlabeled"] += 1
                continue
            mine_rows = ours(case, tie_breaker)
            mine, theirs = keyed(mine_rows), keyed(stored)
            assert mine.keys() == theirs.keys()
            ties = straddled(case, tie_breaker)
            several_min = case["ref_groups_method"] == "min_metric" and len(parameters(case)) > 1
            expected_ppr = ppr_as_triage_stores(mine_rows) if several_min else {}
            for key, row in mine.items():
                if key[0] in ties:  # the unstable re-sort: anything at this cutoff may differ
                    found = len(differing(row, theirs[key], NUMBERS + TEXTS))
                    counts["tie_cells"] += found
                    counts["tie_cutoffs"].add((id(case), tie_breaker, key[0]))
                    if found:
                        counts["tie_cutoffs_differing"].add((id(case), tie_breaker, key[0]))
                    continue
                columns = NUMBERS + TEXTS
                if several_min and ties:  # the ppr reference comes from a cutoff with a reordered tie
                    columns = [c for c in columns if c not in ("ppr_disparity", "ppr_ref_group_value")]
                elif several_min:
                    value, reference = expected_ppr[key]
                    assert differing({"ppr_disparity": value, "ppr_ref_group_value": reference}, theirs[key],
                                     ["ppr_disparity", "ppr_ref_group_value"]) == [], key
                    counts["ppr_cells"] += len(differing(row, theirs[key], ["ppr_disparity"]))
                    columns = [c for c in columns if c not in ("ppr_disparity", "ppr_ref_group_value")]
                assert differing(row, theirs[key], columns) == [], (key, case["ref_groups_method"])
                counts["equal_cells"] += len(columns)
    print({k: len(v) if isinstance(v, set) else v for k, v in counts.items()})
    assert counts["refused_unlabeled"] and counts["equal_cells"] > 5_000
