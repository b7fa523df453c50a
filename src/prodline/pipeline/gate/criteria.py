"""The promotion gate: what a challenger must show before it replaces the model in use.

Each criterion returns a `Verdict`, pass or fail, with the numbers it compared, so the asset check
that reports it, the promotion record and the e-mail all say the same thing. Ranked lists break
score ties by entity id (as `ranking.rank` does), so a verdict is the same on every run.
"""

import numpy as np

from prodline.config.cutoffs import Threshold
from prodline.pipeline.verdict import Verdict


def beats_champion(
    challenger: float | None,
    champion: float | None,
    baselines: dict[str, float | None],
    margin: float,
    metric: str,
    greater_is_better: bool = True,
) -> Verdict:
    """The challenger must reach the champion's value plus `margin` on the same test matrix; with no
    champion yet, it must beat every baseline (a random list, the best single feature). For a metric
    that is better lower (`fpr@`, false positives), "plus" is minus and "beat" is "stay under"."""
    evidence = {
        "metric": metric,
        "challenger": challenger,
        "champion": champion,
        "margin": margin,
        "baselines": baselines,
    }
    if challenger is None:
        return Verdict("performance", False, "ERROR", f"the challenger has no {metric} value", evidence)
    if champion is not None:
        needed = champion + margin if greater_is_better else champion - margin
        passed = (challenger >= needed - 1e-12) if greater_is_better else (challenger <= needed + 1e-12)
        relation = "reaches" if passed else "falls short of"
        return Verdict(
            "performance",
            passed,
            "ERROR",
            f"challenger {metric} {challenger:.4f} {relation} champion {champion:.4f} "
            f"{margin if greater_is_better else -margin:+.4f} = {needed:.4f}",
            evidence,
        )
    known = {k: v for k, v in baselines.items() if v is not None}
    if not known:
        return Verdict(
            "performance", False, "ERROR", "no champion and no baseline value to compare with", evidence
        )
    best_name, best = (max if greater_is_better else min)(known.items(), key=lambda kv: kv[1])
    passed = challenger > best if greater_is_better else challenger < best
    relation = "beats" if passed else "does not beat"
    return Verdict(
        "performance",
        passed,
        "ERROR",
        f"no champion yet: challenger {metric} {challenger:.4f} {relation} the best "
        f"baseline ({best_name}, {best:.4f})",
        evidence,
    )


def top_overlap(a: np.ndarray, b: np.ndarray, entities: np.ndarray, k: int) -> float:
    """Share of the top k of ranking `a` that is also in the top k of ranking `b` (same rows)."""
    from prodline.pipeline.predictions.ranking import top

    if k <= 0 or len(entities) == 0:
        return 1.0
    k = min(k, len(entities))
    return len(set(top(a, entities, k)) & set(top(b, entities, k))) / k


def list_is_stable(
    challenger: np.ndarray,
    champion: np.ndarray | None,
    entities: np.ndarray,
    threshold: Threshold,
    min_overlap: float,
    severity: str,
) -> Verdict:
    """The people on the list should not churn without reason: the top k of both models on the newest
    cohort must overlap by at least `min_overlap`."""
    k = threshold.rows(len(entities))
    evidence = {"top": threshold.parameter, "k": k, "cohort_rows": len(entities), "min_overlap": min_overlap}
    if champion is None:
        return Verdict(
            "list_stability", True, severity, "no champion yet: nothing to compare the list with", evidence
        )
    overlap = top_overlap(challenger, champion, entities, k)
    passed = overlap >= min_overlap - 1e-12
    return Verdict(
        "list_stability",
        passed,
        severity,
        f"{overlap:.1%} of the champion's top {k} stay on the challenger's list "
        f"({'at least' if passed else 'below'} {min_overlap:.0%})",
        {**evidence, "overlap": round(overlap, 6)},
    )


def group_recalls(
    scores: np.ndarray, labels: np.ndarray, entities: np.ndarray, groups: np.ndarray, k: int
) -> dict[str, tuple[int, int]]:
    """Per group: (positives in the group's labeled rows, of them in the top k of the whole list)."""
    from prodline.pipeline.predictions.ranking import rank

    on_list = rank(scores, entities) <= k
    out = {}
    for group in sorted({str(g) for g in groups}):
        mine = (groups.astype(str) == group) & (labels == 1)
        out[group] = (int(mine.sum()), int((mine & on_list).sum()))
    return out


