"""Arrival by query: one query per datestamp against a real PostgreSQL source database."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from conftest import RAW_ONLY, START, exits_in_source_database, write_config
from prodline.config import load_config
from prodline.demo.simulate import Scenario, simulate
from prodline.resources import warehouse_of
from prodline.runs import load_range
from prodline.stores.source_database import SourceDatabase

FIRST = dt.date(2024, 4, 1)
END = FIRST + dt.timedelta(days=6)


@pytest.fixture
def query_project(tmp_path, monkeypatch, pg_url):
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PRODLINE_SOURCE_URL", pg_url)
    exits = simulate(Scenario(start=START, per_day=30.0), FIRST, END)["exits"].to_pylist()
    engine = sa.create_engine(pg_url)
    query_file = exits_in_source_database(engine, "ops_exits", exits, tmp_path)
    sources = {"exits": {"primary_key": ["exit_id"], "date_column": "exited_on",
                         "arrival": "query", "query_file": query_file,
                         "columns": {"exit_id": "integer", "person_id": "integer",
                                     "exited_on": "date",
                                     "reason": {"type": "string", "required": True}}}}
    config = load_config(write_config(tmp_path, sources=sources, end_date="2024-06-30", **RAW_ONLY))
    yield config, engine, len(exits)
    engine.dispose()


def test_query_source_loads_each_day(query_project, instance):
    config, _, count = query_project
    assert count > 20
    assert load_range(config, instance, FIRST, END).success
    warehouse = warehouse_of(config, literal=True)
    assert warehouse.scalar("SELECT count(*) FROM raw.exits") == count
    assert warehouse.scalar("SELECT count(DISTINCT _source) FROM raw.exits") >= 5
    assert warehouse.scalar("SELECT min(_source) FROM raw.exits") == "exits query for 2024-04-01"


def test_bad_source_rows_are_refused_with_their_place(query_project, instance):
    config, engine, _ = query_project
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ops_exits SET reason = NULL WHERE exit_id = "
                             "(SELECT min(exit_id) FROM ops_exits WHERE exited_on = '2024-04-03')"))
    result = load_range(config, instance, FIRST, END)
    assert not result.success
    message = next(e for e in result.all_events
                   if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message
    assert "exits query for 2024-04-03" in message and "reason is required but empty" in message
    assert not warehouse_of(config, literal=True).columns("raw", "exits")


def test_a_key_loaded_on_an_earlier_day_refuses_the_day_that_repeats_it(query_project, instance):
    config, engine, _ = query_project
    assert load_range(config, instance, FIRST, FIRST).success
    warehouse = warehouse_of(config, literal=True)
    loaded = warehouse.rows("SELECT * FROM raw.exits ORDER BY exit_id")
    repeated = loaded[0]["exit_id"]
    with engine.begin() as conn:  # the team's database gives an exit of April 3 the key of one of April 1
        conn.execute(sa.text("UPDATE ops_exits SET exit_id = :id WHERE exit_id = (SELECT min(exit_id) "
                             "FROM ops_exits WHERE exited_on = '2024-04-03')"), {"id": repeated})
    result = load_range(config, instance, FIRST + dt.timedelta(days=1), END)
    assert not result.success
    message = next(e for e in result.all_events
                   if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message
    assert re.search(rf"exits query for 2024-04-03:\n  row \d+: exit_id {repeated} was already loaded on "
                     "2024-04-01, an earlier day", message)
    assert warehouse.rows("SELECT * FROM raw.exits ORDER BY exit_id") == loaded


def test_daily_schedule_loads_yesterday(query_project):
    import dagster as dg

    from prodline.definitions import build_definitions

    config, _, _ = query_project
    defs = build_definitions(config)
    schedule = defs.resolve_schedule_def("daily_source_ingest")
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2024, 2, 10, 1, 15, tzinfo=dt.UTC),
        repository_def=defs.get_repository_def())
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2024-02-09"


def test_a_source_query_that_slipped_past_validation_cannot_write(query_project):
    config, engine, rows = query_project
    source = config.sources["exits"].model_copy(update={  # model_copy does not validate
        "query_file": None, "query": "SELECT 1 WHERE :datestamp IS NULL; COMMIT; DELETE FROM ops_exits"})
    with pytest.raises(sa.exc.InternalError, match="cannot execute DELETE in a read-only transaction"):
        SourceDatabase(url=str(engine.url.render_as_string(hide_password=False))).read_range(
            "exits", source, FIRST, FIRST)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ops_exits")).scalar() == rows
