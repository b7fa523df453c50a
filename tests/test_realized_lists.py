"""How a stored list did once its labels matured (prodline.pipeline.monitoring.realized_lists),
without Dagster: rows of production.monitoring, the failure text, the verdict, the refusals."""

import datetime as dt

import pytest

from prodline.config.cutoffs import Threshold
from prodline.config.production import SelectionConfig
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.monitoring.realized_lists import (
    drifted_features,
    judge_day,
    list_outcomes,
    realized_verdict,
)
from prodline.pipeline.verdict import Verdict
from prodline.stores.warehouse import Warehouse

DAY = dt.date(2024, 3, 1)
CUTS = [Threshold(1, "abs"), Threshold(50, "pct")]
WATCHED = "precision@50_pct"
# Four rows, one not labeled yet: of the three labeled (0.9 hit, 0.8 miss, 0.6 hit) the top 50%
# (2 rows) holds one hit, the top row one.
ROWS = [
    {"score": 0.9, "model_version": "3", "entity_id": 1, "outcome": 1},
    {"score": 0.8, "model_version": "3", "entity_id": 2, "outcome": 0},
    {"score": 0.7, "model_version": "3", "entity_id": 3, "outcome": None},
    {"score": 0.6, "model_version": "3", "entity_id": 4, "outcome": 1},
]


def by_metric(judged):
    return {(r["metric"], r["parameter"]): r for r in judged.rows}


def test_judge_day_gives_precision_and_recall_at_every_cutoff():
    judged = judge_day(ROWS, DAY, CUTS, {"3": 0.5}, WATCHED, 0.1)
    found = by_metric(judged)
    assert list(found) == [("precision@", "1_abs"), ("precision@", "50_pct"),
                           ("recall@", "1_abs"), ("recall@", "50_pct")]
    assert found[("precision@", "1_abs")]["value"] == 1.0
    assert found[("precision@", "50_pct")]["value"] == 0.5
    assert found[("recall@", "1_abs")]["value"] == 0.5
    assert found[("recall@", "50_pct")]["value"] == 0.5
    for row in judged.rows:
        assert row["as_of_date"] == DAY and row["model_version"] == "3"
        # The unlabeled row is left out of the cut but counted in the share.
        assert (row["labeled_rows"], row["positives"], row["labeled_share"]) == (3, 2, 0.75)
        assert isinstance(row["evaluated_at"], dt.datetime) and row["evaluated_at"].tzinfo is None


def test_only_the_watched_metric_carries_the_promise():
    judged = judge_day(ROWS, DAY, CUTS, {"3": 0.55, "2": 0.9}, WATCHED, 0.1)
    promised = {k: r["promised"] for k, r in by_metric(judged).items()}
    assert promised == {("precision@", "1_abs"): None, ("precision@", "50_pct"): 0.55,
                        ("recall@", "1_abs"): None, ("recall@", "50_pct"): None}


def test_a_fall_beyond_the_margin_is_a_failure_naming_the_values():
    judged = judge_day(ROWS, DAY, CUTS, {"3": 0.7}, WATCHED, 0.1)
    assert judged.failure == "2024-03-01: precision@50_pct 0.5000 vs 0.7000 at promotion of version 3"
    assert judged.figure == {"as_of_date": "2024-03-01", "version": "3", WATCHED: 0.5,
                             "promised": 0.7, "labeled": 3}


@pytest.mark.parametrize("promised", [0.6, 0.5, 0.3])
def test_within_the_margin_or_above_is_no_failure(promised):
    # 0.6 - 0.5 is exactly the margin: not below it.
    assert judge_day(ROWS, DAY, CUTS, {"3": promised}, WATCHED, 0.1).failure is None


def test_a_version_never_promoted_has_no_promise_and_no_failure():
    judged = judge_day(ROWS, DAY, CUTS, {"7": 0.99}, WATCHED, 0.1)
    assert all(r["promised"] is None for r in judged.rows)
    assert judged.failure is None
    assert judged.figure[WATCHED] is None and judged.figure["promised"] is None


def test_judge_day_reads_the_watched_recall_too():
    judged = judge_day(ROWS, DAY, CUTS, {"3": 0.9}, "recall@1_abs", 0.2)
    assert judged.failure == "2024-03-01: recall@1_abs 0.5000 vs 0.9000 at promotion of version 3"
    assert by_metric(judged)[("recall@", "1_abs")]["promised"] == 0.9


def test_an_undefined_watched_value_is_no_failure():
    # No positives among the labeled rows: recall is undefined (None), which is not a fall.
    rows = [{**r, "outcome": 0 if r["outcome"] is not None else None} for r in ROWS]
    judged = judge_day(rows, DAY, CUTS, {"3": 0.9}, "recall@1_abs", 0.1)
    assert by_metric(judged)[("recall@", "1_abs")]["value"] is None
    assert judged.failure is None and judged.figure["recall@1_abs"] is None


def test_a_selection_cutoff_spelled_as_triage_spells_it_is_watched():
    # `50.0_pct` is Triage's name of the cut when scoring says 50.0 (and `50_pct` when it says 50).
    selection = SelectionConfig(metric="precision@", parameter="50.0_pct", rule="best_average_value")
    assert Threshold.parse(selection.parameter).parameter == "50.0_pct"
    judged = judge_day(ROWS, DAY, [Threshold(50.0, "pct")], {"3": 0.7}, selection.name, 0.1)
    assert judged.failure is not None


