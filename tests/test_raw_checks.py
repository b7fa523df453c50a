"""Checks on a raw table after a load, each passing and failing, on DuckDB and on PostgreSQL."""

import datetime as dt
import textwrap

import pyarrow as pa
import pytest

from prodline.config import load_config
from prodline.pipeline.raw.checks import CHECKS, check_names, failed_by_day, run_checks
from prodline.pipeline.raw.schema import arrow_schema, sql_columns
from prodline.pipeline.verdict import Verdict
from prodline.stores.warehouse import Warehouse as WarehouseResource

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)

CONFIG = """
name: p
start_date: 2024-01-01
sources:
  visits:
    primary_key: [site, visit_id]
    date_column: visited_on
    late_days: 1
    rows_every_day: true
    columns:
      site: string
      visit_id: integer
      visited_on: {type: date, required: true}
      region: {type: string, required: true}
      amount: float
      paid: boolean
      note: string
  pings:
    primary_key: [ping_id]
    date_column: pinged_at
    columns:
      ping_id: integer
      pinged_at: timestamp
"""


def source_of(tmp_path, name="visits", text=CONFIG):
    path = tmp_path / "prodline.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path).sources[name]


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, tmp_path):
    if request.param == "postgresql":
        return WarehouseResource(url=request.getfixturevalue("pg_url"))
    return WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb")


@pytest.fixture
def visits(tmp_path):
    return source_of(tmp_path)


def visit(day: dt.date, visit_id: int, site="north", **values) -> dict:
    """A good row loaded on `day`, dated that day unless `visited_on` says otherwise."""
    return {"site": site, "visit_id": visit_id, "visited_on": day, "region": "r1", "amount": 1.5,
            "paid": True, "note": None, "_datestamp": day, "_source": f"visits/{day}.csv", **values}


def load(warehouse, source, rows: list[dict], start: dt.date, end: dt.date, name="visits") -> None:
    """As the raw asset does: create the table if missing and replace the window."""
    table = warehouse.ensure_table("raw", name, sql_columns(source), index=["_datestamp"])
    schema = arrow_schema(source, lineage=True)
    warehouse.replace_window(table, pa.Table.from_pylist(rows, schema=schema), "_datestamp", start, end)


def check(warehouse, source, start, end, name="visits") -> dict:
    return {o.check: o for o in run_checks(warehouse, f"raw.{name}", source, start, end)}


def test_check_names_follow_rows_every_day(tmp_path, visits):
    assert check_names(visits) == list(CHECKS)
    assert check_names(source_of(tmp_path, "pings")) == [n for n in CHECKS if n != "rows_every_day"]


def test_good_rows_pass_every_check(warehouse, visits):
    rows = [visit(D1, 1), visit(D1, 1, site="south"), visit(D2, 2, visited_on=D1),  # a day late
            visit(D3, 3, note="hi", amount=None, paid=None)]
    load(warehouse, visits, rows, D1, D3)
    outcomes = run_checks(warehouse, "raw.visits", visits, D1, D3)
    assert [o.check for o in outcomes] == list(CHECKS)
    assert {o.check: (o.passed, o.summary) for o in outcomes} == {
        "columns_match_config": (True, "9 columns as configured"),
        "primary_key_unique": (True, "(site, visit_id) unique"),
        "dates_inside_partition": (True, "all visited_on inside their partition (late_days=1)"),
        "required_columns_not_null": (True, "4 required columns have no nulls"),
        "rows_every_day": (True, "rows on every day"),
    }
    assert all(o.severity == "ERROR" for o in outcomes)
    by_name = {o.check: o for o in outcomes}
    assert by_name["required_columns_not_null"].evidence == {
        "nulls": {"site": 0, "visit_id": 0, "visited_on": 0, "region": 0}}
    assert by_name["primary_key_unique"].evidence == {"duplicated_keys": 0, "sample": []}


def test_duplicate_key_within_the_loaded_days(warehouse, visits):
    rows = [visit(D1, 1), visit(D1, 2), visit(D2, 1), visit(D2, 1, site="south"), visit(D2, 2)]
    load(warehouse, visits, rows, D1, D2)
    outcome = check(warehouse, visits, D1, D2)["primary_key_unique"]
    assert not outcome.passed
    assert outcome.summary == "2 duplicated key(s) of (site, visit_id)"
    assert outcome.evidence == {"duplicated_keys": 2, "sample": [
        {"site": "north", "visit_id": 1, "copies": 2}, {"site": "north", "visit_id": 2, "copies": 2}],
        "failed_days": ["2024-01-01", "2024-01-02"]}  # the days holding a repeated key


