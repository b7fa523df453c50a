"""Raw assets end to end through Dagster, on DuckDB and on a real PostgreSQL."""

import datetime as dt

import dagster as dg
import pytest

from conftest import START, all_checksums, checksum
from prodline.assets.keys import raw_key
from prodline.assets.partitions import daily_partitions
from prodline.assets.raw import raw_assets
from prodline.home import home_of
from prodline.resources import build_resources, warehouse_of
from prodline.runs import load_range

END = START + dt.timedelta(days=9)


def check_results(result) -> dict[tuple[str, str], bool]:
    return {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name):
            e.event_specific_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


@pytest.fixture(params=["duckdb", "postgresql"])
def backend_project(request, project, monkeypatch):
    if request.param == "postgresql":
        monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", request.getfixturevalue("pg_url"))
    return project


def test_loading_twice_gives_the_same_rows(backend_project, instance):
    config = backend_project
    first = load_range(config, instance, START, END)
    assert first.success
    before = all_checksums(config)
    assert before["registrations"][0] > 10
    assert all(check_results(first).values()) and len(check_results(first)) == 13
    again = load_range(config, instance, START, END)   # the same range as one backfill
    single = load_range(config, instance, START + dt.timedelta(days=3), START + dt.timedelta(days=3))
    assert again.success and single.success
    assert all_checksums(config) == before
    materialized = instance.get_materialized_partitions(raw_key("registrations"))
    assert materialized == {(START + dt.timedelta(days=i)).isoformat() for i in range(10)}


def test_duckdb_and_postgresql_hold_identical_rows(project, instance, pg_url, monkeypatch):
    assert load_range(project, instance, START, END).success
    duck = all_checksums(project)
    monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", pg_url)
    assert load_range(project, instance, START, END).success
    assert all_checksums(project) == duck


def test_metadata_has_rows_schema_and_preview(project, instance):
    assert load_range(project, instance, START, END, ["exits"]).success
    event = instance.get_latest_materialization_event(raw_key("exits"))
    meta = event.asset_materialization.metadata
    assert meta["dagster/row_count"].value == checksum(
        warehouse_of(project, literal=True), project, "exits")[0]
    assert meta["partition_range"].value == f"{START} .. {END}"
    assert meta["preview"].value.startswith("| exit_id | person_id | exited_on | reason |")
    assert meta["failed_checks"].value == []  # on each day: the checks that failed on it


def _with_downstream(config):
    partitions = daily_partitions(config)

    @dg.asset(deps=[raw_key("registrations")], partitions_def=partitions,
              backfill_policy=dg.BackfillPolicy.single_run())
    def registrations_seen() -> None:
        return None

    defs = dg.Definitions(assets=[*raw_assets(config), registrations_seen],
                          resources=build_resources(config))
    return defs, registrations_seen


def _run(defs, instance, start, end, selection):
    job = dg.define_asset_job("t", selection=selection)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("t")
    return resolved.execute_in_process(
        instance=instance, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": start.isoformat(),
              "dagster/asset_partition_range_end": end.isoformat()})


def test_bad_file_is_quarantined_loads_nothing_and_blocks_downstream(project, instance):
    home = home_of(project)
    bad = home.landing / "registrations" / "2024-01-04.csv"
    good_text = bad.read_text()
    lines = good_text.splitlines()
    lines[2] = lines[2].replace(',"F",', ',,').replace(',"M",', ',,')
    bad.write_text("\n".join(lines) + "\n")
    defs, downstream = _with_downstream(project)
    result = _run(defs, instance, START, END, [raw_key("registrations"), downstream.key])

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "registrations/2024-01-04.csv" in message
    assert "line 3: sex is required but empty" in message
    assert not bad.exists()
    moved = home.quarantine / "registrations" / "2024-01-04.csv"
    assert moved.exists()
    reason = (home.quarantine / "registrations" / "2024-01-04.csv.error.txt").read_text()
    assert "line 3: sex is required but empty" in reason and "move it back" in reason
    warehouse = warehouse_of(project, literal=True)
    assert not warehouse.columns("raw", "registrations")  # nothing of the range was written
    assert not instance.get_materialized_partitions(downstream.key)

    bad.write_text(good_text)  # fixed and put back
    moved.unlink()
    fixed = _run(defs, instance, START, END, [raw_key("registrations"), downstream.key])
    assert fixed.success
    assert len(instance.get_materialized_partitions(downstream.key)) == 10


