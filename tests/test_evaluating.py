"""A split's models scored on its test matrices (prodline.pipeline.evaluations.evaluating): rows of
results.evaluations, run metric names, the leaderboard, and stored scores read back instead of a model."""

import datetime as dt

import numpy as np
import pytest

from prodline.config.cutoffs import Threshold
from prodline.pipeline.evaluations import evaluating
from prodline.pipeline.evaluations.evaluating import best_first, evaluation_rows, leaderboard_row
from prodline.pipeline.tables import EVALUATIONS_COLUMNS
from prodline.stores.matrix_store import MatrixStore

NOW = dt.datetime(2024, 6, 1, 12, 0)
A, B = "aaaaaaaa" + "1" * 12, "bbbbbbbb" + "2" * 12
CUTS = [Threshold(1, "abs"), Threshold(50, "pct")]
MODEL = {"model_id": "run-1", "model_group_id": "g-7", "split": "2024-05-01",
         "class_path": "sklearn.tree.DecisionTreeClassifier", "params": '{"max_depth": 2}',
         "feature_groups": '["ev", "demo"]'}
# A: hits at 0.9 and 0.7, misses at 0.8 and 0.1. B: a miss above a hit, one row not labeled.
TESTS = [(A, np.array([1.0, 0.0, 1.0, 0.0])), (B, np.array([0.0, np.nan, 1.0]))]
SCORES = {A: np.array([0.9, 0.8, 0.7, 0.1]), B: np.array([0.4, 0.3, 0.2])}


def values(rows):
    return {(r["matrix"], r["metric"], r["parameter"]): r["value"] for r in rows}


def test_one_row_per_metric_cutoff_and_matrix():
    rows, _ = evaluation_rows(MODEL, TESTS, SCORES, CUTS, NOW)
    assert len(rows) == 2 * (2 * len(CUTS) + 2)
    assert list(rows[0]) == list(EVALUATIONS_COLUMNS)
    for row in rows:
        assert (row["model_id"], row["model_group_id"], row["split"]) == ("run-1", "g-7", "2024-05-01")
        assert row["evaluated_at"] == NOW
    found = values(rows)
    assert found[(A, "precision@", "1_abs")] == 1.0
    assert found[(A, "precision@", "50_pct")] == 0.5
    assert found[(A, "recall@", "50_pct")] == 0.5
    assert found[(A, "roc_auc", "")] == pytest.approx(3 / 4)
    assert found[(A, "average precision score", "")] == pytest.approx((1 + 2 / 3) / 2)
    assert found[(B, "precision@", "1_abs")] == 0.0
    assert found[(B, "roc_auc", "")] == 0.0


def test_rows_count_labeled_rows_and_what_each_cut_takes():
    rows, _ = evaluation_rows(MODEL, TESTS, SCORES, CUTS, NOW)
    b = {(r["metric"], r["parameter"]): r for r in rows if r["matrix"] == B}
    assert (b[("precision@", "50_pct")]["labeled_rows"], b[("precision@", "50_pct")]["positives"]) == (2, 1)
    assert b[("precision@", "50_pct")]["rows_above"] == 1  # half of the three rows, truncated as Triage does
    assert b[("roc_auc", "")]["rows_above"] == 3  # the whole list, the unlabeled row included


def test_run_metrics_are_named_by_metric_cutoff_and_matrix():
    _, metrics = evaluation_rows(MODEL, TESTS, SCORES, CUTS, NOW)
    assert set(metrics) == {
        f"{name}__{prefix}"
        for prefix in ("aaaaaaaa", "bbbbbbbb")
        for name in ("precision_1_abs", "recall_1_abs", "precision_50_pct", "recall_50_pct",
                     "roc_auc", "average_precision_score")
    }
    assert metrics["precision_1_abs__aaaaaaaa"] == 1.0 and metrics["recall_1_abs__aaaaaaaa"] == 0.5
    assert metrics["roc_auc__bbbbbbbb"] == 0.0
    _, ten = evaluation_rows(MODEL, TESTS[:1], SCORES, [Threshold(10, "abs"), Threshold(2.5, "pct")], NOW)
    assert {"precision_10_abs__aaaaaaaa", "recall_2.5_pct__aaaaaaaa"} <= set(ten)


