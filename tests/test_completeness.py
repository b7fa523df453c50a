"""Nothing builds on incomplete or failed data: an as-of date (or a transform's day) is built only
when every upstream day it reads is materialized and passed its blocking checks, as Dagster records
them; by hand it is refused with each table and day, under automation it waits, and a past day loaded
again flows on to every partition that reads it."""

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from conftest import START, make_project, write_yaml
from prodline.assets.keys import COHORT, LABELS, feature_key, transform_key
from prodline.config import Interval, load_config
from prodline.definitions import build_definitions
from prodline.pipeline.completeness import DayStates, Window, day_ranges, incomplete, window
from prodline.resources import warehouse_of
from prodline.runs import load_range, run_range

D = dt.date


def test_a_window_reaches_back_to_its_longest_interval_and_ahead_by_the_label_timespan():
    start = D(2024, 1, 1)
    assert window("raw.x", D(2024, 4, 1), start) == Window("raw.x", start, D(2024, 3, 31))
    back = window("raw.x", D(2024, 4, 1), start, lookback=Interval.parse("1 month"), late_days=2)
    assert (back.first, back.last, back.why) == (D(2024, 3, 1), D(2024, 4, 2), "")
    assert window("raw.x", D(2024, 1, 15), start, lookback=Interval.parse("1 year")).first == start
    ahead = window("raw.x", D(2024, 4, 1), start, ahead=Interval.parse("2 months"))
    assert ahead.last == D(2024, 5, 31)
    assert ahead.why == "labels for 2024-04-01 mature once data through 2024-05-31 is loaded (2 months ahead)"


def test_the_reasons_name_each_missing_range_and_each_failed_day_with_its_check():
    needed = Window("raw.exits", D(2024, 1, 1), D(2024, 1, 31), "labels for 2023-12-01 mature ...")
    loaded = {D(2024, 1, d) for d in range(1, 32)} - {D(2024, 1, d) for d in (5, 6, 7, 20)}
    states = {"raw.exits": DayStates(loaded, {D(2024, 1, 9): ["rows_every_day", "primary_key_unique"]})}
    assert incomplete("2023-12-01", [needed], states) == [
        "2023-12-01: labels for 2023-12-01 mature ...",
        "2023-12-01: raw.exits: 4 days not loaded: 2024-01-05 .. 2024-01-07 (3 days), 2024-01-20",
        "2023-12-01: raw.exits 2024-01-09: blocking check rows_every_day, primary_key_unique failed",
    ]
    complete = {"raw.exits": DayStates({D(2024, 1, d) for d in range(1, 32)})}
    assert incomplete("2023-12-01", [needed], complete) == []
    assert incomplete("x", [needed], {}) == ["x: labels for 2023-12-01 mature ...",
                                             "x: raw.exits: 31 days not loaded: 2024-01-01 .. "
                                             "2024-01-31 (31 days)"]
    as_of = Window("features_reg", D(2024, 1, 1), D(2024, 3, 1), dates=(D(2024, 1, 1), D(2024, 2, 1),
                                                                        D(2024, 3, 1)))
    built = {"features_reg": DayStates({D(2024, 2, 1), D(2024, 3, 1)},
                                       {D(2024, 3, 1): ["rows_match_cohort"]})}
    assert incomplete("s1", [as_of], built) == [
        "s1: features_reg: 1 as-of date(s) not built: 2024-01-01",
        "s1: features_reg 2024-03-01: blocking check rows_match_cohort failed"]
    assert day_ranges([D(2024, 1, 3), D(2024, 1, 1), D(2024, 1, 2), D(2024, 2, 1)]) == [
        "2024-01-01 .. 2024-01-03 (3 days)", "2024-02-01"]


def _failure(result) -> str:
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE") \
        .event_specific_data.error.message


def _rows(config, table: str, day: D) -> int:
    warehouse = warehouse_of(config, literal=True)
    if not warehouse.columns(*table.split(".")):
        return 0
    return warehouse.scalar(f"SELECT count(*) FROM {table} WHERE as_of_date = '{day}'")


def test_features_on_partial_data_and_labels_on_a_hole_are_refused_by_hand(tmp_path, monkeypatch, instance):
    config = make_project(tmp_path, monkeypatch, last=D(2024, 4, 1))
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, START, D(2024, 3, 11)).success
    april = D(2024, 4, 1)
    as_of = [COHORT, *(feature_key(f.prefix) for f in config.features)]
    result = run_range(config, instance, "build_as_of", april, april, as_of)
    assert not result.success
    message = _failure(result)
    assert "cohort: 1 of 1 partition(s) read days that are not loaded or failed a blocking check" in message
    assert "2024-04-01: raw.registrations: 20 days not loaded: 2024-03-12 .. 2024-03-31 (20 days)" in message
    assert "2024-04-01: transforms.spell_ends: 20 days not loaded" in message, message
    assert "Nothing was written" in message and _rows(config, "features.cohort", april) == 0

    # The newest day is loaded, the days before it are not: labels are not mature on a hole.
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, april, april).success
    february = D(2024, 2, 1)
    assert run_range(config, instance, "build_as_of", february, february, [COHORT]).success
    result = run_range(config, instance, "build_as_of", february, february, [LABELS])
    assert not result.success
    message = _failure(result)
    assert "labels for 2024-02-01 mature once data through 2024-03-31 is loaded (2 months ahead)" in message
    assert "2024-02-01: raw.registrations: 20 days not loaded: 2024-03-12 .. 2024-03-31 (20 days)" in message
    assert _rows(config, "features.labels", february) == 0


