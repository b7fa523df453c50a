"""Aequitas's bias audit, as Triage's evaluator runs it: per protected attribute and group, the
confusion counts of the top of the list and the metrics built from them (`crosstabs`), then each
metric relative to a reference group (`disparities`).

Definitions are Aequitas 1.0.0's (`Group.gen_metrics_df`, `Bias.get_disparity_*`): a ratio with a
zero denominator is NaN, a disparity over a zero reference is 10.0, and rows whose attribute is
unknown count in the list's size (`k`, `total_entities`) but in no group. Where Triage's call of
Aequitas departs from its own intent, prodline keeps the intent (see tests/test_bias_parity.py):
ties are broken by the tie_breaker, not re-sorted at random, and min_metric picks each threshold's
own minimum.
"""

import math

import numpy as np

# The metrics Bias compares with the reference group, in Aequitas's order.
DISPARITY_METRICS = ("ppr", "pprev", "precision", "fdr", "for", "fpr", "fnr", "tpr", "tnr", "npv")
FILL_DIVBYZERO = 10.0  # Aequitas's cap for a disparity over a reference of zero
TIE_BREAKERS = ("worst", "best")


class ReferenceMissing(ValueError):
    """A predefined reference group that has no rows."""


def listed_rows(parameter: str, n: int) -> int:
    """How many rows of n are on the list at a cutoff in Aequitas's spelling: `100_abs` the first
    100, `0.01_pct` every row i (from 0) with i < 0.01 * n, which rounds up."""
    value, unit = parameter.rsplit("_", 1)
    if unit == "abs":
        return min(int(value), n)
    return min(n, math.ceil(float(value) * n))


def tie_broken(scores: np.ndarray, labels: np.ndarray, tie_breaker: str) -> np.ndarray:
    """Row positions from the highest score down, as Triage sorts them: ties with negative labels
    first (`worst`) or positive labels first (`best`), then in their given order."""
    if tie_breaker not in TIE_BREAKERS:
        raise ValueError(f"tie_breaker {tie_breaker!r} is not one of {', '.join(TIE_BREAKERS)}")
    labels = np.asarray(labels, dtype=float)
    second = labels if tie_breaker == "worst" else -labels
    return np.lexsort((np.arange(len(scores)), second, -np.asarray(scores, dtype=float)))


def _ratio(x: float, y: float) -> float:
    return x / y if y != 0 else math.nan


def _group_row(tp: int, tn: int, fp: int, fn: int, k: int) -> dict:
    pp, pn = fp + tp, fn + tn
    size = tp + tn + fp + fn
    return {
        "accuracy": _ratio(tp + tn, size), "tpr": _ratio(tp, fn + tp), "tnr": _ratio(tn, fp + tn),
        "for": _ratio(fn, fn + tn), "fdr": _ratio(fp, tp + fp), "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, fn + tp), "npv": _ratio(tn, fn + tn), "precision": _ratio(tp, tp + fp),
        "pp": pp, "pn": pn, "ppr": _ratio(pp, k), "pprev": _ratio(pp, pp + pn),
        "fp": fp, "fn": fn, "tn": tn, "tp": tp, "group_label_pos": fn + tp, "group_label_neg": fp + tn,
        "group_size": size, "prev": (fn + tp) / size,
    }