def test_a_link_in_the_landing_zone_is_refused_unread_and_quarantined(project, instance, tmp_path):
    home = home_of(project)
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    link = home.landing / "registrations" / "2024-01-04.csv"
    link.unlink()
    link.symlink_to(secret)
    defs, downstream = _with_downstream(project)
    result = _run(defs, instance, START, END, [raw_key("registrations"), downstream.key])

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert f"registrations/2024-01-04.csv:\n  2024-01-04.csv is a symbolic link (to {secret})" in message
    assert "root:" not in message
    moved = home.quarantine / "registrations" / "2024-01-04.csv"
    assert moved.is_symlink() and not link.exists() and secret.exists()
    assert not warehouse_of(project, literal=True).columns("raw", "registrations")
    assert not instance.get_materialized_partitions(downstream.key)


def test_a_key_loaded_on_an_earlier_day_refuses_the_file_that_repeats_it(project, instance):
    defs, downstream = _with_downstream(project)
    assert _run(defs, instance, START, START, [raw_key("registrations"), downstream.key]).success
    home = home_of(project)
    first_id = (home.landing / "registrations" / "2024-01-01.csv").read_text().splitlines()[1].split(",")[0]
    later = home.landing / "registrations" / "2024-01-05.csv"
    good_text = later.read_text()
    lines = good_text.splitlines()
    lines[1] = first_id + "," + lines[1].split(",", 1)[1]
    later.write_text("\n".join(lines) + "\n")
    warehouse = warehouse_of(project, literal=True)
    before = checksum(warehouse, project, "registrations")

    day = START + dt.timedelta(days=4)
    result = _run(defs, instance, day, day, [raw_key("registrations"), downstream.key])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    said = (f"registrations/2024-01-05.csv:\n  line 2: registration_id {first_id} was already loaded "
            "on 2024-01-01, an earlier day")
    assert said in failure.event_specific_data.error.message
    moved = home.quarantine / "registrations" / "2024-01-05.csv"
    assert moved.exists() and not later.exists()
    assert said in (home.quarantine / "registrations" / "2024-01-05.csv.error.txt").read_text()
    assert checksum(warehouse, project, "registrations") == before
    assert instance.get_materialized_partitions(raw_key("registrations")) == {"2024-01-01"}
    assert instance.get_materialized_partitions(downstream.key) == {"2024-01-01"}

    later.write_text(good_text)  # fixed and put back
    moved.unlink()
    assert _run(defs, instance, day, day, [raw_key("registrations"), downstream.key]).success
    assert instance.get_materialized_partitions(downstream.key) == {"2024-01-01", "2024-01-05"}
    assert checksum(warehouse, project, "registrations")[0] > before[0]


def test_failing_blocking_check_stops_downstream(project, instance):
    """A column added to a raw table by hand is found by the columns_match_config check."""
    defs, downstream = _with_downstream(project)
    assert _run(defs, instance, START, START, [raw_key("registrations")]).success
    warehouse = warehouse_of(project, literal=True)
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE raw.registrations ADD COLUMN note VARCHAR")

    day = START + dt.timedelta(days=4)
    result = _run(defs, instance, day, day, [raw_key("registrations"), downstream.key])
    checks = check_results(result)
    assert checks[("raw/registrations", "columns_match_config")] is False
    evaluation = next(e.event_specific_data for e in result.all_events
                      if e.event_type_value == "ASSET_CHECK_EVALUATION"
                      and e.event_specific_data.check_name == "columns_match_config")
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["evidence"].value["problems"] == ["note is not in the config"]
    assert not instance.get_materialized_partitions(downstream.key)


def test_missing_file_names_the_expected_path(project, instance):
    (home_of(project).landing / "exits" / "2024-01-03.csv").unlink()
    result = load_range(project, instance, START, END, ["exits"])
    assert not result.success
    error = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no file for exits on 2024-01-03: expected" in error.event_specific_data.error.message
