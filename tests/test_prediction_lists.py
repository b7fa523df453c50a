"""One date's ranked list and its drift (prodline.pipeline.predictions.lists), on matrices built
in memory: ranks, ties, lineage, PSI levels, the drift verdict."""

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from prodline.config.production import MonitoringConfig
from prodline.pipeline import tables
from prodline.pipeline.matrices.files import Matrix
from prodline.pipeline.predictions import ranking
from prodline.pipeline.predictions.lists import drift_verdict, drifted, list_drift, ranked_list
from prodline.pipeline.verdict import Verdict
from prodline.stores.warehouse import Warehouse

DAY = dt.date(2024, 3, 1)
LINEAGE = {"model_name": "risk", "model_version": "4", "model_run_id": "run-abc", "dagster_run_id": "dg-1"}
VERSIONS = {"features.reg_aggregation": "5e1f0c2a9d3b4c7e", "cohort.cohort": "a0b1c2d3e4f5a6b7"}


def matrix(entities, X, features, uuid="m" * 20, day=DAY) -> Matrix:
    keys = pa.table({"entity_id": pa.array(entities, pa.int64()),
                     "as_of_date": pa.array([day] * len(entities), pa.date32())})
    X = np.asarray(X, dtype=float)
    return Matrix(uuid, keys, X, np.full(len(entities), np.nan), list(features))


COHORT = matrix([5, 3, 9, 1], np.zeros((4, 1)), ["a"])
SCORES = np.array([0.2, 0.8, 0.8, 0.5])


def test_ranked_list_ranks_by_score_and_breaks_ties_by_entity_id():
    ranked = ranked_list(COHORT, SCORES, LINEAGE, VERSIONS).to_pydict()
    assert ranked["entity_id"] == [5, 3, 9, 1]  # the cohort's order, each row with its place
    assert ranked["rank"] == [4, 1, 2, 3]  # 3 and 9 tie at 0.8: the lower id first
    assert ranked["rank"] == ranking.rank(SCORES, COHORT.entities).tolist()
    assert ranked["percentile"] == [25.0, 100.0, 75.0, 50.0]
    assert ranked["score"] == SCORES.tolist()
    assert ranked["as_of_date"] == [DAY] * 4


def test_ranked_list_repeats_its_lineage_on_every_row():
    ranked = ranked_list(COHORT, SCORES, LINEAGE, VERSIONS)
    rows = ranked.to_pylist()
    for key, value in LINEAGE.items():
        assert {r[key] for r in rows} == {value}
    assert {r["data_versions"] for r in rows} == {json.dumps(VERSIONS, sort_keys=True)}
    assert len({r["predicted_at"] for r in rows}) == 1
    assert ranked.schema.field("rank").type == pa.int32()
    assert ranked.column_names == ["entity_id", *tables.PREDICTION_COLUMNS]


def test_ranked_list_goes_into_production_predictions(tmp_path):
    warehouse = Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb")
    table = tables.production_table(warehouse, "predictions", tables.PREDICTION_COLUMNS, entity=True)
    assert warehouse.replace_window(table, ranked_list(COHORT, SCORES, LINEAGE, VERSIONS), "as_of_date",
                                    DAY, DAY) == 4
    found = warehouse.rows("SELECT entity_id, rank, model_version FROM production.predictions ORDER BY rank")
    assert found == [{"entity_id": 3, "rank": 1, "model_version": "4"},
                     {"entity_id": 9, "rank": 2, "model_version": "4"},
                     {"entity_id": 1, "rank": 3, "model_version": "4"},
                     {"entity_id": 5, "rank": 4, "model_version": "4"}]


def test_a_predictions_table_of_an_older_version_gains_the_data_versions_column(tmp_path):
    warehouse = Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb")
    older = {c: t for c, t in tables.PREDICTION_COLUMNS.items() if c != "data_versions"}
    older["features_partition"] = sa.String
    old = tables.production_table(warehouse, "predictions", older, entity=True)
    warehouse.replace_window(old, pa.table({"entity_id": [8], "as_of_date": [dt.date(2024, 2, 1)],
                                            "features_partition": ["2024-02-01"]}),
                             "as_of_date", dt.date(2024, 2, 1), dt.date(2024, 2, 1))
    table = tables.production_table(warehouse, "predictions", tables.PREDICTION_COLUMNS, entity=True)
    warehouse.replace_window(table, ranked_list(COHORT, SCORES, LINEAGE, VERSIONS), "as_of_date", DAY, DAY)
    found = warehouse.rows("SELECT entity_id, model_run_id, data_versions, features_partition "
                           "FROM production.predictions ORDER BY as_of_date, rank")
    assert found[0] == {"entity_id": 8, "model_run_id": None, "data_versions": None,
                        "features_partition": "2024-02-01"}  # an old row keeps what it had
    assert [(r["model_run_id"], json.loads(r["data_versions"]), r["features_partition"]) for r in found[1:]] \
        == [("run-abc", VERSIONS, None)] * 4


def test_ranked_list_of_one_row():
    ranked = ranked_list(matrix([7], [[1.0]], ["a"]), np.array([0.3]), LINEAGE, VERSIONS).to_pydict()
    assert ranked["rank"] == [1] and ranked["percentile"] == [100.0]


# --- drift ----------------------------------------------------------------------------------------