def known(value) -> bool:
    """An attribute value that makes a group (Aequitas groups with pandas, which drops NULLs)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def crosstabs(scores: np.ndarray, labels: np.ndarray, attributes: dict[str, np.ndarray],
              parameters: list[str], tie_breaker: str = "worst") -> list[dict]:
    """Aequitas's group counts and metrics: one row per cutoff, attribute and group (groups in
    sorted order). `labels` must be all 0 or 1: unlabeled rows are left out by the caller."""
    labels = np.asarray(labels, dtype=float)
    if np.isnan(labels).any() or not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1: leave unlabeled rows out before the audit")
    n = len(labels)
    ranked = tie_broken(scores, labels, tie_breaker)
    position = np.empty(n, dtype=np.int64)
    position[ranked] = np.arange(n)
    positive = labels == 1
    groups = {}
    for name, values in attributes.items():
        values = np.asarray(values, dtype=object)
        present = sorted({v for v in values if known(v)})
        groups[name] = [(v, values == v) for v in present]
    rows = []
    for parameter in parameters:
        on_list = position < listed_rows(parameter, n)
        k = int(on_list.sum())
        for name, members in groups.items():
            for value, mine in members:
                tp = int((mine & on_list & positive).sum())
                fp = int((mine & on_list & ~positive).sum())
                fn = int((mine & ~on_list & positive).sum())
                tn = int((mine & ~on_list & ~positive).sum())
                rows.append({"parameter": parameter, "tie_breaker": tie_breaker, "k": k,
                             "attribute_name": name, "attribute_value": value,
                             **_group_row(tp, tn, fp, fn, k), "total_entities": n})
    return rows


def _disparity(value: float, reference: float) -> float:
    if math.isnan(value) or math.isnan(reference):
        return math.nan
    if reference == 0:
        return math.nan if value == 0 else FILL_DIVBYZERO
    return value / reference


def _reference(rows: list[dict], metric: str, method: str, ref_groups: dict[str, str] | None) -> dict:
    """The reference row of one cutoff and attribute: the predefined group, the largest group, or
    the group with the smallest value of `metric` (the first in order on a tie; the first group when
    no group has a value)."""
    if method == "predefined":
        name = rows[0]["attribute_name"]
        found = [r for r in rows if r["attribute_value"] == ref_groups[name]]
        if not found:
            raise ReferenceMissing(f"reference group {name}={ref_groups[name]!r} has no rows "
                                   f"(groups: {', '.join(str(r['attribute_value']) for r in rows)})")
        return found[0]
    if method == "majority":
        return max(rows, key=lambda r: r["group_size"])  # max keeps the first of equals
    valued = [r for r in rows if not math.isnan(r[metric])]
    return min(valued, key=lambda r: r[metric]) if valued else rows[0]


def disparities(rows: list[dict], method: str, ref_groups: dict[str, str] | None = None) -> list[dict]:
    """The crosstab rows with `{metric}_disparity` (group over reference) and
    `{metric}_ref_group_value` (the reference group) for each of `DISPARITY_METRICS`."""
    by_key: dict[tuple, list[dict]] = {}
    for row in rows:
        by_key.setdefault((row["parameter"], row["tie_breaker"], row["attribute_name"]), []).append(row)
    out = []
    for members in by_key.values():
        references = {m: _reference(members, m, method, ref_groups) for m in DISPARITY_METRICS}
        for row in members:
            extra = {}
            for metric, ref in references.items():
                extra[f"{metric}_disparity"] = _disparity(row[metric], ref[metric])
                extra[f"{metric}_ref_group_value"] = ref["attribute_value"]
            out.append({**row, **extra})
    return out


def audit(scores: np.ndarray, labels: np.ndarray, attributes: dict[str, np.ndarray], parameters: list[str],
          method: str, ref_groups: dict[str, str] | None = None,
          tie_breakers: tuple[str, ...] = TIE_BREAKERS) -> list[dict]:
    """Group metrics and disparities at every cutoff, for each tie breaker (Triage audits `worst`
    and `best`). Unlabeled rows are left out first: Aequitas refuses them."""
    labels = np.asarray(labels, dtype=float)
    labeled = ~np.isnan(labels)
    scores, labels = np.asarray(scores, dtype=float)[labeled], labels[labeled]
    attributes = {a: np.asarray(v, dtype=object)[labeled] for a, v in attributes.items()}
    rows = []
    for tie_breaker in tie_breakers:
        tabs = crosstabs(scores, labels, attributes, parameters, tie_breaker)
        rows += disparities(tabs, method, ref_groups)
    return rows
