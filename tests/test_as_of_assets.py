"""Cohort, labels, features and transforms end to end through Dagster, on DuckDB and PostgreSQL."""

import datetime as dt
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conftest import AS_OF_LAST, START, build, demo_sections, make_project, write_config
from prodline.assets.keys import COHORT, LABELS, feature_key
from prodline.assets.partitions import as_of_partitions
from prodline.assets.versions import recorded_versions
from prodline.cli import app
from prodline.config import load_config
from prodline.pipeline.as_of.preview import preview
from prodline.pipeline.data_versions import partition_versions
from prodline.resources import warehouse_of
from prodline.runs import as_of_plan, run_range
from prodline.stores.warehouse import WriteRefused

TABLES = ["transforms.spell_ends", "features.cohort", "features.labels", "features.reg",
          "features.itv", "features.ext"]


def table_rows(config, table: str) -> list[tuple]:
    rows = warehouse_of(config, literal=True).rows(f"SELECT * FROM {table}")
    return sorted(tuple(round(v, 9) if isinstance(v, float) else v for v in r.values()) for r in rows)


@pytest.mark.parametrize(("cadence", "start", "end", "last"), [
    ("daily", "2024-02-01", "2024-02-05", "2024-02-05"),
    ("weekly", "2024-01-01", "2024-01-29", "2024-01-29"),
    ("weekly", "2024-01-01", "2024-01-31", "2024-01-29"),
    ("monthly", "2024-02-01", "2024-05-01", "2024-05-01"),
    ("monthly", "2024-02-01", "2024-05-31", "2024-05-01"),
])
def test_the_last_as_of_date_on_or_before_the_end_is_a_partition(tmp_path, cadence, start, end, last):
    config = load_config(write_config(tmp_path, as_of={"start": start, "cadence": cadence, "end": end}))
    keys = as_of_partitions(config).get_partition_keys()
    assert (keys[0], keys[-1]) == (start, last)
    assert config.as_of.includes(dt.date.fromisoformat(last))


def test_duckdb_and_postgresql_give_identical_rows(tmp_path, monkeypatch, instance, pg_url):
    config = make_project(tmp_path, monkeypatch)
    checks = build(config, instance)
    assert checks and all(passed or name.endswith("no_column_all_null") for name, passed in checks.items())
    on_duckdb = {t: table_rows(config, t) for t in TABLES}
    assert all(on_duckdb.values())
    dates = as_of_plan(config, AS_OF_LAST)[0]
    # Each partition recorded the version of its rows, as the warehouse computes it now.
    versions = {t: recorded(instance, config, t, dates) for t in TABLES[1:]}
    assert all(versions.values())
    warehouse = warehouse_of(config, literal=True)
    assert versions == {t: partition_versions(warehouse, t, versions[t]) for t in TABLES[1:]}
    exact_on_duckdb = {t: exact_rows(config, t) for t in TABLES[1:]}
    monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", pg_url)
    with dg.instance_for_test() as other:
        build(config, other)
        on_postgresql = {t: recorded(other, config, t, dates) for t in TABLES[1:]}
    for table in TABLES:
        assert table_rows(config, table) == on_duckdb[table], table
    # The same rows have the same data versions on either warehouse (doubles computed by the two
    # engines may differ in their last bit, and their versions with them: they are other rows).
    exact = {t for t in TABLES[1:] if exact_rows(config, t) == exact_on_duckdb[t]}
    assert {"features.cohort", "features.labels"} <= exact
    assert {t: on_postgresql[t] for t in exact} == {t: versions[t] for t in exact}


def recorded(instance, config, table: str, dates) -> dict:
    """The data version each as-of partition of `table` recorded on its latest materialization."""
    key = {"features.cohort": COHORT, "features.labels": LABELS}.get(table) \
        or feature_key(table.split(".")[1])
    found = recorded_versions(instance, key, [d.isoformat() for d in dates])
    return {dt.date.fromisoformat(p): v for p, v in found.items()}


def exact_rows(config, table: str) -> list[tuple]:
    rows = warehouse_of(config, literal=True).rows(f"SELECT * FROM {table}")
    return sorted(tuple(r.values()) for r in rows)


def test_labels_refuse_dates_whose_window_has_not_closed(tmp_path, monkeypatch, instance):
    config = make_project(tmp_path, monkeypatch)
    build(config, instance)
    dates, mature = as_of_plan(config, AS_OF_LAST)
    unripe = dates[-1]
    assert unripe not in mature
    before = table_rows(config, "features.labels")
    result = run_range(config, instance, "build_as_of", unripe, unripe, [LABELS])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    needed = config.label.interval.after(unripe) - dt.timedelta(days=1)
    assert f"labels for {unripe} mature once data through {needed} is loaded" in message, message
    missing = f"{AS_OF_LAST + dt.timedelta(days=1)} .. {needed}"
    assert f"{unripe}: " in message and f"not loaded: {missing}" in message, message
    assert "Nothing was written" in message
    assert table_rows(config, "features.labels") == before