def test_duplicate_key_against_other_days(warehouse, visits):
    load(warehouse, visits, [visit(D1, 1), visit(D1, 5), visit(D1, 9), visit(D1, 9)], D1, D1)
    assert check(warehouse, visits, D1, D1)["primary_key_unique"].evidence["duplicated_keys"] == 1
    load(warehouse, visits, [visit(D2, 5), visit(D2, 6)], D2, D2)  # key 5 again, a day later
    outcome = check(warehouse, visits, D2, D2)["primary_key_unique"]
    assert not outcome.passed and outcome.summary == "1 duplicated key(s) of (site, visit_id)"
    # key 9 is twice on D1 only: not this load's problem
    assert outcome.evidence["sample"] == [{"site": "north", "visit_id": 5, "copies": 2}]
    assert [r["visit_id"] for r in check(warehouse, visits, D1, D1)["primary_key_unique"]
            .evidence["sample"]] == [5, 9]  # against a later day too
    assert check(warehouse, visits, D1, D2)["primary_key_unique"].evidence["duplicated_keys"] == 2


def test_dates_outside_their_partition(tmp_path, warehouse, visits):
    rows = [visit(D2, 1, visited_on=D1),                          # one day early: late_days allows it
            visit(D3, 2, visited_on=D1),                          # two days early
            visit(D2, 3, visited_on=D3),                          # dated after its partition
            visit(D3, 4)]
    load(warehouse, visits, rows, D1, D3)
    outcome = check(warehouse, visits, D1, D3)["dates_inside_partition"]
    assert not outcome.passed
    assert outcome.summary == "2 row(s) dated outside their partition"
    assert outcome.evidence == {"rows_outside": 2, "sample": [
        {"_datestamp": "2024-01-02", "visited_on": "2024-01-03", "_source": "visits/2024-01-02.csv"},
        {"_datestamp": "2024-01-03", "visited_on": "2024-01-01", "_source": "visits/2024-01-03.csv"}],
        "failed_days": ["2024-01-02", "2024-01-03"]}
    strict = source_of(tmp_path, text=CONFIG.replace("late_days: 1", "late_days: 0"))
    outcome = check(warehouse, strict, D1, D3)["dates_inside_partition"]
    assert outcome.summary == "3 row(s) dated outside their partition"  # one day early is too early now
    assert [r["_datestamp"] for r in outcome.evidence["sample"]] == ["2024-01-02", "2024-01-02", "2024-01-03"]


def test_a_timestamp_date_column_is_compared_by_its_day(tmp_path, warehouse):
    pings = source_of(tmp_path, "pings")

    def ping(i, at):
        return {"ping_id": i, "pinged_at": at, "_datestamp": D2, "_source": "pings/2024-01-02.csv"}

    load(warehouse, pings, [ping(1, dt.datetime(2024, 1, 2, 0, 0)), ping(2, dt.datetime(2024, 1, 2, 23, 59))],
         D2, D2, name="pings")
    outcomes = check(warehouse, pings, D2, D2, name="pings")
    assert all(o.passed for o in outcomes.values()), outcomes
    assert "rows_every_day" not in outcomes
    load(warehouse, pings, [ping(3, dt.datetime(2024, 1, 3, 0, 1))], D2, D2, name="pings")
    outcome = check(warehouse, pings, D2, D2, name="pings")["dates_inside_partition"]
    assert not outcome.passed and outcome.summary == "1 row(s) dated outside their partition"
    assert outcome.evidence["sample"][0]["_datestamp"] == "2024-01-02"


def test_nulls_in_a_column_made_required_after_the_table_was_created(tmp_path, warehouse):
    # ensure_table keeps the table it finds, so a column the config now requires may hold NULLs.
    before = source_of(tmp_path, text=CONFIG.replace("region: {type: string, required: true}",
                                                     "region: string"))
    load(warehouse, before, [visit(D1, 1, region=None), visit(D1, 2, region=None), visit(D1, 3)], D1, D1)
    load(warehouse, before, [visit(D2, 4)], D2, D2)
    assert check(warehouse, before, D1, D1)["required_columns_not_null"].passed
    now = source_of(tmp_path)
    outcome = check(warehouse, now, D1, D1)["required_columns_not_null"]
    assert not outcome.passed
    assert outcome.summary == "region: 2 null(s)"
    assert outcome.evidence == {"nulls": {"site": 0, "visit_id": 0, "visited_on": 0, "region": 2},
                                "failed_days": ["2024-01-01"]}
    assert check(warehouse, now, D2, D2)["required_columns_not_null"].passed  # NULLs of other days