OBSERVED = """
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
    columns: {{event_id: integer, entity_id: integer, date: date}}
as_of: {{start: 2024-02-01, cadence: monthly}}
cohort:
  query: SELECT DISTINCT entity_id FROM semantic.events WHERE date < {{as_of_date}}
features:
  - prefix: events
    from_obj: semantic.events
    knowledge_date_column: date
    intervals: [all]
    aggregates: [{{quantity: {{total: "*"}}, metrics: [count]}}]
"""


def test_a_failed_blocking_check_holds_back_its_own_days_until_they_are_loaded_again(
        tmp_path, monkeypatch, instance):
    """A team's table, observed in place (its rows pass no reader): a NULL key on one day."""
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA semantic")
        conn.exec_driver_sql("CREATE TABLE semantic.events (event_id INTEGER, entity_id INTEGER, date DATE)")
        conn.execute(sa.text("INSERT INTO semantic.events VALUES (:i, :e, :d)"),
                     [{"i": i, "e": i % 7, "d": START + dt.timedelta(days=i // 2)} for i in range(180)])
        conn.exec_driver_sql("UPDATE semantic.events SET event_id = NULL WHERE event_id = 39")  # Jan 20
    engine.dispose()
    config = load_config(write_yaml(tmp_path, OBSERVED.format(url=url)))
    load_range(config, instance, START, D(2024, 3, 31))  # observed; its blocking check fails on Jan 20
    as_of = [COHORT, feature_key("events")]
    result = run_range(config, instance, "build_as_of", D(2024, 2, 1), D(2024, 3, 1), as_of)
    assert not result.success
    message = _failure(result)
    assert ("cohort: 2 of 2 partition(s) read days that are not loaded or failed a blocking "
            "check:\n2024-02-01: raw.events 2024-01-20: blocking check required_columns_not_null failed\n"
            "2024-03-01: raw.events 2024-01-20: blocking check required_columns_not_null failed\n"
            "Nothing was written") in message, message  # the check named its day: the other 90 pass

    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the team fixes the day, and it is observed again
        conn.exec_driver_sql("UPDATE semantic.events SET event_id = 39 WHERE event_id IS NULL")
    engine.dispose()
    assert load_range(config, instance, D(2024, 1, 20), D(2024, 1, 20)).success
    assert run_range(config, instance, "build_as_of", D(2024, 2, 1), D(2024, 3, 1), as_of).success


def _requested(defs, instance, cursor, keys) -> tuple[dict, object]:
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor,
                                               asset_selection=dg.AssetSelection.assets(*keys))
    return {k: sorted(result.get_requested_partitions(k)) for k in keys}, result.cursor


def test_automation_waits_for_a_whole_window_and_a_past_day_loaded_again_flows_on(
        tmp_path, monkeypatch, instance):
    config = make_project(tmp_path, monkeypatch, last=D(2024, 4, 1))
    defs, keys = build_definitions(config), [transform_key("spell_ends"), COHORT]
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, START, D(2024, 3, 11)).success
    requested, cursor = _requested(defs, instance, None, keys)  # the first look only takes note
    assert requested == {k: [] for k in keys}

    # The newest as-of date's window is not complete: nothing is built on the hole.
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, D(2024, 3, 20), D(2024, 4, 1)).success
    requested, cursor = _requested(defs, instance, cursor, keys)
    assert requested[COHORT] == []
    # The hole filled, every as-of date whose window it completes is built, the past ones too.
    assert run_range(config, instance, "ingest_raw", D(2024, 3, 12), D(2024, 3, 19)).success
    requested, cursor = _requested(defs, instance, cursor, keys)
    assert requested[transform_key("spell_ends")] == [str(D(2024, 3, d)) for d in range(12, 20)]
    assert requested[COHORT] == []  # the transform's days it reads are still missing
    assert run_range(config, instance, "run_transforms", D(2024, 3, 12), D(2024, 3, 19)).success
    requested, cursor = _requested(defs, instance, cursor, keys)
    assert requested[COHORT] == ["2024-04-01"]
    assert run_range(config, instance, "build_as_of", D(2024, 2, 1), D(2024, 4, 1), [COHORT]).success
    requested, cursor = _requested(defs, instance, cursor, keys)
    assert requested == {k: [] for k in keys}

    # A past day corrected: its transform day is asked for again, then every cohort that reads it.
    # The cohort reads the raw day itself too, but waits for the transform's day (another run,
    # which nothing would order before it) to be built on the new rows.
    assert run_range(config, instance, "ingest_raw", D(2024, 2, 15), D(2024, 2, 15)).success
    requested, cursor = _requested(defs, instance, cursor, keys)
    assert requested == {transform_key("spell_ends"): ["2024-02-15"], COHORT: []}
    assert run_range(config, instance, "run_transforms", D(2024, 2, 15), D(2024, 2, 15)).success
    requested, cursor = _requested(defs, instance, cursor, keys)
    assert requested == {transform_key("spell_ends"): [], COHORT: ["2024-03-01", "2024-04-01"]}
