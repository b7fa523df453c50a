"""How a stored list did once its labels matured: realized precision and recall at every cutoff
(rows of `production.monitoring`), against the value recorded when its model was promoted."""

import datetime as dt
from dataclasses import dataclass

import numpy as np

from prodline.config.cutoffs import Threshold
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.monitoring import measures
from prodline.pipeline.tables import ONE, Tables, has_table
from prodline.pipeline.verdict import Verdict


def list_outcomes(warehouse, label: str, day: dt.date, tables: Tables = ONE) -> list[dict]:
    """The stored list of a date with each entity's outcome (None while unknown); refused if there is
    no list, or none of its labels has matured."""
    rows = warehouse.rows(
        f"SELECT p.score, p.model_version, p.entity_id, l.{label} AS outcome "
        f"FROM {tables.production('predictions')} AS p LEFT JOIN {tables.labels} AS l "
        "ON l.entity_id = p.entity_id AND l.as_of_date = p.as_of_date WHERE p.as_of_date = :d",
        d=day,
    )
    if not rows:
        raise StepRefused(f"no predictions for {day}: materialize predictions first")
    if all(r["outcome"] is None for r in rows):
        raise StepRefused(f"the labels of {day} have not matured yet (none of {len(rows)} rows has one)")
    return rows


@dataclass(frozen=True)
class DayJudged:
    rows: list[dict]  # of production.monitoring
    figure: dict  # what the UI's table shows for the date
    failure: str | None  # why the watched metric fell too far below its promise, if it did


def judge_day(rows: list[dict], day: dt.date, thresholds: list[Threshold], promised: dict[str, float],
              watched_metric: str, margin: float) -> DayJudged:
    """Realized precision and recall of one date's list at every cutoff; the watched metric (the
    selection metric) is compared with the value promised at its version's promotion."""
    labels = np.array([np.nan if r["outcome"] is None else r["outcome"] for r in rows], dtype=float)
    version = rows[0]["model_version"]
    realized = measures.realized(np.array([r["score"] for r in rows], dtype=float), labels, thresholds)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = [
        {"as_of_date": day, "model_version": version, "metric": metric, "parameter": t.parameter,
         "value": values[t.parameter], "labeled_rows": realized.labeled_rows, "positives": realized.positives,
         "labeled_share": realized.labeled_share,
         "promised": promised.get(version) if f"{metric}{t.parameter}" == watched_metric else None,
         "evaluated_at": now}
        for metric, values in (("precision@", realized.precision), ("recall@", realized.recall))
        for t in thresholds
    ]
    watched = next((r for r in out if r["promised"] is not None), None)
    failure = None
    if watched and watched["value"] is not None \
            and measures.below_promotion(watched["value"], watched["promised"], margin):
        failure = (f"{day}: {watched_metric} {watched['value']:.4f} vs {watched['promised']:.4f} "
                   f"at promotion of version {version}")
    figure = {"as_of_date": str(day), "version": version,
              watched_metric: None if watched is None else _r(watched["value"]),
              "promised": None if watched is None else _r(watched["promised"]),
              "labeled": realized.labeled_rows}
    return DayJudged(out, figure, failure)


def realized_verdict(check: str, judged: list[DayJudged], watched_metric: str, margin: float) -> Verdict:
    failures = [j.failure for j in judged if j.failure]
    summary = "; ".join(failures) if failures \
        else f"realized {watched_metric} within {margin:g} of the promised value"
    evidence = {"dates": [j.figure for j in judged], "margin": margin}
    return Verdict(check, not failures, "ERROR", summary, evidence)


def drifted_features(warehouse, start: dt.date, end: dt.date, alert: float,
                     tables: Tables = ONE) -> list[dict]:
    """Feature-dates of `production.drift` at or above `alert`, worst first within a date."""
    if not has_table(warehouse, drift := tables.production("drift")):
        return []
    found = warehouse.rows(
        f"SELECT as_of_date, feature, psi FROM {drift} WHERE as_of_date BETWEEN :a AND :b "
        "AND psi >= :alert ORDER BY as_of_date, psi DESC", a=start, b=end, alert=alert)
    return [{**d, "as_of_date": str(d["as_of_date"]), "psi": round(d["psi"], 4)} for d in found]


def _r(value):
    return None if value is None else round(float(value), 4)


def shortfalls_since(warehouse, margin: float, seen: str, tables: Tables = ONE) -> list[dict]:
    """Dates after `seen` (ISO text) whose realized watched metric fell more than `margin` below its
    promise, oldest first."""
    if not has_table(warehouse, monitoring := tables.production("monitoring")):
        return []
    return warehouse.rows(
        f"SELECT as_of_date, value, promised FROM {monitoring} WHERE promised IS NOT NULL "
        "AND value < promised - :margin AND CAST(as_of_date AS VARCHAR(10)) > :seen ORDER BY as_of_date",
        margin=margin, seen=seen)

