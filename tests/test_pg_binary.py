"""COPY's binary format both ways (prodline/stores/pg_binary.py), against a real PostgreSQL, and
the feature engine's choice of path for entity ids that are not integers."""

import datetime as dt
import math

import psycopg2
import pyarrow as pa
import pytest

from prodline.config import FeatureConfig
from prodline.pipeline.as_of.feature_select import features_select
from prodline.resources.stores import WarehouseResource
from prodline.stores import pg_binary


@pytest.fixture
def cursor(pg_url):
    conn = psycopg2.connect(pg_url.replace("postgresql+psycopg2", "postgresql"))
    yield conn.cursor()
    conn.rollback()
    conn.close()


def test_rows_go_in_and_come_back_the_same(cursor):
    days = [dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 3, 1)]
    batch = pa.RecordBatch.from_pydict({
        "day": pa.array(days, pa.date32()), "id": pa.array([-5, 0, 2**40, None], pa.int64()),
        "flag": pa.array([1, 0, 1, 1], pa.int32()), "x": pa.array([1.5, None, -math.inf, 2.0], pa.float64())})
    cursor.execute("CREATE TEMPORARY TABLE t (day DATE, id BIGINT, flag INTEGER, x DOUBLE PRECISION)")
    pg_binary.copy_in(cursor, "t", batch)
    cursor.execute("SELECT day, id, flag, x FROM t ORDER BY day")
    assert cursor.fetchall() == [(days[0], -5, 1, 1.5), (days[1], 0, 0, None), (days[2], 2**40, 1, -math.inf),
                                 (days[3], None, 1, 2.0)]
    back = pg_binary.copy_out(cursor, "SELECT day, id, CAST(id AS INTEGER) / 4 AS small, "
                                      "COALESCE(x, 0) AS x FROM t WHERE id < 100 ORDER BY id")
    assert back.to_pydict() == {"day": days[:2], "id": [-5, 0], "small": [-1, 0], "x": [1.5, 0.0]}
    assert back.schema.field("small").type == pa.int32()


def test_an_empty_result_comes_back_as_an_empty_table(cursor):
    out = pg_binary.copy_out(cursor, "SELECT CAST(1 AS BIGINT) AS a, DATE '2024-01-01' AS d WHERE false")
    assert out.num_rows == 0 and out.column_names == ["a", "d"]


def test_what_it_cannot_carry_is_refused_by_name(cursor):
    with pytest.raises(ValueError, match="a NULL or a row of another shape"):
        pg_binary.copy_out(cursor, "SELECT CAST(NULL AS BIGINT) AS a FROM generate_series(1, 3)")
    with pytest.raises(TypeError, match=r"columns name \(type 25\) is not supported"):
        pg_binary.copy_out(cursor, "SELECT 'x'::text AS name")


def test_text_entity_ids_take_the_single_statement(tmp_path):
    """The windows in memory need integer ids: a cohort of text ids gets the same features from
    feature_select's statement."""
    from prodline.assets.as_of import _write_features
    from prodline.pipeline.as_of.feature_columns import feature_columns

    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb")
    warehouse.ensure_layers()
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE raw.events AS SELECT * FROM (VALUES "
                             "('A7', DATE '2024-01-05', 2.0), ('A7', DATE '2024-02-05', 4.0), "
                             "('B1', DATE '2024-01-09', 1.0)) AS t(who, kd, x)")
        conn.exec_driver_sql("CREATE TABLE features.cohort AS SELECT DATE '2024-03-01' AS as_of_date, who AS "
                             "entity_id FROM (VALUES ('A7'), ('B1'), ('C0')) AS t(who)")
    feature = FeatureConfig.model_validate({
        "prefix": "ev", "from_obj": "raw.events", "knowledge_date_column": "kd", "entity_column": "who",
        "intervals": ["all"], "aggregates": [{"quantity": "x", "metrics": ["sum"]}],
        "aggregates_imputation": {"all": {"type": "zero"}}})
    assert not warehouse.integer_column("features.cohort", "entity_id")
    dates = [dt.date(2024, 3, 1)]
    written = _write_features(warehouse, feature, {}, "features.ev", "features.cohort", dates, None,
                              feature_columns(feature, {}))
    assert written == 3
    got = {r["entity_id"]: (r["ev_entity_id_all_x_sum"], r["ev_entity_id_all_x_imp"])
           for r in warehouse.rows("SELECT * FROM features.ev")}
    assert got == {"A7": (6.0, 0), "B1": (1.0, 0), "C0": (0.0, 1)}
    assert warehouse.read(features_select(feature, {}, "features.cohort", dates))  # the same SQL reads
