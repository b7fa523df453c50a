"""Sources a team's own ETL fills (arrival: warehouse): observed in place, not copied; checked on the
observed window; a changed day is seen and observed again; config SQL names the team's tables."""

import datetime as dt
import json
import re
import textwrap

import dagster as dg
import pytest
import sqlalchemy as sa

from conftest import postgres_database, problems_of, write_yaml
from prodline.assets.keys import COHORT, LABELS, feature_key, raw_key
from prodline.config import load_config
from prodline.definitions import build_definitions
from prodline.runs import load_range, run_range

START = dt.date(2024, 1, 1)
PROJECT = textwrap.dedent("""
    name: observed
    start_date: 2024-01-01
    end_date: 2024-03-31
    storage: {{warehouse_url: "{url}"}}
    sources:
      events:
        arrival: warehouse
        table: semantic.events
        date_column: date
        primary_key: [event_id]
        columns: {{event_id: integer, entity_id: integer, date: date, result: string}}
      entities:
        arrival: warehouse
        table: semantic.entities
        date_column: start_time
    as_of: {{start: 2024-02-01, cadence: monthly}}
    cohort:
      query: |
        SELECT entity_id FROM semantic.entities WHERE start_time < {{as_of_date}}
    label:
      name: failed
      timespan: 1 month
      query: |
        SELECT entity_id, max(CASE WHEN result = 'fail' THEN 1 ELSE 0 END) AS outcome
        FROM semantic.events
        WHERE date >= {{as_of_date}} AND date < {{as_of_date}} + {{label_timespan}}
        GROUP BY entity_id
    features:
      - prefix: inspections
        from_obj: semantic.events
        knowledge_date_column: date
        intervals: [all]
        aggregates:
          - quantity: {{total: "*"}}
            metrics: [count]
        categoricals:
          - column: result
            choice_query: SELECT DISTINCT result FROM semantic.events
            metrics: [sum]
""")