def recall_is_fair(
    scores: np.ndarray,
    labels: np.ndarray,
    entities: np.ndarray,
    attributes: dict[str, np.ndarray],
    references: dict[str, str],
    threshold: Threshold,
    bounds: tuple[float, float],
    min_positives: int,
    severity: str = "ERROR",
    check: str = "fairness",
) -> Verdict:
    """Recall at k of each group relative to the reference group of its attribute must lie within
    `bounds` (for example 0.8 to 1.25). Groups with fewer than `min_positives` positives are listed
    but not judged: their recall is too noisy to block on. Unlabeled rows are left out first.

    With `severity` WARN the same judgement only warns: for gaps a team knows of and is working on,
    shown on every challenger without blocking it."""
    known = ~np.isnan(labels)
    scores, labels, entities = scores[known], labels[known], entities[known]
    k = threshold.rows(len(entities))
    low, high = bounds
    table, failures = [], []
    for attribute, values in attributes.items():
        counts = group_recalls(scores, labels, entities, values[known], k)
        reference = references[attribute]
        ref_pos, ref_hits = counts.get(reference, (0, 0))
        if ref_pos < min_positives:
            failures.append(
                f"{attribute}: reference group {reference!r} has {ref_pos} positives "
                f"(fewer than {min_positives})"
            )
            continue
        ref_recall = ref_hits / ref_pos
        for group, (positives, hits) in counts.items():
            recall = hits / positives if positives else None
            ratio = recall / ref_recall if recall is not None and ref_recall else None
            judged = positives >= min_positives and group != reference
            ok = not judged or (ratio is not None and low <= ratio <= high)
            table.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "positives": positives,
                    "recall": recall,
                    "ratio": ratio,
                    "judged": judged,
                    "within": ok,
                }
            )
            if not ok:
                failures.append(
                    f"{attribute}={group}: recall ratio {ratio:.2f} vs {reference!r} outside {low:g}-{high:g}"
                    if ratio is not None
                    else f"{attribute}={group}: no recall while {reference!r} has some"
                )
    evidence = {"top": threshold.parameter, "k": k, "bounds": [low, high], "groups": table}
    if failures:
        return Verdict(check, False, severity, "; ".join(failures), evidence)
    judged = sum(r["judged"] for r in table)
    return Verdict(
        check,
        True,
        severity,
        f"recall at {threshold.parameter} of {judged} group(s) within {low:g}-{high:g} of their reference",
        evidence,
    )


def is_plausible(
    value: float | None,
    metric: str,
    max_value: float | None,
    labeled_rows: int,
    positives: int,
    min_rows: int,
    min_positives: int,
    empty_features: list[str],
) -> Verdict:
    """Guards against what makes a good number meaningless: a value too good to be true (a label
    leaking into a feature), too few rows or positives to judge, a feature that is never filled.
    `max_value` is None for a metric with no "too good" (a count, or one that is better lower)."""
    problems = []
    if value is not None and max_value is not None and value > max_value:
        problems.append(f"{metric} {value:.4f} is above {max_value:g}: look for a leak of the label")
    if labeled_rows < min_rows:
        problems.append(f"{labeled_rows} labeled test rows, fewer than {min_rows}")
    if positives < min_positives:
        problems.append(f"{positives} positive labels, fewer than {min_positives}")
    if empty_features:
        shown = ", ".join(empty_features[:5]) + (", ..." if len(empty_features) > 5 else "")
        problems.append(f"{len(empty_features)} feature(s) entirely null: {shown}")
    evidence = {
        "metric": metric,
        "value": value,
        "max_value": max_value,
        "labeled_rows": labeled_rows,
        "positives": positives,
        "min_rows": min_rows,
        "min_positives": min_positives,
        "empty_features": empty_features,
    }
    if problems:
        return Verdict("sanity", False, "ERROR", "; ".join(problems), evidence)
    return Verdict(
        "sanity",
        True,
        "ERROR",
        f"{metric} {value:.4f} plausible; {labeled_rows} labeled rows, "
        f"{positives} positives; every feature filled",
        evidence,
    )


def empty_columns(X: np.ndarray, features: list[str]) -> list[str]:
    """Features with no value in any row."""
    if len(X) == 0:
        return []
    return [f for f, empty in zip(features, np.isnan(X).all(axis=0), strict=True) if empty]