def test_undefined_metrics_stay_none():
    rows, metrics = evaluation_rows(MODEL, [(A, np.zeros(4))], SCORES, [Threshold(1, "abs")], NOW)
    found = values(rows)
    assert found[(A, "recall@", "1_abs")] is None and found[(A, "roc_auc", "")] is None
    assert metrics["recall_1_abs__aaaaaaaa"] is None  # ModelStore leaves None out of the run


def test_each_subset_is_judged_on_its_own_rows_with_the_cutoffs_applied_again():
    # A's subset "low": the rows scored 0.8 (miss), 0.7 (hit) and 0.1 (miss); its top half is 0.8 alone.
    low = np.array([False, True, True, True])
    rows, metrics = evaluation_rows(MODEL, TESTS[:1], SCORES, CUTS, NOW, subsets={A: {"low": low}})
    by = {(r["subset"], r["metric"], r["parameter"]): r for r in rows}
    assert by[("", "precision@", "50_pct")]["value"] == 0.5
    assert by[("low", "precision@", "50_pct")]["value"] == 0.0
    assert by[("low", "precision@", "50_pct")]["rows_above"] == 1
    assert by[("low", "recall@", "1_abs")]["positives"] == 1
    assert by[("low", "roc_auc", "")]["value"] == pytest.approx(1 / 2)
    assert {r["matrix_type"] for r in rows} == {"test"}
    assert len(metrics) == 2 * len(CUTS) + 2  # the run holds the whole cohort's metrics only
    assert leaderboard_row(MODEL, rows)["value"] == 1.0


def test_triage_metric_groups_name_the_rows():
    from prodline.config.scoring import ScoringConfig

    scoring = ScoringConfig.model_validate({"testing_metric_groups": [
        {"metrics": ["fbeta@"], "parameters": [{"beta": 0.5}], "thresholds": {"percentiles": [50.0]}},
        {"metrics": ["false positives@"], "thresholds": {"top_n": [1]}}, {"metrics": ["accuracy"]}]})
    rows, metrics = evaluation_rows(MODEL, TESTS[:1], SCORES, scoring.specs(), NOW)
    assert [(r["metric"], r["parameter"]) for r in rows] == [
        ("fbeta@", "0.5_beta/50.0_pct"), ("false positives@", "1_abs"), ("accuracy", "")]
    assert set(metrics) == {"fbeta_0.5_beta_50.0_pct__aaaaaaaa", "false_positives_1_abs__aaaaaaaa",
                            "accuracy__aaaaaaaa"}


def test_leaderboard_row_shows_the_first_precision_and_the_auc():
    rows, _ = evaluation_rows(MODEL, TESTS, SCORES, CUTS, NOW)
    assert leaderboard_row(MODEL, rows) == {
        "split": "2024-05-01", "model": "DecisionTreeClassifier", "params": '{"max_depth": 2}',
        "groups": "ev, demo", "metric": "precision@1_abs", "value": 1.0, "auc": 0.75,
    }


def test_leaderboard_row_rounds_and_skips_an_undefined_auc():
    rows = [{"metric": "roc_auc", "parameter": "", "value": None},
            {"metric": "precision@", "parameter": "10_pct", "value": 2 / 3},
            {"metric": "roc_auc", "parameter": "", "value": 0.612345}]
    row = leaderboard_row(MODEL, rows)
    assert (row["metric"], row["value"], row["auc"]) == ("precision@10_pct", 0.6667, 0.6123)


def test_leaderboard_row_without_precision():
    row = leaderboard_row(MODEL, [{"metric": "roc_auc", "parameter": "", "value": None}])
    assert (row["metric"], row["value"], row["auc"]) == ("", None, None)


def test_best_first_sorts_by_split_then_value_with_no_value_last():
    board = [{"split": "2024-05-01", "value": 0.2}, {"split": "2024-04-01", "value": None},
             {"split": "2024-05-01", "value": None}, {"split": "2024-04-01", "value": 0.0},
             {"split": "2024-05-01", "value": 0.9}]
    assert [(r["split"], r["value"]) for r in best_first(board)] == [
        ("2024-04-01", 0.0), ("2024-04-01", None),
        ("2024-05-01", 0.9), ("2024-05-01", 0.2), ("2024-05-01", None)]
    assert len(best_first(board, n=2)) == 2