def fill(url: str) -> None:
    """Ten entities from January; events every day of January to March, a failure every third."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA semantic")
        conn.exec_driver_sql("CREATE TABLE semantic.entities (entity_id INTEGER, start_time DATE)")
        conn.exec_driver_sql("CREATE TABLE semantic.events (event_id INTEGER, entity_id INTEGER, "
                             "date DATE, result VARCHAR, extra VARCHAR)")
        conn.execute(sa.text("INSERT INTO semantic.entities VALUES (:e, :d)"),
                     [{"e": e, "d": START + dt.timedelta(days=e)} for e in range(10)])
        conn.execute(sa.text("INSERT INTO semantic.events VALUES (:i, :e, :d, :r, 'x')"),
                     [{"i": i, "e": i % 10, "d": START + dt.timedelta(days=i // 2),
                       "r": "fail" if i % 3 == 0 else "pass"} for i in range(180)])
    engine.dispose()


@pytest.fixture(params=["duckdb", "postgresql"])
def observed(request, tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        fill(url)
        yield load_config(write_yaml(tmp_path, PROJECT.format(url=url))), url
        return
    with postgres_database("prodline_observed") as url:
        fill(url)
        yield load_config(write_yaml(tmp_path, PROJECT.format(url=url))), url


def unlined(problems: list[str]) -> list[str]:
    """Problems without the line numbers (the key paths are what these tests check)."""
    return [re.sub(r" \(line \d+\)", "", p) for p in problems]


def execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def scalar(url: str, sql: str):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.exec_driver_sql(sql).scalar()
    engine.dispose()
    return value


def materialization(instance, key, partition):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    return records[0].asset_materialization


def checks_of(result) -> dict[tuple[str, str], bool]:
    return {(e.asset_key.to_user_string(), e.check_name): e.passed
            for e in (ev.event_specific_data for ev in result.all_events
                      if ev.event_type_value == "ASSET_CHECK_EVALUATION")}


def test_observed_days_are_counted_checked_and_not_copied(observed, instance):
    config, url = observed
    result = load_range(config, instance, START, dt.date(2024, 3, 31))
    assert result.success
    assert set(checks_of(result).values()) == {True}
    # events declare columns and a key: checked; entities declare neither: nothing to check.
    assert set(checks_of(result)) == {("raw/events", "columns_match_config"),
                                      ("raw/events", "primary_key_unique"),
                                      ("raw/events", "required_columns_not_null")}
    assert scalar(url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw'") == 0
    jan2 = materialization(instance, raw_key("events"), "2024-01-02")
    assert jan2.metadata["dagster/row_count"].value == 180  # the whole range's rows, one run
    assert materialization(instance, raw_key("entities"), "2024-01-05").tags["dagster/data_version"]


def test_cohort_labels_and_features_read_the_teams_tables(observed, instance):
    config, url = observed
    assert load_range(config, instance, START, dt.date(2024, 3, 31)).success
    assert run_range(config, instance, "build_as_of", dt.date(2024, 2, 1), dt.date(2024, 2, 1),
                     [COHORT, LABELS, feature_key("inspections")]).success
    assert scalar(url, "SELECT count(*) FROM features.cohort") == 10
    # February's labels: events of February (days 31..59: i = 62..119), failures where i % 3 == 0.
    expected = scalar(url, "SELECT count(DISTINCT entity_id) FROM semantic.events WHERE result = 'fail' "
                           "AND date >= DATE '2024-02-01' AND date < DATE '2024-03-01'")
    assert scalar(url, "SELECT sum(failed) FROM features.labels") == expected
    counted = scalar(url, "SELECT sum(inspections_entity_id_all_total_count) FROM features.inspections")
    assert counted == scalar(url, "SELECT count(*) FROM semantic.events WHERE date < DATE '2024-02-01'")


def test_a_duplicated_key_fails_the_check_on_the_day_it_is_in(observed, instance):
    config, url = observed
    execute(url, "INSERT INTO semantic.events VALUES (7, 3, DATE '2024-01-20', 'pass', 'x')")
    result = load_range(config, instance, dt.date(2024, 1, 20), dt.date(2024, 1, 20),
                        report=lambda line: None)
    assert checks_of(result)[("raw/events", "primary_key_unique")] is False
    evaluation = next(e.event_specific_data for e in result.all_events
                      if e.event_type_value == "ASSET_CHECK_EVALUATION"
                      and e.event_specific_data.check_name == "primary_key_unique")
    assert evaluation.description == "1 duplicated key(s) of (event_id)"
    assert scalar(url, "SELECT count(*) FROM semantic.events") == 181  # observed, never changed


def test_the_sensor_asks_for_new_and_changed_days_only(observed, instance):
    config, url = observed
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def("observed_tables_changed")

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                          resources=defs.resources)
        result = sensor.evaluate_tick(context)
        return [(r.asset_selection, r.tags["dagster/asset_partition_range_start"],
                 r.tags["dagster/asset_partition_range_end"]) for r in result.run_requests], result.cursor

    assert load_range(config, instance, START, dt.date(2024, 1, 31)).success
    first, cursor = tick(None)  # days observed already are taken as they are
    assert first == [([raw_key("events")], "2024-02-01", "2024-03-31"),
                     ([raw_key("entities")], "2024-02-01", "2024-03-31")]
    assert load_range(config, instance, dt.date(2024, 2, 1), dt.date(2024, 3, 31)).success
    assert tick(cursor)[0] == []

    execute(url, "UPDATE semantic.events SET result = 'fail' WHERE event_id = 40")  # 2024-01-21
    execute(url, "DELETE FROM semantic.events WHERE date = DATE '2024-03-02'")
    execute(url, "INSERT INTO semantic.entities VALUES (10, DATE '2024-03-03')")
    changed, cursor = tick(cursor)
    assert changed == [([raw_key("events")], "2024-01-21", "2024-01-21"),
                       ([raw_key("events")], "2024-03-02", "2024-03-02"),
                       ([raw_key("entities")], "2024-03-03", "2024-03-03")]
    assert tick(cursor)[0] == []  # asked once
    assert set(json.loads(cursor)) == {"events", "entities", "_runs", "_failed"}


def test_a_run_that_failed_before_observing_is_asked_for_again(observed, instance):
    config, url = observed
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def("observed_tables_changed")
    job = defs.resolve_job_def("observe_warehouse_tables")

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                          resources=defs.resources)
        result = sensor.evaluate_tick(context)
        return [r for r in result.run_requests if r.asset_selection == [raw_key("events")]], result.cursor

    def launch(request) -> bool:  # as the daemon would, with the request's run key
        return job.execute_in_process(
            instance=instance, tags={**request.tags, "dagster/run_key": request.run_key},
            asset_selection=request.asset_selection, resources=defs.resources,
            raise_on_error=False).success

    assert load_range(config, instance, START, dt.date(2024, 3, 31)).success
    _, cursor = tick(None)
    execute(url, "UPDATE semantic.events SET result = 'fail' WHERE event_id = 40")  # 2024-01-21
    [request], cursor = tick(cursor)
    execute(url, "ALTER TABLE semantic.events RENAME TO events_away")  # gone while the run runs
    assert not launch(request)
    execute(url, "ALTER TABLE semantic.events_away RENAME TO events")
    [again], cursor = tick(cursor)
    assert again.run_key == request.run_key + ":attempt2"
    assert again.tags["dagster/asset_partition_range_start"] == "2024-01-21"
    assert launch(again)
    assert tick(cursor)[0] == []  # observed: nothing more to ask


def test_observing_again_gives_a_new_data_version_only_when_rows_changed(observed, instance):
    config, url = observed
    day = dt.date(2024, 1, 21)

    def version():
        assert load_range(config, instance, day, day).success
        return materialization(instance, raw_key("events"), day.isoformat()).tags["dagster/data_version"]

    before = version()
    assert version() == before
    execute(url, "UPDATE semantic.events SET extra = 'y' WHERE event_id = 40")  # a column no one reads
    assert version() != before


def test_the_teams_table_missing_is_said_plainly(tmp_path, monkeypatch, instance):
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    execute(url, "SELECT 1")
    config = load_config(write_yaml(tmp_path, PROJECT.format(url=url)))
    result = load_range(config, instance, START, START, sources=["events"], report=lambda line: None)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "semantic.events is not in the warehouse: the team's own ETL fills it" in \
        failure.event_specific_data.error.message


@pytest.mark.parametrize(("source", "expected"), [
    ({"arrival": "warehouse", "date_column": "d"},
     "sources.events: arrival: warehouse needs table: the schema.table the team's ETL fills"),
    ({"arrival": "warehouse", "table": "raw.events", "date_column": "d"},
     "sources.events.table: 'raw.events' is in prodline's own schema 'raw': name the team's table"),
    ({"arrival": "warehouse", "table": "events", "date_column": "d"},
     "sources.events.table: 'events' is not schema.table (for example semantic.events)"),
    ({"arrival": "warehouse", "table": "semantic.events", "date_column": "d", "query": "SELECT 1"},
     "sources.events: query/query_file are only used with arrival: query"),
    ({"table": "semantic.events", "date_column": "d", "primary_key": ["d"], "columns": {"d": "date"}},
     "sources.events: table is for arrival: warehouse (a table observed where it is)"),
    ({"date_column": "d", "primary_key": ["d"]},
     "sources.events: columns: declare at least one (files and queries are checked against them)"),
])
def test_a_source_observed_in_place_is_declared_whole(tmp_path, source, expected):
    text = f"name: p\nstart_date: 2024-01-01\nsources:\n  events: {json.dumps(source)}\n"
    assert expected in unlined(problems_of(tmp_path, text))


def test_sql_naming_a_table_no_source_declares_says_what_to_declare(tmp_path):
    text = PROJECT.format(url="duckdb:///x.duckdb").replace(
        "FROM semantic.entities WHERE", "FROM semantic.facilities WHERE").replace(
        "choice_query: SELECT DISTINCT result FROM semantic.events",
        "choice_query: SELECT DISTINCT result FROM raw.events")
    problems = unlined(problems_of(tmp_path, text))
    assert ("cohort.query: semantic.facilities is not a table prodline knows: declare it under sources "
            "(arrival: warehouse, table: semantic.facilities) if the team's ETL fills it, or read "
            "raw.<source> / transforms.<name>") in problems
    assert ("features.0.categoricals.0.choice_query: raw.events is observed where it is: read "
            "semantic.events") in problems


def test_one_table_is_observed_by_one_source(tmp_path):
    text = PROJECT.format(url="duckdb:///x.duckdb").replace("table: semantic.entities",
                                                            "table: semantic.events")
    assert ("sources.entities.table: semantic.events is also observed by source 'events': one source "
            "per table") in unlined(problems_of(tmp_path, text))
