"""Triage's own Audition on evaluations already in PostgreSQL: run by Triage's interpreter (`make
triage`), not prodline's. Reads a JSON list of cases on stdin; writes, for each, what Audition gives:

- `kept`: Auditioner.thresholded_model_group_ids (the filter);
- `distances`: its distance-from-best table (value, best, distance, and the next time's);
- `rules`: for each rule of the grid (make_selection_rule_grid) and each numpy seed (Audition breaks
  ties with pandas' sample, which draws from numpy's global generator): the groups it picks at the
  newest time (`selection_rule_model_group_ids`) and, at every earlier time, the group
  SelectionRulePicker.results_for_rule picks and its regret (dist_from_best_case_next_time).
"""

import datetime as dt
import json
import logging
import sys

import loading  # noqa: F401  (Triage's modules without aequitas's __init__ and s3fs)
import numpy as np
from sqlalchemy import create_engine
from triage.component.audition import Auditioner
from triage.component.audition.selection_rule_grid import make_selection_rule_grid


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return value


def audition(engine, case: dict) -> dict:
    times = [dt.datetime.fromisoformat(t) for t in case["train_end_times"]]
    aud = Auditioner(
        db_engine=engine,
        model_group_ids=case["model_group_ids"],
        train_end_times=times,
        initial_metric_filters=case["filters"],
        distance_table=case["distance_table"],
        agg_type=case["agg_type"],
    )
    kept = sorted(aud.thresholded_model_group_ids)
    aud.register_selection_rule_grid(case["rules"], plot=False)
    picker = aud.selection_rule_picker
    metric, parameter = case["filters"][0]["metric"], case["filters"][0]["parameter"]
    rules = []
    for rule in make_selection_rule_grid(case["rules"]):
        runs = []
        for seed in case["seeds"]:
            np.random.seed(seed)
            newest = picker.model_group_from_rule(rule, kept, aud.train_end_times[-1])
            np.random.seed(seed)
            past = picker.results_for_rule(rule, kept, aud.train_end_times[:-1], metric, parameter)
            runs.append({"newest": list(newest),
                         "past": [{"time": r["train_end_time"], "chosen": r["model_group_id"],
                                   "regret": r["dist_from_best_case_next_time"]} for r in past]})
        rules.append({"name": rule.function_name, "args": rule.args, "descriptive": rule.descriptive_name,
                      "runs": runs})
    table = aud.distance_from_best_table.as_dataframe(case["model_group_ids"])
    return _plain({"kept": kept, "rules": rules,
                   "distances": table.sort_values(["metric", "train_end_time", "model_group_id"])
                   .to_dict("records")})


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    payload = json.load(sys.stdin)
    engine = create_engine(payload["db_url"])
    try:
        json.dump([audition(engine, case) for case in payload["cases"]], sys.stdout)
    finally:
        engine.dispose()
