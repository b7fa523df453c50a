"""Data versions of as-of partitions (`Warehouse.day_fingerprints(portable=True)`,
`pipeline.data_versions`): the same on DuckDB and PostgreSQL for the same rows, changed by any
change of a value, blind to the order rows are stored in."""

import datetime as dt

import pytest
import sqlalchemy as sa

from prodline.pipeline.data_versions import EMPTY, partition_versions
from prodline.stores.warehouse import Warehouse

FEB, MAR, APR = dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)
ROWS = [  # whole doubles (DuckDB writes 1.0, PostgreSQL 1), tiny and huge ones, NULLs, odd text
    (1, FEB, 1.0, 1, "x", True), (2, FEB, 0.1, None, None, False), (3, FEB, 1e15, 7, "a=b", None),
    (4, MAR, 1e20, 3, "y\x1fz", None), (5, MAR, -2.5, 0, "", True), (6, MAR, 1 / 3, -4, "é", False),
    (7, MAR, -0.0, 2, "7", True), (8, MAR, 1.5e-7, None, "'", False),
]


def written(warehouse: Warehouse, rows, order: str = "") -> Warehouse:
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS features"))
        conn.execute(sa.text("DROP TABLE IF EXISTS features.f"))
        conn.execute(sa.text('CREATE TABLE features.f (entity_id BIGINT, as_of_date DATE, '
                             '"kind::1 year" DOUBLE PRECISION, n_imp INTEGER, label VARCHAR, flag BOOLEAN)'))
        for row in sorted(rows, reverse=order == "reversed"):
            conn.execute(sa.text("INSERT INTO features.f VALUES (:a, :b, :c, :d, :e, :f)"),
                         dict(zip("abcdef", row, strict=True)))
    return warehouse


@pytest.fixture
def warehouses(tmp_path, pg_url):
    return Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb"), Warehouse(url=pg_url)


def test_the_same_rows_have_the_same_version_on_duckdb_and_postgresql(warehouses):
    duckdb, postgresql = (written(w, ROWS) for w in warehouses)
    on_duckdb = partition_versions(duckdb, "features.f", [FEB, MAR, APR])
    assert on_duckdb == partition_versions(postgresql, "features.f", [FEB, MAR, APR])
    assert on_duckdb[APR] == EMPTY and on_duckdb[FEB] != on_duckdb[MAR]
    fingerprints = duckdb.day_fingerprints("features.f", "as_of_date", FEB, MAR, portable=True)
    assert fingerprints == postgresql.day_fingerprints("features.f", "as_of_date", FEB, MAR, portable=True)
    assert [int(f.split(":")[0]) for _, f in sorted(fingerprints.items())] == [3, 5]


@pytest.mark.parametrize("engine", [0, 1], ids=["duckdb", "postgresql"])
def test_a_changed_value_changes_its_partition_only(warehouses, engine):
    warehouse = written(warehouses[engine], ROWS)
    before = partition_versions(warehouse, "features.f", [FEB, MAR])
    assert partition_versions(written(warehouse, ROWS, order="reversed"), "features.f", [FEB, MAR]) == before
    for change in ("UPDATE features.f SET \"kind::1 year\" = 0.1000000000000001 WHERE entity_id = 2",
                   "UPDATE features.f SET n_imp = 1 WHERE entity_id = 2",  # a NULL filled
                   "UPDATE features.f SET label = NULL WHERE entity_id = 3",
                   "DELETE FROM features.f WHERE entity_id = 1"):
        written(warehouse, ROWS)
        with warehouse.engine.begin() as conn:
            conn.execute(sa.text(change))
        after = partition_versions(warehouse, "features.f", [FEB, MAR])
        assert after[FEB] != before[FEB] and after[MAR] == before[MAR], change


def test_a_column_added_empty_changes_no_version(warehouses):
    for warehouse in warehouses:
        written(warehouse, ROWS)
        before = partition_versions(warehouse, "features.f", [FEB, MAR])
        with warehouse.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE features.f ADD COLUMN added_later DOUBLE PRECISION"))
        assert partition_versions(warehouse, "features.f", [FEB, MAR]) == before
