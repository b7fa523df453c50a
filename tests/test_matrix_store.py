"""The matrix store (prodline.stores.matrix_store): split indexes, matrices built from a tiny DuckDB
warehouse and read back, stored test scores, the legend a picture gives a matrix."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from prodline.pipeline.data_versions import versions_read
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.matrices.files import MatrixSpec
from prodline.stores.matrix_store import MatrixStore
from prodline.stores.warehouse import Warehouse

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
SETUP = """
CREATE SCHEMA IF NOT EXISTS features;
CREATE TABLE features.cohort (as_of_date DATE, entity_id BIGINT);
CREATE TABLE features.labels (as_of_date DATE, entity_id BIGINT, outcome INTEGER);
CREATE TABLE features.ev (as_of_date DATE, entity_id BIGINT, ev_1y_n DOUBLE PRECISION,
  ev_all_n DOUBLE PRECISION);
INSERT INTO features.cohort VALUES ('2024-01-01', 1), ('2024-01-01', 2), ('2024-02-01', 1), ('2024-02-01', 3),
  ('2024-03-01', 2);
INSERT INTO features.labels VALUES ('2024-01-01', 1, 1), ('2024-01-01', 2, 0), ('2024-02-01', 1, NULL),
  ('2024-02-01', 3, 1), ('2024-03-01', 2, 0);
INSERT INTO features.ev VALUES ('2024-01-01', 1, 1, 2), ('2024-01-01', 2, 0, 5), ('2024-02-01', 1, 3, 3),
  ('2024-02-01', 3, 1, 1), ('2024-03-01', 2, 2, 7);
