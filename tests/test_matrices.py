"""Matrices: rows, labels and the missing-label rules, streamed from DuckDB and PostgreSQL alike,
reused by their definition's hash, never half-written."""

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodline.pipeline.matrices.files import MatrixSpec, existing, matrix_select, read_matrix, write_matrix
from prodline.resources.stores import WarehouseResource

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


def spec(missing="exclude", dates=(D1, D2), columns=("ev_1y_n", "ev_all_n"), definition="v1"):
    return MatrixSpec("train", dates, "outcome", "6 months", missing, (("features.ev", columns),), definition)


def build(warehouse, folder, matrix: MatrixSpec) -> dict:
    schema = matrix.schema(pa.int64())
    select = matrix_select(matrix, "features.cohort", "features.labels")
    return existing(folder, matrix) or write_matrix(
        warehouse.stream(select, schema, 2), folder, matrix, schema
    )


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    return filled(WarehouseResource(url=url))


def filled(wh: WarehouseResource) -> WarehouseResource:
    with wh.engine.begin() as conn:
        for statement in SETUP.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    return wh


@pytest.mark.parametrize(
    ("missing", "rows", "labels"),
    [
        ("exclude", [(1, D1, 1.0), (2, D1, 0.0), (3, D2, 1.0)], {"positive": 2, "negative": 1, "missing": 0}),
        (
            "null",
            [(1, D1, 1.0), (2, D1, 0.0), (1, D2, None), (3, D2, 1.0)],
            {"positive": 2, "negative": 1, "missing": 1},
        ),
        (
            "zero",
            [(1, D1, 1.0), (2, D1, 0.0), (1, D2, 0.0), (3, D2, 1.0)],
            {"positive": 2, "negative": 2, "missing": 0},
        ),
        (
            "one",
            [(1, D1, 1.0), (2, D1, 0.0), (1, D2, 1.0), (3, D2, 1.0)],
            {"positive": 3, "negative": 1, "missing": 0},
        ),
    ],
)
def test_rows_and_missing_labels(warehouse, tmp_path, missing, rows, labels):
    manifest = build(warehouse, tmp_path / "m", spec(missing))
    table = pq.read_table(tmp_path / "m" / f"{manifest['uuid']}.parquet")
    assert (
        list(
            zip(
                table["entity_id"].to_pylist(),
                table["as_of_date"].to_pylist(),
                table["label"].to_pylist(),
                strict=True,
            )
        )
        == rows
    )
    assert manifest["labels"] == labels and manifest["rows"] == len(rows)
    assert manifest["features"] == ["ev_1y_n", "ev_all_n"] and manifest["as_of_dates"] == [
        "2024-01-01",
        "2024-02-01",
    ]
    _, X, y = read_matrix(tmp_path / "m", manifest["uuid"])
    assert X.shape == (len(rows), 2) and X[0].tolist() == [1.0, 2.0] and len(y) == len(rows)


def test_same_definition_is_reused_and_any_change_is_a_new_matrix(warehouse, tmp_path):
    folder = tmp_path / "m"
    first = build(warehouse, folder, spec())
    with warehouse.engine.begin() as conn:  # a change the definition does not see: reuse keeps the old rows
        conn.exec_driver_sql("DELETE FROM features.ev WHERE entity_id = 3")
    assert build(warehouse, folder, spec()) == first
    uuids = {
        build(warehouse, folder, s)["uuid"]
        for s in (
            spec(dates=(D1, D2, D3)),
            spec(missing="null"),
            spec(columns=("ev_all_n",)),
            spec(definition="v2"),
        )
    }
    assert len(uuids) == 4 and first["uuid"] not in uuids
    assert sorted(p.suffix for p in folder.iterdir()) == [".json"] * 5 + [".parquet"] * 5


def test_a_failed_build_leaves_nothing_to_reuse(warehouse, tmp_path):
    matrix, folder = spec(), tmp_path / "m"

    def failing():
        yield from warehouse.stream(
            matrix_select(matrix, "features.cohort", "features.labels"), matrix.schema(pa.int64()), 1
        )
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        write_matrix(failing(), folder, matrix, matrix.schema(pa.int64()))
    assert existing(folder, matrix) is None
    assert build(warehouse, folder, matrix)["rows"] == 3
    assert json.loads((folder / f"{matrix.uuid}.json").read_text())["rows"] == 3


def test_streaming_on_duckdb_uses_one_thread_and_gives_back_the_setting(tmp_path):
    warehouse = filled(WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb"))
    setting = "SELECT current_setting('threads')"
    matrix = spec()
    with warehouse.engine.connect() as held:  # keeps the database, and so its settings, open
        held.exec_driver_sql("SET threads = 3")
        seen = [warehouse.scalar(setting) for _ in warehouse.stream(
            matrix_select(matrix, "features.cohort", "features.labels"), matrix.schema(pa.int64()), 1)]
        assert seen and set(seen) == {1}
        assert held.exec_driver_sql(setting).scalar() == 3