def test_a_new_feature_needs_only_its_own_backfill(tmp_path, monkeypatch, instance):
    config = make_project(tmp_path, monkeypatch)
    build(config, instance)
    before = {t: table_rows(config, t) for t in TABLES}
    extra = {"prefix": "age", "from_obj": "raw.registrations", "knowledge_date_column": "registered_on",
             "entity_column": "person_id", "intervals": ["all"],
             "aggregates": [{"quantity": "age", "metrics": ["min"]}]}
    sections = demo_sections()
    grown = make_project(tmp_path, monkeypatch, features=[*sections["features"], extra])
    dates, _ = as_of_plan(grown, AS_OF_LAST)
    result = run_range(grown, instance, "build_as_of", dates[0], dates[-1], [feature_key("age")])
    assert result.success
    ran = {e.asset_key for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert ran == {feature_key("age")}
    assert {t: table_rows(grown, t) for t in TABLES} == before
    assert len(table_rows(grown, "features.age")) == len(before["features.cohort"])


def test_transforms_rerun_is_idempotent_and_a_shell_step_reports_through_pipes(tmp_path, monkeypatch,
                                                                                instance):
    script = tmp_path / "busiest_days.py"
    script.write_text(textwrap.dedent('''
        import os, duckdb
        from dagster_pipes import open_dagster_pipes
        with open_dagster_pipes() as pipes:
            start, end = os.environ["PRODLINE_START"], os.environ["PRODLINE_END"]
            url = os.environ["PRODLINE_WAREHOUSE_URL"].removeprefix("duckdb:///")
            with duckdb.connect(url) as db:
                db.execute("CREATE TABLE IF NOT EXISTS transforms.busiest_days (_datestamp DATE, n BIGINT)")
                db.execute("DELETE FROM transforms.busiest_days WHERE _datestamp BETWEEN ? AND ?",
                           [start, end])
                db.execute("INSERT INTO transforms.busiest_days SELECT _datestamp, count(*) FROM "
                           "raw.registrations WHERE _datestamp BETWEEN ? AND ? GROUP BY 1", [start, end])
                n = db.execute("SELECT count(*) FROM transforms.busiest_days").fetchone()[0]
            pipes.log.info(f"wrote {n} days")
            pipes.report_asset_materialization(metadata={"days": n})
    '''))
    sections = demo_sections()
    transforms = {**sections["transforms"],
                  "busiest_days": {"inputs": ["raw.registrations"], "command": [sys.executable, str(script)]}}
    config = make_project(tmp_path, monkeypatch, transforms=transforms)
    assert run_range(config, instance, "ingest_raw", START, AS_OF_LAST).success
    first = run_range(config, instance, "run_transforms", START, AS_OF_LAST)
    assert first.success
    spells = table_rows(config, "transforms.spell_ends")
    assert run_range(config, instance, "run_transforms", START, AS_OF_LAST).success
    assert table_rows(config, "transforms.spell_ends") == spells
    assert len(table_rows(config, "transforms.busiest_days")) == (AS_OF_LAST - START).days + 1
    reported = [e.event_specific_data.materialization.metadata for e in first.all_events
                if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.asset_key == dg.AssetKey(["transforms", "busiest_days"])]
    assert reported and all(m["days"].value == (AS_OF_LAST - START).days + 1 for m in reported)


def test_features_command_prints_one_date_without_writing(tmp_path, monkeypatch, instance):
    config = make_project(tmp_path, monkeypatch)
    for job in ("ingest_raw", "run_transforms"):
        assert run_range(config, instance, job, START, AS_OF_LAST).success
    path = tmp_path / "prodline.yaml"
    warehouse = warehouse_of(config, literal=True)
    person = warehouse.scalar("SELECT min(person_id) FROM raw.registrations")
    counts = {t: warehouse.scalar(f"SELECT count(*) FROM raw.{t}") for t in config.sources}
    file = Path(sa.make_url(warehouse.url).database)
    files = {f: f.stat().st_mtime_ns for f in file.parent.glob(file.name + "*")}
    out = CliRunner().invoke(app, ["features", "--as-of", "2024-03-01", "--entity", str(person),
                                   "--prefix", "reg", "--config", str(path)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert f"entity {person}: in the cohort" in out.output
    assert "reg_entity_id_all_age_max" in out.output and "itv_" not in out.output
    whole = CliRunner().invoke(app, ["features", "--as-of", "2024-03-01", "--config", str(path)],
                               env={"COLUMNS": "200"})
    assert whole.exit_code == 0 and "itv_entity_id_all_kind_" in whole.output, whole.output
    # Nothing was written: the file (and any WAL beside it) untouched, no table created.
    assert {f: f.stat().st_mtime_ns for f in file.parent.glob(file.name + "*")} == files
    # The probe, slipped past validation (model_copy does not validate): refused, nothing lost.
    itv = config.features[1]
    hostile = itv.categoricals[0].model_copy(
        update={"choice_query": "COMMIT; DELETE FROM raw.interventions; SELECT 'x' AS kind"})
    sneaky = config.model_copy(update={"features": [itv.model_copy(update={"categoricals": [hostile]})]})
    with pytest.raises(WriteRefused, match="DuckDB finds 3 statement"):
        preview(sneaky, warehouse, dt.date(2024, 3, 1))
    assert {t: warehouse.scalar(f"SELECT count(*) FROM raw.{t}") for t in config.sources} == counts
    assert not warehouse.columns("features", "cohort") and not warehouse.columns("features", "reg")
    bad = CliRunner().invoke(app, ["features", "--as-of", "2024-03-01", "--prefix", "nope",
                                   "--config", str(path)])
    assert bad.exit_code == 1
    assert "no feature aggregation has prefix 'nope' (known: reg, itv, ext)" in bad.output