def test_days_without_rows(warehouse, visits):
    load(warehouse, visits, [], D1, D3)
    outcomes = check(warehouse, visits, D1, D3)
    assert outcomes["rows_every_day"].summary == "3 day(s) without rows"
    assert outcomes["rows_every_day"].evidence["days_without_rows"] == ["2024-01-01", "2024-01-02",
                                                                        "2024-01-03"]
    # nothing loaded breaks no other check
    assert all(o.passed for name, o in outcomes.items() if name != "rows_every_day")
    load(warehouse, visits, [visit(D1, 1), visit(D3, 3)], D1, D3)
    outcome = check(warehouse, visits, D1, D3)["rows_every_day"]
    assert not outcome.passed
    assert outcome.summary == "1 day(s) without rows"
    assert outcome.evidence == {"days_without_rows": ["2024-01-02"], "count": 1,
                                "failed_days": ["2024-01-02"]}
    assert check(warehouse, visits, D3, D3)["rows_every_day"].passed


VARCHAR = {"duckdb": "varchar", "postgresql": "character varying"}


def test_wrong_missing_and_extra_columns_are_named(tmp_path, warehouse, visits):
    # The table was made from an older config: amount was text, paid did not exist, old_flag did.
    older = source_of(tmp_path, text=CONFIG.replace("amount: float", "amount: string")
                      .replace("paid: boolean", "old_flag: boolean"))
    warehouse.ensure_table("raw", "visits", sql_columns(older))
    outcome = check(warehouse, visits, D1, D1)["columns_match_config"]
    varchar = VARCHAR[warehouse.backend]
    assert not outcome.passed
    assert outcome.summary == (f"amount is {varchar}, expected float; paid is missing; "
                               "old_flag is not in the config")
    assert outcome.evidence["problems"] == outcome.summary.split("; ")
    assert outcome.evidence["expected"]["amount"] == "float"
    assert outcome.evidence["expected"]["_datestamp"] == "date"
    assert outcome.evidence["expected"]["_source"] == "string"
    assert outcome.evidence["actual"]["amount"] == varchar


def test_a_date_where_the_config_says_timestamp(warehouse, tmp_path):
    warehouse.ensure_layers()
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE raw.pings (ping_id BIGINT, pinged_at DATE, "
                             "_datestamp DATE, _source VARCHAR)")
    outcome = check(warehouse, source_of(tmp_path, "pings"), D1, D1, name="pings")["columns_match_config"]
    assert not outcome.passed
    assert outcome.summary == "pinged_at is date, expected timestamp"


def test_an_interval_column_is_not_an_integer(warehouse, tmp_path):
    warehouse.ensure_layers()
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE raw.pings (ping_id INTERVAL, pinged_at TIMESTAMP, "
                             "_datestamp DATE, _source VARCHAR)")
    outcome = check(warehouse, source_of(tmp_path, "pings"), D1, D1, name="pings")["columns_match_config"]
    assert outcome.summary == "ping_id is interval, expected integer"


def test_each_day_of_a_range_gets_the_checks_that_failed_on_it():
    def verdict(name, passed, **evidence):
        return Verdict(name, passed, "ERROR", "", evidence)

    verdicts = [verdict("columns_match_config", True),
                verdict("primary_key_unique", False, failed_days=["2024-01-02", "2024-01-03"]),
                verdict("dates_inside_partition", False, failed_days=["2024-01-03"]),
                verdict("rows_every_day", True, failed_days=[]),
                verdict("required_columns_not_null", False)]  # names no day: every day failed it
    assert failed_by_day(verdicts) == (["required_columns_not_null"], {
        "2024-01-02": ["primary_key_unique", "required_columns_not_null"],
        "2024-01-03": ["primary_key_unique", "dates_inside_partition", "required_columns_not_null"]})
    assert failed_by_day(verdicts[:1]) == ([], {})
