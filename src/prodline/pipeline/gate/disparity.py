"""The gate's judgement on the bias audit's figures: each of Aequitas's disparities (a group's
metric over its reference group's) must lie within bounds."""

import math

from prodline.pipeline.verdict import Verdict


def disparities_within_bounds(rows: list[dict], metrics: list[str], parameter: str,
                              bounds: tuple[float, float], min_group_size: int,
                              severity: str = "ERROR") -> Verdict:
    """Judge the audit rows at `parameter` (one tie breaker). A group smaller than `min_group_size`,
    a group that is its own reference, and a disparity Aequitas leaves undefined (NaN) are listed but
    not judged: too few rows to block on, nothing to compare, no figure."""
    low, high = bounds
    table, failures = [], []
    for row in (r for r in rows if r["parameter"] == parameter):
        for metric in metrics:
            value, reference = row[f"{metric}_disparity"], row[f"{metric}_ref_group_value"]
            defined = not math.isnan(value)
            judged = defined and row["group_size"] >= min_group_size and row["attribute_value"] != reference
            within = not judged or low <= value <= high
            table.append({"attribute": row["attribute_name"], "group": row["attribute_value"],
                          "metric": metric, "value": None if math.isnan(row[metric]) else row[metric],
                          "disparity": value if defined else None, "reference": reference,
                          "group_size": row["group_size"], "judged": judged, "within": within})
            if not within:
                failures.append(f"{row['attribute_name']}={row['attribute_value']}: {metric} disparity "
                                f"{value:.2f} vs {reference!r} outside {low:g}-{high:g} at {parameter}")
    evidence = {"parameter": parameter, "bounds": [low, high], "min_group_size": min_group_size,
                "groups": table}
    if not table:
        return Verdict("disparity", False, severity, f"the audit has no group at {parameter}", evidence)
    if failures:
        return Verdict("disparity", False, severity, "; ".join(failures), evidence)
    judged = sum(r["judged"] for r in table)
    return Verdict("disparity", True, severity, f"{judged} disparity(ies) of {', '.join(metrics)} at "
                   f"{parameter} within {low:g}-{high:g} of their reference group", evidence)