RNG = np.random.default_rng(7)
N = 400
BASE = RNG.normal(size=(N, 3))
REFERENCE = matrix(range(N), BASE, ["a", "b", "c"], uuid="r" * 20)
# The cohort holds its columns in another order; "a" moved by two standard deviations.
CURRENT = matrix(range(N), np.column_stack([BASE[:, 2], BASE[:, 0] + 2.0, BASE[:, 1]]), ["c", "a", "b"],
                 uuid="c" * 20)
WATCHING = MonitoringConfig(drift_warn=0.1, drift_alert=0.25, bins=10)


def test_list_drift_gives_a_shifted_feature_a_larger_psi_and_level():
    drift = list_drift(REFERENCE, CURRENT, ["a", "b"], WATCHING, DAY, "4")
    assert list(drift.columns) == list(tables.DRIFT_COLUMNS)
    assert drift["feature"].tolist() == ["a", "b"]  # most drifted first; c is not the model's
    a, b = drift.set_index("feature")["psi"]["a"], drift.set_index("feature")["psi"]["b"]
    assert a > 1.0 and b == pytest.approx(0.0, abs=1e-9)  # b is the same column, read by its name
    assert drift["level"].tolist() == ["major", "stable"]
    assert set(drift["as_of_date"]) == {DAY} and set(drift["model_version"]) == {"4"}
    assert drift["reference_null_share"].tolist() == [0.0, 0.0]


def test_list_drift_levels_follow_the_config():
    lenient = MonitoringConfig(drift_warn=50.0, drift_alert=100.0)
    drift = list_drift(REFERENCE, CURRENT, ["a", "b"], lenient, DAY, "4")
    assert drift["level"].tolist() == ["stable", "stable"]


def test_list_drift_counts_nulls_of_the_cohort():
    X = CURRENT.X.copy()
    X[: N // 4, 2] = np.nan  # a quarter of b missing
    cohort = Matrix(CURRENT.uuid, CURRENT.keys, X, CURRENT.y, CURRENT.features)
    drift = list_drift(REFERENCE, cohort, ["b"], WATCHING, DAY, "4")
    assert drift["current_null_share"].tolist() == [0.25]
    assert drift["level"].tolist() == ["major"]  # a bin of nulls the reference never had


def test_list_drift_names_a_feature_the_cohort_lacks():
    cohort = matrix(range(N), BASE[:, :2], ["a", "c"])
    with pytest.raises(ValueError) as err:
        list_drift(REFERENCE, cohort, ["a", "b"], WATCHING, DAY, "4")
    assert "the matrix has no column(s) b that the champion uses" in str(err.value)


def test_drifted_keeps_the_features_at_or_above_warn_rounded():
    drift = list_drift(REFERENCE, CURRENT, ["a", "b"], WATCHING, DAY, "4")
    psi_a = drift.set_index("feature")["psi"]["a"]
    [found] = drifted(drift, 0.1)
    assert found == {"as_of_date": "2024-03-01", "feature": "a", "psi": round(psi_a, 4),
                     "current_null_share": 0.0}
    assert drifted(drift, psi_a) == [found]  # at the threshold counts
    assert drifted(drift, psi_a + 1) == []


def test_drift_verdict_warns_and_counts_the_feature_dates():
    drifts = [{"as_of_date": "2024-03-01", "feature": f"f{i}", "psi": 0.5, "current_null_share": 0.0}
              for i in range(60)]
    verdict = drift_verdict("features_are_stable", drifts, 0.25)
    assert not verdict.passed and verdict.severity == "WARN" and not verdict.blocks
    assert verdict.summary == "60 feature-date(s) with PSI >= 0.25"
    assert verdict.evidence == {"drifted": drifts[:50]}  # at most 50 in the evidence


def test_drift_verdict_passes_without_drift():
    assert drift_verdict("features_are_stable", [], 0.25) == Verdict(
        "features_are_stable", True, "WARN", "every feature's PSI below 0.25", {"drifted": []})


def test_ranked_list_of_text_ids_breaks_ties_by_the_text():
    keys = pa.table({"entity_id": pa.array(["p-b", "p-a", "p-c"]),
                     "as_of_date": pa.array([DAY] * 3, pa.date32())})
    cohort = Matrix("t" * 20, keys, np.zeros((3, 1)), np.full(3, np.nan), ["a"])
    ranked = ranked_list(cohort, np.array([0.5, 0.5, 0.9]), LINEAGE, VERSIONS).to_pydict()
    assert ranked["entity_id"] == ["p-b", "p-a", "p-c"] and ranked["rank"] == [3, 2, 1]


@pytest.mark.parametrize("dialect", [
    "duckdb",
    "postgresql"])
def test_stored_scores_read_back_as_ranked(tmp_path, request, dialect):
    url = f"duckdb:///{tmp_path}/w.duckdb" if dialect == "duckdb" else request.getfixturevalue("pg_url")
    warehouse = Warehouse(url=url)
    table = tables.production_table(warehouse, "predictions", tables.PREDICTION_COLUMNS, entity=True)
    scores = np.array([0.1, 0.123456789012, 0.123456789013])
    ranked = ranked_list(matrix([1, 2, 3], np.zeros((3, 1)), ["a"]), scores, LINEAGE, VERSIONS)
    warehouse.replace_window(table, ranked, "as_of_date", DAY, DAY)
    found = warehouse.rows("SELECT score FROM production.predictions ORDER BY entity_id")
    assert [r["score"] for r in found] == scores.tolist()