@pytest.fixture
def matrices(tmp_path):
    return MatrixStore(matrices_dir=str(tmp_path / "matrices"), scores_dir=str(tmp_path / "scores"))


def test_test_scores_are_the_stored_ones_without_the_model_store(matrices):
    matrices.write_scores("run-1", SCORES)
    found = evaluating.test_scores(MODEL, [A, B], matrices, model_store=None)
    assert set(found) == {A, B}
    np.testing.assert_array_equal(found[A], SCORES[A])
    np.testing.assert_array_equal(found[B], SCORES[B])


def test_stored_scores_of_more_matrices_than_the_split_has_are_used(matrices):
    matrices.write_scores("run-1", SCORES)
    assert set(evaluating.test_scores(MODEL, [B], matrices, model_store=None)) == {A, B}


def test_stored_scores_evaluate_like_the_scores_themselves(matrices):
    matrices.write_scores("run-1", SCORES)
    stored = evaluating.test_scores(MODEL, [A, B], matrices, model_store=None)
    direct = evaluation_rows(MODEL, TESTS, SCORES, CUTS, NOW)
    assert evaluation_rows(MODEL, TESTS, stored, CUTS, NOW) == direct


def test_subset_rows_are_found_by_the_subsets_query_on_each_date(tmp_path):
    import pandas as pd

    from prodline.config.scoring import Subset
    from prodline.pipeline.evaluations.subsets import subset_masks
    from prodline.stores.warehouse import Warehouse

    warehouse = Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb")
    warehouse.ensure_layers()
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE raw.things AS SELECT * FROM (VALUES (1, DATE '2024-01-10'), "
                             "(2, DATE '2024-02-10'), (3, DATE '2024-03-10')) AS t(thing_id, seen_on)")
    keys = pd.DataFrame({"entity_id": [1, 2, 3, 1, 2, 3],
                         "as_of_date": [dt.date(2024, 2, 1)] * 3 + [dt.date(2024, 3, 1)] * 3})
    # Triage's spelling, the placeholder quoted: things seen before the as-of date.
    seen = Subset(name="seen", query="SELECT thing_id AS entity_id FROM raw.things "
                                     "WHERE seen_on < '{as_of_date}'::date")
    nobody = Subset(name="nobody", query="SELECT thing_id AS entity_id FROM raw.things "
                                         "WHERE seen_on > {as_of_date} AND false")
    masks = subset_masks(warehouse, keys, [seen, nobody])
    assert masks["seen"].tolist() == [True, False, False, True, True, False]
    assert not masks["nobody"].any()


def test_training_rows_are_kept_apart_and_not_logged():
    rows, metrics = evaluation_rows(MODEL, TESTS[:1], SCORES, CUTS, NOW, matrix_type="train")
    assert {r["matrix_type"] for r in rows} == {"train"} and metrics == {}
    assert leaderboard_row(MODEL, rows)["metric"] == ""  # the leaderboard shows test metrics only


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_an_evaluations_table_of_an_earlier_version_gains_the_new_columns(request, tmp_path, backend):
    """A warehouse made before Triage's matrix types and subsets: its rows are whole test matrices."""
    from prodline.pipeline.tables import ONE, results_table
    from prodline.resources import WarehouseResource

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"duckdb:///{tmp_path}/w.duckdb"
    warehouse = WarehouseResource(url=url)
    warehouse.ensure_layers()
    earlier = {c: t for c, t in EVALUATIONS_COLUMNS.items() if c not in ("matrix_type", "subset")}
    old = results_table(warehouse, "evaluations", earlier)
    with warehouse.engine.begin() as conn:
        conn.execute(old.insert().values(model_id="m1", split="s1", metric="precision@",
                                         parameter="5_pct", value=0.5))
    results_table(warehouse, "evaluations", EVALUATIONS_COLUMNS)
    rows = warehouse.read(f"SELECT model_id, matrix_type, subset, value FROM {ONE.evaluations}")
    assert [tuple(r.values()) for r in rows] == [("m1", "test", "", 0.5)]
    assert set(warehouse.columns("results", "evaluations")) == set(EVALUATIONS_COLUMNS)
