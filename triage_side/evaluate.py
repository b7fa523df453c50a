"""Triage's own ModelEvaluator on many scored lists: run by Triage's interpreter (`make triage`), not
prodline's. Reads JSON on stdin: `cutoffs`, [n, p] pairs, answered with the rows Triage's
`generate_binary_at_x` puts on a list of n at the top p percent; `cases`, a list of cases: scores,
labels (null: unlabeled), the testing_metric_groups, optionally `subset` (the positions of the rows
in a subset, cut out by Triage's `subset_labels_and_predictions`), `evaluate` and `orders`. Writes,
for each case:

- `sorted`: each metric definition on the list in Triage's worst and best orders: its
  `sort_predictions_and_labels` and `_compute_evaluations`, the calls `evaluate()` makes in its steps
  1 and 2, one definition at a time so that one metric's crash does not hide the others' answers;
- `evaluations` (if `evaluate`): what `ModelEvaluator.evaluate` writes, worst, best and stochastic
  values after its random trials, or `error` when it raises;
- `orders` (if `orders`): `_compute_evaluations` on every distinct order of the labels inside each
  tie (all equally likely under Triage's random tie-breaking): the exact mean of its values.

The matrix store is a stand-in holding the labels, and the database write keeps the rows instead.
Everything else is Triage's code. sklearn's checks make each metric call cost milliseconds, so the
cases are many but each asks for a few metrics.
"""

import datetime as dt
import itertools
import json
import logging
import random
import sys

import loading  # noqa: F401  (before Triage: aequitas's __init__ needs torch)
import numpy as np
import pandas as pd
from triage.component.catwalk.evaluation import (
    ModelEvaluator,
    generate_binary_at_x,
    subset_labels_and_predictions,
)
from triage.component.catwalk.utils import sort_predictions_and_labels

DATE = dt.datetime(2024, 1, 1)


class Row:
    """What evaluate() writes to the evaluations table, kept instead."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class MatrixType:
    is_test = True
    evaluation_obj = Row


class Matrix:
    """A stand-in MatrixStore: the labels indexed by (entity_id, as_of_date), and its metadata."""

    def __init__(self, labels: pd.Series):
        self.labels = labels
        self.matrix_type = MatrixType()
        self.as_of_dates = [DATE]
        self.metadata = {"as_of_date_frequency": "1d"}
        self.uuid = "parity"


class Evaluator(ModelEvaluator):
    def _write_to_db(self, model_id, subset_hash, start, end, frequency, uuid, evaluations, table):
        self.written = evaluations


def plain(value):
    if value is None or isinstance(value, str):
        return value
    value = float(value)
    return None if np.isnan(value) else value


def run(groups, scores, labels, seed):
    evaluator = Evaluator(groups, [], db_engine=None)
    random.seed(seed)
    np.random.seed(seed)
    try:
        evaluator.evaluate(scores, Matrix(labels), model_id=1)
    except Exception as err:  # a crash is an answer to compare
        return {"error": f"{type(err).__name__}: {err}"}
    return {"evaluations": [
        {"metric": e.metric, "parameter": e.parameter,
         "worst": plain(e.worst_value), "best": plain(e.best_value),
         "stochastic": plain(e.stochastic_value), "trials": e.num_sort_trials,
         "sd": plain(e.standard_deviation), "labeled": e.num_labeled_examples,
         "labeled_above": int(e.num_labeled_above_threshold), "positives": int(e.num_positive_labels)}
        for e in evaluator.written]}


def orders(groups, scores, labels):
    """Triage's metrics on every distinct order of the labels inside each tie, highest score first:
    per order, [metric, parameter, value, labeled rows above] (value "error" where Triage raises)."""
    evaluator = ModelEvaluator(groups, [], db_engine=None)
    definitions = evaluator._flatten_metric_config_groups(groups)
    order = np.argsort(-scores, kind="stable")
    proba = scores[order]
    codes = np.where(np.isnan(labels), 2, labels).astype(int)[order]  # NaN never equals itself
    ties = [codes[proba == value].tolist() for value in dict.fromkeys(proba.tolist())]
    found = []
    for arrangement in itertools.product(*(list(arrangements(sorted(t))) for t in ties)):
        arranged = np.array([np.nan if v == 2 else v for tie in arrangement for v in tie], dtype=float)
        found.append([one(evaluator, proba, arranged, d) for d in definitions])
    return found


def arrangements(codes: list[int]):
    """Every distinct order of a multiset of label codes (a tie of 30 rows with 29 unlabeled has 30)."""
    if not codes:
        yield ()
        return
    for first in sorted(set(codes)):
        rest = list(codes)
        rest.remove(first)
        for tail in arrangements(rest):
            yield (first, *tail)


def one(evaluator, proba, labels, definition):
    try:
        [e] = evaluator._compute_evaluations(proba, labels, [definition])
    except Exception as err:
        return [definition.metric, definition.parameter_string, "error", f"{type(err).__name__}: {err}"]
    return [e.metric, e.parameter, plain(e.value), int(e.num_labeled_above_threshold),
            int(e.num_labeled_examples), int(e.num_positive_labels)]


def sorted_readings(groups, scores, labels):
    """Each definition in the worst and in the best order, as evaluate() computes them."""
    evaluator = ModelEvaluator(groups, [], db_engine=None)
    definitions = evaluator._flatten_metric_config_groups(groups)
    proba_worst, labels_worst, index_worst = sort_predictions_and_labels(
        scores, np.array(labels), labels.index, tiebreaker="worst")
    proba_best, labels_best, _ = sort_predictions_and_labels(
        proba_worst, labels_worst, index_worst, tiebreaker="best")
    return [{"worst": one(evaluator, proba_worst, labels_worst, d),
             "best": one(evaluator, proba_best, labels_best, d)} for d in definitions]


def case(c: dict) -> dict:
    scores = np.array(c["scores"], dtype=float)
    index = pd.MultiIndex.from_tuples([(i, DATE) for i in range(len(scores))],
                                      names=["entity_id", "as_of_date"])
    values = [np.nan if v is None else v for v in c["labels"]]
    labels = pd.Series(values, index=index, dtype=float, name="label")
    if c.get("subset") is not None:
        active = pd.DataFrame({"active": True}, index=index[c["subset"]])
        labels, scores, _ = subset_labels_and_predictions(active, labels, scores)
    out = {"sorted": sorted_readings(c["groups"], np.asarray(scores), labels)}
    if c.get("evaluate"):
        out.update(run(c["groups"], scores, labels, c["seed"]))
    if c.get("orders"):
        out["orders"] = orders(c["groups"], np.asarray(scores), labels.to_numpy())
    return out


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    import warnings

    warnings.simplefilter("ignore")
    asked = json.load(sys.stdin)
    cutoffs = [int(generate_binary_at_x(np.zeros(n), p, unit="percentile").sum())
               for n, p in asked["cutoffs"]]
    json.dump({"cases": [case(c) for c in asked["cases"]], "cutoffs": cutoffs}, sys.stdout)
