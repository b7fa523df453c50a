"""Aequitas 1.0.0 as Triage 6.0.0's evaluator calls it (`ModelEvaluator._write_audit_to_db`): run by
Triage's interpreter, not prodline's. Reads a JSON list of cases on stdin (scores, labels,
attributes, thresholds, ref_groups_method, ref_groups); writes, for each, the audit rows of each
tie breaker in three ways:

- `triage`: the evaluator's own steps on the scores as given, the rows as it stores them (the last
  of duplicate keys kept), or the error it raised;
- `per_threshold`: the same calls one threshold at a time, on scores replaced by each row's place in
  the tie-broken order, so that Aequitas's own re-sort cannot reorder a tie. This is what the
  evaluator means to compute; prodline computes it.

The body of `_write_audit_to_db` is repeated here up to its database write (which needs Triage's
results schema), call for call: preprocess_input_df, Group().get_crosstabs with `rank_abs` = top_n
and `rank_pct` = percentiles / 100, then Bias's method for ref_groups_method, then the renames.
"""

import json
import logging
import math
import sys
import warnings

import loading  # noqa: F401  (aequitas without its __init__, which needs torch)
import numpy as np
import pandas as pd
from aequitas.bias import Bias
from aequitas.group import Group
from aequitas.preprocessing import preprocess_input_df
from triage.component.catwalk.utils import sort_predictions_and_labels

KEY = ["attribute_name", "attribute_value", "parameter"]


def audit_rows(protected_df: pd.DataFrame, scores, labels, config: dict) -> list[dict]:
    """`_write_audit_to_db` (triage/component/catwalk/evaluation.py) up to the write."""
    protected_df = protected_df.copy()
    protected_df["model_id"] = 1
    protected_df["score"] = scores
    protected_df["label_value"] = labels
    aequitas_df, attr_cols_input = preprocess_input_df(protected_df)
    g = Group()
    score_thresholds = {}
    score_thresholds["rank_abs"] = config["thresholds"].get("top_n", [])
    score_thresholds["rank_pct"] = [value / 100.0 for value in config["thresholds"].get("percentiles", [])]
    groups_model, _ = g.get_crosstabs(aequitas_df, score_thresholds=score_thresholds,
                                              attr_cols=attr_cols_input)
    bias = Bias()
    ref_groups_method = config.get("ref_groups_method")
    if ref_groups_method == "predefined" and config["ref_groups"]:
        bias_df = bias.get_disparity_predefined_groups(groups_model, aequitas_df, config["ref_groups"])
    elif ref_groups_method == "majority":
        bias_df = bias.get_disparity_major_group(groups_model, aequitas_df)
    else:
        bias_df = bias.get_disparity_min_metric(groups_model, aequitas_df)
    # (Fairness(tau=0.8).get_group_value_fairness adds parity flags only; it changes no figure.)
    bias_df = bias_df.rename(index=str, columns={"score_threshold": "parameter"})
    bias_df = bias_df.drop_duplicates(subset=KEY, keep="last")  # as the evaluator does before inserting
    return [{k: _plain(v) for k, v in row.items()} for row in bias_df.to_dict(orient="records")]


def _plain(value):
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def case(spec: dict) -> dict:
    n = len(spec["scores"])
    index = pd.MultiIndex.from_arrays([list(range(n)), ["2020-01-01"] * n], names=["entity_id", "as_of_date"])
    protected = pd.DataFrame({a: pd.Series(v, dtype=object) for a, v in spec["attributes"].items()})
    protected.index = index
    labels = np.array([math.nan if y is None else y for y in spec["labels"]], dtype=float)
    out = {}
    for tie_breaker in ("worst", "best"):
        scores, y, order = sort_predictions_and_labels(np.array(spec["scores"], dtype=float), labels,
                                                       index, tiebreaker=tie_breaker)
        frame = protected.reindex(order)
        try:
            out[f"triage_{tie_breaker}"] = audit_rows(frame, scores, np.array(y), spec)
        except Exception as err:  # a refusal is an answer to compare
            out[f"triage_{tie_breaker}"] = {"error": f"{type(err).__name__}: {err}"}
        keep = ~np.isnan(np.array(y, dtype=float))
        places = np.arange(keep.sum(), 0, -1, dtype=float)  # distinct scores in the tie-broken order
        rows = []
        thresholds = spec["thresholds"]
        for key in ("top_n", "percentiles"):
            for value in thresholds.get(key, []):
                alone = {**spec, "thresholds": {key: [value]}}
                rows += audit_rows(frame[keep], places, np.array(y)[keep], alone)
        out[f"per_threshold_{tie_breaker}"] = rows
    return out


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    json.dump([case(c) for c in json.load(sys.stdin)], sys.stdout)