"""
COLUMNS = (("features.ev", ("ev_1y_n", "ev_all_n")),)
TRAIN = MatrixSpec("train", (D1, D2), "outcome", "1 month", "exclude", COLUMNS, "v1")
TEST = MatrixSpec("test", (D3,), "outcome", "1 month", "null", COLUMNS, "v1")


@pytest.fixture
def store(tmp_path):
    return MatrixStore(matrices_dir=str(tmp_path / "matrices"), scores_dir=str(tmp_path / "scores"))


@pytest.fixture
def warehouse(tmp_path):
    found = Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb")
    with found.engine.begin() as conn:
        for statement in SETUP.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    return found


def test_a_split_without_matrices_is_refused_with_what_to_do(store):
    with pytest.raises(StepRefused) as err:
        store.split_index("2024-06-01")
    assert str(err.value) == "split 2024-06-01 has no matrices yet: materialize matrices for it first"
    with pytest.raises(StepRefused, match="split 2024-06-01 has no matrices yet"):
        store.train_matrix("2024-06-01")


def test_split_index_round_trip(store):
    store.write_split_index("2024-06-01", TRAIN, [TEST, TRAIN])
    assert store.split_index("2024-06-01") == {"train": TRAIN.uuid, "tests": [TEST.uuid, TRAIN.uuid]}
    store.write_split_index("2024-06-01", TEST, [])  # written again: replaced
    assert store.split_index("2024-06-01") == {"train": TEST.uuid, "tests": []}
    with pytest.raises(StepRefused):
        store.split_index("2024-07-01")


def test_scores_round_trip(store):
    predicted = {"m1": np.array([0.9, 0.1, 0.5]), "m2": np.array([0.25]), "m3": np.array([])}
    store.write_scores("run-1", predicted)
    found = store.scores("run-1")
    assert list(found) == ["m1", "m2", "m3"]
    for uuid, scores in predicted.items():
        np.testing.assert_array_equal(found[uuid], scores)
    store.write_scores("run-1", {"m1": np.array([0.3])})  # a model scored again replaces its scores
    assert list(store.scores("run-1")) == ["m1"]


def test_scores_of_an_unknown_run_are_none(store):
    assert store.scores("no-such-run") is None
    store.write_scores("run-1", {"m1": np.array([0.5])})
    assert store.scores("run-2") is None


def test_build_writes_a_matrix_and_reuses_it(store, warehouse):
    manifest, reused = store.build(warehouse, TRAIN)
    assert not reused and manifest["uuid"] == TRAIN.uuid
    assert manifest["rows"] == 3 and manifest["labels"] == {"positive": 2, "negative": 1, "missing": 0}
    assert store.manifest(TRAIN.uuid) == manifest
    again, reused = store.build(warehouse, TRAIN)
    assert reused and again == manifest
    _, rebuilt = store.build(warehouse, TRAIN, reuse=False)
    assert not rebuilt


def test_legend_names_the_dates_and_the_start_of_the_uuid(store, warehouse):
    store.build(warehouse, TRAIN)
    store.build(warehouse, TEST)
    assert store.legend(TEST.uuid) == f"as of 2024-03-01 ({TEST.uuid[:8]})"
    assert store.legend(TRAIN.uuid) == f"as of 2024-01-01 to 2024-02-01 ({TRAIN.uuid[:8]})"


def test_matrices_read_back_by_split(store, warehouse):
    store.build(warehouse, TRAIN)
    store.build(warehouse, TEST)
    store.write_split_index("2024-03-01", TRAIN, [TEST])
    train = store.train_matrix("2024-03-01")
    assert train.uuid == TRAIN.uuid and train.features == ["ev_1y_n", "ev_all_n"]
    assert train.entities.tolist() == [1, 2, 3]
    assert train.keys.column("as_of_date").to_pylist() == [D1, D1, D2]
    np.testing.assert_array_equal(train.X, [[1, 2], [0, 5], [1, 1]])
    np.testing.assert_array_equal(train.y, [1, 0, 1])
    test = store.newest_test_matrix("2024-03-01")
    assert test.uuid == TEST.uuid and test.entities.tolist() == [2]
    np.testing.assert_array_equal(store.labels(TEST.uuid), [0.0])
    split = store.split("2024-03-01")
    assert split.features == ["ev_1y_n", "ev_all_n"] and split.index == store.split_index("2024-03-01")
    np.testing.assert_array_equal(split.X, train.X)
    [(uuid, X, y)] = split.tests
    assert uuid == TEST.uuid and X.tolist() == [[2.0, 7.0]] and y.tolist() == [0.0]


def test_missing_labels_read_back_as_nan(store, warehouse):
    spec = MatrixSpec("test", (D2,), "outcome", "1 month", "null", COLUMNS, "v1")
    store.build(warehouse, spec)
    labels = store.labels(spec.uuid)
    assert labels[0] != labels[0] and labels[1] == 1.0  # entity 1 has no label on D2
    assert np.isnan(store.matrix(spec.uuid).y).tolist() == [True, False]


def versioned(warehouse, spec: MatrixSpec) -> MatrixSpec:
    """`spec` with the data versions of the partitions it reads now, as `spec_maker` gives them."""
    found = versions_read(warehouse, ["features.cohort", "features.labels", "features.ev"], spec.as_of_dates)
    return replace(spec, data_versions=tuple((t, d.isoformat(), v) for t, by_date in found.items()
                                             for d, v in sorted(by_date.items())))


def test_a_corrected_partition_makes_a_new_matrix_and_an_unchanged_one_reuses_it(store, warehouse):
    first = versioned(warehouse, TRAIN)
    manifest, reused = store.build(warehouse, first)
    assert not reused and manifest["data_versions"] == first.versions_by_table()
    assert set(manifest["data_versions"]["features.ev"]) == {"2024-01-01", "2024-02-01"}
    with warehouse.engine.begin() as conn:  # written again, the same rows
        conn.exec_driver_sql("DELETE FROM features.ev WHERE as_of_date = '2024-01-01'")
        conn.exec_driver_sql("INSERT INTO features.ev VALUES ('2024-01-01', 2, 0, 5), "
                             "('2024-01-01', 1, 1, 2)")
    again = versioned(warehouse, TRAIN)
    assert again.uuid == first.uuid and store.build(warehouse, again)[1]  # reused
    with warehouse.engine.begin() as conn:  # a corrected value
        conn.exec_driver_sql("UPDATE features.ev SET ev_all_n = 4 "
                             "WHERE as_of_date = '2024-01-01' AND entity_id = 2")
    corrected = versioned(warehouse, TRAIN)
    assert corrected.uuid != first.uuid and corrected.definition == first.definition
    pairs = zip(corrected.data_versions, first.data_versions, strict=True)
    changed = {(t, d) for (t, d, v), (_, _, w) in pairs if v != w}
    assert changed == {("features.ev", "2024-01-01")}
    manifest, reused = store.build(warehouse, corrected)
    assert not reused and store.matrix(corrected.uuid).X.tolist() == [[1.0, 2.0], [0.0, 4.0], [1.0, 1.0]]
