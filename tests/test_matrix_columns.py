"""A matrix's feature columns and rows as Triage's: flags nothing set left out, columns in collate's
order, tables in the feature groups' order, training rows by entity id as text."""

import datetime as dt
from types import SimpleNamespace

import pyarrow as pa
import pytest

from prodline.config import FeatureConfig
from prodline.config.naming import Tables
from prodline.pipeline.matrices.columns import flags_of, table_order, triage_order, unset_flags
from prodline.pipeline.matrices.files import training_order
from prodline.resources.stores import WarehouseResource

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)


def test_flags_follow_the_first_column_they_record_and_names_sort_as_python_sorts():
    columns = ["ev_1y_n_sum", "ev_1y_n_imp", "ev_1y_n_avg", "ev_1y_kind__NULL_sum", "ev_1y_B_sum",
               "ev_1y_sd_stddev", "ev_1y_sd_stddev_imp", "ev_all_n_imp"]
    sources = {"ev_1y_n_imp": "ev_1y_n_avg", "ev_1y_sd_stddev_imp": "ev_1y_sd_stddev",
               "ev_all_n_imp": "ev_all_n_avg", "ev_1y_gone_imp": "ev_1y_gone_avg"}
    # Capitals before lowercase; a flag whose column is not in the table (an older schema) last.
    assert triage_order(columns, sources) == [
        "ev_1y_B_sum", "ev_1y_kind__NULL_sum", "ev_1y_n_avg", "ev_1y_n_imp", "ev_1y_n_sum",
        "ev_1y_sd_stddev", "ev_1y_sd_stddev_imp", "ev_all_n_imp"]


def test_the_flags_of_an_aggregation_name_the_column_they_record():
    feature = FeatureConfig.model_validate({
        "prefix": "ev", "from_obj": "raw.events", "knowledge_date_column": "seen_on", "intervals": ["1y"],
        "aggregates": [{"quantity": "amount", "metrics": ["sum", "avg", "stddev"]}],
        "categoricals": [{"column": "kind", "choice_query": "SELECT DISTINCT kind FROM raw.events",
                          "metrics": ["sum"]}],
        "aggregates_imputation": {"all": {"type": "mean"}},
        "categoricals_imputation": {"all": {"type": "zero"}}})
    # No query runs (categoricals have no flags); one flag per quantity, stddev its own; the first
    # column by name records the NULLs.
    assert flags_of(feature) == {"ev_entity_id_1y_amount_imp": "ev_entity_id_1y_amount_avg",
                                 "ev_entity_id_1y_amount_stddev_imp": "ev_entity_id_1y_amount_stddev"}


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    wh = WarehouseResource(url=url)
    with wh.engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS features")
        conn.exec_driver_sql('CREATE TABLE features.ev (as_of_date DATE, entity_id BIGINT, '
                             '"a b_imp" INTEGER, never_imp INTEGER, late_imp INTEGER)')
        conn.exec_driver_sql("INSERT INTO features.ev VALUES ('2024-01-01', 1, 0, 0, 0), "
                             "('2024-02-01', 1, 1, 0, 0), ('2024-03-01', 1, 0, 0, 1)")
    return wh


def test_a_flag_is_left_out_where_no_row_of_the_scope_sets_it(warehouse):
    flags = ["a b_imp", "never_imp", "late_imp"]
    assert unset_flags(warehouse, "features.ev", flags, [D1, D2, D3]) == {"never_imp"}
    assert unset_flags(warehouse, "features.ev", flags, [D1, D2]) == {"never_imp", "late_imp"}
    assert unset_flags(warehouse, "features.ev", [], [D1]) == set()


def test_tables_come_in_the_order_triages_matrix_of_all_groups_takes_them():
    tables = {"features.a": ["a_1"], "features.b": ["b_1"], "features.c": ["c_1"]}

    features = [SimpleNamespace(prefix=p) for p in "abc"]

    def config(definition):
        grid = definition and SimpleNamespace(feature_group_definition=definition)
        return SimpleNamespace(grid=grid, features=features, tables=Tables())

    assert table_order(config({"prefix": ["c", "a"]}), tables) == ["features.c", "features.a", "features.b"]
    assert table_order(config({"all": [True]}), tables) == list(tables)
    assert table_order(config(None), tables) == list(tables)
    # A problem of a deployment reads its own tables in the same order.
    own = {f"features.p_{t.split('.')[1]}": c for t, c in tables.items()}
    assert table_order(SimpleNamespace(grid=SimpleNamespace(feature_group_definition={"prefix": ["c", "a"]}),
                                       features=features, tables=Tables("p")), own) == \
        ["features.p_c", "features.p_a", "features.p_b"]


def test_training_rows_come_by_entity_id_as_text_then_date():
    keys = pa.table({"entity_id": pa.array([101, 10, 1000, 100, 10, 9], pa.int64()),
                     "as_of_date": pa.array([D2, D2, D2, D2, D1, D1])})
    order = training_order(keys)
    assert [(keys["entity_id"][i].as_py(), keys["as_of_date"][i].as_py()) for i in order] == [
        (10, D1), (10, D2), (100, D2), (1000, D2), (101, D2), (9, D1)]