def test_realized_verdict_passes_when_no_date_failed():
    days = [judge_day(ROWS, DAY, CUTS, {"3": 0.55}, WATCHED, 0.1),
            judge_day(ROWS, DAY + dt.timedelta(days=31), CUTS, {"3": 0.5}, WATCHED, 0.1)]
    verdict = realized_verdict("realized_performance_holds", days, WATCHED, 0.1)
    assert verdict == Verdict(
        "realized_performance_holds", True, "ERROR",
        "realized precision@50_pct within 0.1 of the promised value",
        {"dates": [days[0].figure, days[1].figure], "margin": 0.1},
    )
    assert not verdict.blocks


def test_realized_verdict_lists_every_failed_date():
    days = [judge_day(ROWS, DAY, CUTS, {"3": 0.8}, WATCHED, 0.05),
            judge_day(ROWS, dt.date(2024, 4, 1), CUTS, {"3": 0.5}, WATCHED, 0.05),
            judge_day(ROWS, dt.date(2024, 5, 1), CUTS, {"3": 0.7}, WATCHED, 0.05)]
    verdict = realized_verdict("realized", days, WATCHED, 0.05)
    assert not verdict.passed and verdict.severity == "ERROR" and verdict.blocks
    assert verdict.summary == (
        "2024-03-01: precision@50_pct 0.5000 vs 0.8000 at promotion of version 3; "
        "2024-05-01: precision@50_pct 0.5000 vs 0.7000 at promotion of version 3")
    assert [d["as_of_date"] for d in verdict.evidence["dates"]] == ["2024-03-01", "2024-04-01", "2024-05-01"]
    assert verdict.evidence["margin"] == 0.05


# --- against a warehouse --------------------------------------------------------------------------

SETUP = """
CREATE SCHEMA IF NOT EXISTS features;
CREATE SCHEMA IF NOT EXISTS production;
CREATE TABLE production.predictions (entity_id BIGINT, as_of_date DATE, score DOUBLE PRECISION,
  model_version VARCHAR);
CREATE TABLE features.labels (as_of_date DATE, entity_id BIGINT, outcome INTEGER);
INSERT INTO production.predictions VALUES (1, '2024-03-01', 0.9, '3'), (2, '2024-03-01', 0.8, '3'),
  (3, '2024-03-01', 0.7, '3'), (1, '2024-04-01', 0.5, '3'), (2, '2024-04-01', 0.4, '3');
INSERT INTO features.labels VALUES ('2024-03-01', 1, 1), ('2024-03-01', 2, 0), ('2024-02-01', 3, 1);
"""


@pytest.fixture
def warehouse(tmp_path):
    found = Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb")
    run(found, SETUP)
    return found


def run(warehouse, script: str) -> None:
    with warehouse.engine.begin() as conn:
        for statement in script.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def test_list_outcomes_joins_each_entity_to_its_label_of_that_date(warehouse):
    rows = sorted(list_outcomes(warehouse, "outcome", DAY), key=lambda r: r["entity_id"])
    assert [(r["entity_id"], r["score"], r["model_version"], r["outcome"]) for r in rows] == [
        (1, 0.9, "3", 1), (2, 0.8, "3", 0), (3, 0.7, "3", None)]  # entity 3's label is of another date


def test_list_outcomes_refuses_a_date_without_predictions(warehouse):
    with pytest.raises(StepRefused) as err:
        list_outcomes(warehouse, "outcome", dt.date(2024, 5, 1))
    assert "no predictions for 2024-05-01" in str(err.value)
    assert "materialize predictions first" in str(err.value)


def test_list_outcomes_refuses_a_date_whose_labels_have_not_matured(warehouse):
    with pytest.raises(StepRefused) as err:
        list_outcomes(warehouse, "outcome", dt.date(2024, 4, 1))
    assert "the labels of 2024-04-01 have not matured yet" in str(err.value)
    assert "none of 2 rows has one" in str(err.value)


def test_list_outcomes_feed_judge_day(warehouse):
    judged = judge_day(list_outcomes(warehouse, "outcome", DAY), DAY, [Threshold(1, "abs")],
                       {"3": 1.0}, "precision@1_abs", 0.0)
    assert by_metric(judged)[("precision@", "1_abs")]["value"] == 1.0
    assert judged.figure["labeled"] == 2 and judged.failure is None


def test_drifted_features_without_the_drift_table_is_empty(tmp_path):
    assert drifted_features(Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb"), DAY, DAY, 0.25) == []


def test_drifted_features_worst_first_within_a_date_and_rounded(warehouse):
    run(warehouse, """
        CREATE TABLE production.drift (as_of_date DATE, feature VARCHAR, psi DOUBLE PRECISION);
        INSERT INTO production.drift VALUES
          ('2024-04-01', 'a', 0.3), ('2024-03-01', 'a', 0.25), ('2024-03-01', 'b', 0.912345678),
          ('2024-03-01', 'c', 0.2499), ('2024-04-01', 'b', 1.5), ('2024-05-01', 'a', 9.0)
    """)
    assert drifted_features(warehouse, DAY, dt.date(2024, 4, 1), 0.25) == [
        {"as_of_date": "2024-03-01", "feature": "b", "psi": 0.9123},
        {"as_of_date": "2024-03-01", "feature": "a", "psi": 0.25},  # at the alert counts
        {"as_of_date": "2024-04-01", "feature": "b", "psi": 1.5},
        {"as_of_date": "2024-04-01", "feature": "a", "psi": 0.3},
    ]
    assert drifted_features(warehouse, DAY, DAY, 10.0) == []
