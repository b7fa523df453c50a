"""The embedded instance's event log (prodline/event_log.py): the same range runs on Dagster's stock
SQLite storage and on the batched one read the same through Dagster's storage queries and through
the webserver's GraphQL; a range run's failed check is seen per day, in the UI and in the alert;
an older embedded home is brought up to date with its history."""

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from conftest import BIN, dagster_services, graphql, write_yaml
from prodline.assets.keys import raw_key
from prodline.assets.partitions import daily_partitions
from prodline.config import load_config
from prodline.event_log import BatchedSqliteEventLogStorage
from prodline.instance import EMBEDDED, embedded_storage, prepare_instance
from prodline.resources import warehouse_of
from prodline.runs import run_range
from prodline.sensors.alerts import check_failure_alerts

START, LAST = dt.date(2024, 1, 1), dt.date(2024, 1, 10)
BAD_DAY = "2024-01-05"
JOB = "observe_warehouse_tables"
EVENTS, ENTITIES = raw_key("events"), raw_key("entities")
CHECKS = ("columns_match_config", "primary_key_unique", "required_columns_not_null")  # events' own
# Two tables a team's ETL fills, observed in place: events has a null where it may not on one day
# (a blocking check fails there), entities is not there at all (its step fails: failed partitions).
PROJECT = """
    name: observed
    start_date: 2024-01-01
    end_date: 2024-03-31
    storage: {{warehouse_url: "duckdb:///{warehouse}"}}
    alerts:
      base_url: http://dagster.example:3000
      sender: prodline@example.org
      recipients: {{check_failure: [data@example.org]}}
    sources:
      events:
        arrival: warehouse
        table: semantic.events
        date_column: date
        primary_key: [event_id]
        columns:
          event_id: integer
          entity_id: {{type: integer, required: true}}
          date: date
          result: string
      entities:
        arrival: warehouse
        table: semantic.entities
        date_column: start_time
"""
# (run, first day, last day, sources): a failed range run, a day on its own, a range that passes.
RUNS = [(START, LAST, None), (dt.date(2024, 1, 2), dt.date(2024, 1, 2), ["events"]),
        (dt.date(2024, 1, 6), dt.date(2024, 1, 8), ["events"])]


def play(root: Path, batched: bool) -> tuple:
    """The project and its runs in `root`, on the batched storage (as prepare_instance writes it) or
    on Dagster's own (the dagster.yaml an older prodline wrote): (config, DAGSTER_HOME)."""
    root.mkdir()
    warehouse = root / "warehouse.duckdb"
    engine = sa.create_engine(f"duckdb:///{warehouse}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA semantic")
        conn.exec_driver_sql("CREATE TABLE semantic.events (event_id INTEGER, entity_id INTEGER, "
                             "date DATE, result VARCHAR)")
        conn.execute(sa.text("INSERT INTO semantic.events VALUES (:i, :e, :d, 'pass')"), [
            {"i": i, "e": None if (START + dt.timedelta(days=i // 2)).isoformat() == BAD_DAY and i % 2
             else i % 7, "d": START + dt.timedelta(days=i // 2)} for i in range(40)])
    engine.dispose()
    config = load_config(write_yaml(root, PROJECT.format(warehouse=warehouse)))
    home = root / "dagster"
    if batched:
        prepare_instance(home, warehouse_of(config, literal=True)).dispose()
    else:
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml.safe_dump(EMBEDDED))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage) == batched
        for first, last, sources in RUNS:
            run_range(config, instance, JOB, first, last, sources and [raw_key(s) for s in sources])
    return config, home


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """The same runs on the stock storage and on the batched one: {"stock": (config, home),
    "batched": (config, home), "batches": the size of each batch the batched storage wrote}."""
    root = tmp_path_factory.mktemp("evlog")
    batches = []
    write_batch = BatchedSqliteEventLogStorage.store_event_batch

    def counted(storage, events):
        batches.append(len(events))
        write_batch(storage, events)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")  # as prodline sets it, for both
        mp.setattr(BatchedSqliteEventLogStorage, "store_event_batch", counted)
        for name in ("PRODLINE_CONFIG", "PRODLINE_WAREHOUSE_URL"):
            mp.delenv(name, raising=False)
        homes = {}
        for kind in ("stock", "batched"):
            mp.setenv("PRODLINE_HOME", str(root / kind / "home"))
            mp.setenv("DAGSTER_HOME", str(root / kind / "dagster"))  # prepare_instance sets it
            homes[kind] = play(root / kind, batched=kind == "batched")
        yield {**homes, "batches": batches}


def records(config, home: Path) -> dict:
    """What Dagster's storage queries answer about the runs, with each run by its place in order."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [r.dagster_run for r in instance.get_run_records(ascending=True)]
        order = {r.run_id: n for n, r in enumerate(runs)}
        storage = instance.event_log_storage
        seen = {"runs": [(r.status.value, r.tags.get("dagster/asset_partition_range_start"),
                          r.tags.get("dagster/asset_partition_range_end")) for r in runs]}
        for run in runs:
            stats = storage.get_stats_for_run(run.run_id)
            seen[f"run {order[run.run_id]}"] = {
                "stats": (stats.steps_succeeded, stats.steps_failed, stats.materializations),
                "steps": sorted((s.step_key, s.status.value)
                                for s in storage.get_step_stats_for_run(run.run_id)),
                "events": [(r.event_log_entry.dagster_event_type, r.event_log_entry.step_key)
                           for r in instance.get_records_for_run(run.run_id, limit=1000).records],
            }
        for key in (EVENTS, ENTITIES):
            partitions = daily_partitions(config)
            status = get_and_update_asset_status_cache_value(instance, key, partitions)
            seen[key.to_user_string()] = {
                "materialized": sorted(instance.get_materialized_partitions(key)),
                "status": [sorted(s.get_partition_keys()) if s else None for s in (
                    status.deserialize_materialized_partition_subsets(partitions),
                    status.deserialize_failed_partition_subsets(partitions),
                    status.deserialize_in_progress_partition_subsets(partitions))],
                "materializations": sorted(
                    (r.partition_key, order[r.run_id], _failed_checks(r.asset_materialization))
                    for r in instance.fetch_materializations(key, limit=1000).records),
                "latest": latest_runs(instance, key, order),
                "planned": sorted((r.partition_key, order[r.run_id]) for r in storage.get_event_records(
                    dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=key))),
                "failed": sorted((r.partition_key, order[r.run_id]) for r in
                                 instance.fetch_failed_materializations(key, limit=1000).records),
            }
        for name in CHECKS:
            seen[name] = checks(storage, dg.AssetCheckKey(EVENTS, name), order)
        return seen


def latest_runs(instance, key: dg.AssetKey, order: dict) -> dict[str, int]:
    """The run of each partition's latest materialization, by get_latest_storage_id_by_partition."""
    latest = instance.get_latest_storage_id_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION)
    found = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=key, storage_ids=list(latest.values())), limit=1000).records if latest else []
    return {r.partition_key: order[r.run_id] for r in found}


def _failed_checks(materialization) -> list | None:
    value = materialization.metadata.get("failed_checks")
    return value.value if value is not None else None


def checks(storage, key: dg.AssetCheckKey, order: dict) -> dict:
    """A check's executions (its history, the latest, each partition's) as Dagster's queries give them."""
    def row(r):
        done = r.status.value in ("SUCCEEDED", "FAILED")
        failed_days = r.evaluation.metadata.get("failed_days") if done else None
        return (order[r.run_id], r.partition, r.status.value, done and r.evaluation.passed,
                failed_days and failed_days.value)
    latest = storage.get_latest_asset_check_execution_by_key([key]).get(key)
    return {"history": [row(r) for r in storage.get_asset_check_execution_history(key, limit=100)],
            "latest": latest and row(latest),
            "partitions": sorted((i.partition_key or "", i.latest_execution_status.value,
                                  order[i.latest_planned_run_id])
                                 for i in storage.get_asset_check_partition_info([key]))}


def test_the_batched_storage_answers_dagsters_queries_as_the_stock_one(homes):
    stock, batched = (records(*homes[kind]) for kind in ("stock", "batched"))
    assert batched == stock
    # Each run's planned events (10 days of two assets and events' 3 checks for the first), and the
    # days of a range it materialized, went through the batched path (one day alone is one event).
    assert homes["batches"] == [23, 10, 4, 6, 3]
    # ... and the runs did what the comparison is about: a failed range run (a step that failed,
    # a blocking check failed on one day), a day on its own, a range that passed.
    assert [r[0] for r in stock["runs"]] == ["FAILURE", "SUCCESS", "SUCCESS"]
    events, entities = stock["raw/events"], stock["raw/entities"]
    assert entities["materialized"] == [] and entities["status"][1] == [
        (START + dt.timedelta(days=d)).isoformat() for d in range(10)]
    assert len(events["materialized"]) == 10 and events["latest"]["2024-01-07"] == 2
    assert stock["required_columns_not_null"]["latest"] == (2, None, "SUCCEEDED", True, None)
    failed = [r for r in stock["required_columns_not_null"]["history"] if r[2] == "FAILED"]
    assert failed == [(0, None, "FAILED", False, [BAD_DAY])]


METADATA = ("metadataEntries { label ... on JsonMetadataEntry { jsonString } "
            "... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue } }")
RUNS_VIEW = """{ runsOrError { ... on Runs { results {
  runId status jobName creationTime tags { key value } assetSelection { path }
  stats { ... on RunStatsSnapshot { stepsSucceeded stepsFailed materializations } }
  stepStats { stepKey status } assetMaterializations { assetKey { path } partition } } } } }"""
ASSET_VIEW = """query($key: AssetKeyInput!, $days: [String!]) {
  assetNodeOrError(assetKey: $key) { ... on AssetNode {
    partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    assetPartitionStatuses { ... on TimePartitionStatuses { ranges { status startKey endKey } } }
    latestMaterializationByPartition(partitions: $days) { partition runId METADATA }
    assetChecksOrError { ... on AssetChecks { checks {
      name blocking partitionStatuses { __typename }
      executionForLatestMaterialization { status partition runId
        evaluation { success description METADATA } } } } } } }
  assetOrError(assetKey: $key) { ... on Asset {
    assetEventHistory(limit: 100, eventTypeSelectors: [MATERIALIZATION, FAILED_TO_MATERIALIZE]) {
      results { __typename ... on MaterializationEvent { partition runId }
                ... on FailedToMaterializeEvent { partition runId materializationFailureReason } } } } }
  assetsLatestInfo(assetKeys: [$key]) { latestRun { runId status } inProgressRunIds unstartedRunIds
    latestMaterialization { partition runId } }
  assetsOrError(assetKeys: [$key]) { ... on AssetConnection { nodes {
    latestMaterializationTimestamp latestFailedToMaterializeTimestamp
    assetHealth { assetHealth materializationStatus assetChecksStatus } } } }
}""".replace("METADATA", METADATA)
CHECK_HISTORY = """query($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 100) {
    status partition runId evaluation { success description METADATA } } }""".replace("METADATA", METADATA)
DAYS = [(START + dt.timedelta(days=d)).isoformat() for d in range(10)]


def ui_views(config, home: Path, logs: Path) -> dict:
    """What the webserver's GraphQL answers for the views of the UI this is about (runs; each
    asset's partitions, materializations, checks and health; each check's history), with each run
    by its place in order and each time by whether there is one."""
    logs.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PRODLINE_CONFIG": str(config.base_dir / "prodline.yaml"),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    with dagster_services(env, logs, daemon=False) as services:
        url = services.url
        views = {"runs": graphql(url, RUNS_VIEW)["runsOrError"]["results"]}
        for key in (EVENTS, ENTITIES):
            views[key.to_user_string()] = graphql(url, ASSET_VIEW, key={"path": key.path}, days=DAYS)
        for name in CHECKS:
            views[name] = graphql(url, CHECK_HISTORY, key={"path": EVENTS.path}, name=name)
    runs = sorted(views["runs"], key=lambda r: r["creationTime"])
    order = {r["runId"]: f"run {n}" for n, r in enumerate(runs)}
    return _plain(views, order)


def _plain(value, order: dict):
    if isinstance(value, dict):
        return {k: (v is not None if re.search(r"(?i)time(stamp)?$", k) else _plain(v, order))
                for k, v in value.items() if not (k == "tags" and isinstance(v, list))} | (
            {"tags": sorted((t["key"], t["value"]) for t in value["tags"] if t["key"].startswith("dagster/"))}
            if isinstance(value.get("tags"), list) else {})
    if isinstance(value, list):
        return [_plain(v, order) for v in value]
    return order.get(value, value) if isinstance(value, str) else value


def entry(entries: list[dict], label: str):
    return next(json.loads(e["jsonString"]) for e in entries if e["label"] == label)


@pytest.mark.end_to_end
def test_the_ui_shows_the_same_on_both_storages_and_a_range_runs_failed_check_per_day(homes, tmp_path):
    stock, batched = (ui_views(*homes[kind], tmp_path / kind) for kind in ("stock", "batched"))
    assert batched == stock
    events, entities = stock["raw/events"], stock["raw/entities"]
    # The failed run's partitions that failed: all of entities'.
    assert entities["assetNodeOrError"]["assetPartitionStatuses"]["ranges"] == [
        {"status": "FAILED", "startKey": "2024-01-01", "endKey": "2024-01-10"}]
    assert entities["assetNodeOrError"]["partitionStats"]["numFailed"] == 10
    # What Dagster shows of a range run's check: one result with no partition (its evidence names
    # the day), and a row per day of the range that ends as EXECUTION_FAILED (the run failed) or
    # SKIPPED; no status per day, as the check is not partitioned.
    history = [(e["runId"], e["partition"], e["status"]) for e in stock["required_columns_not_null"]
               ["assetCheckExecutions"]]
    assert history[:4] == [("run 2", None, "SUCCEEDED"), ("run 2", "2024-01-08", "SKIPPED"),
                           ("run 2", "2024-01-07", "SKIPPED"), ("run 2", "2024-01-06", "SKIPPED")]
    assert history[-11:] == [("run 0", None, "FAILED")] + [("run 0", d, "EXECUTION_FAILED")
                                                            for d in reversed(DAYS)]
    failed = stock["required_columns_not_null"]["assetCheckExecutions"][-11]["evaluation"]
    assert entry(failed["metadataEntries"], "failed_days") == [BAD_DAY]
    checks = events["assetNodeOrError"]["assetChecksOrError"]["checks"]
    assert {c["partitionStatuses"] is None for c in checks} == {True}
    # So each day's materialization names the checks that failed on it.
    latest = {m["partition"]: entry(m["metadataEntries"], "failed_checks")
              for m in events["assetNodeOrError"]["latestMaterializationByPartition"]}
    assert latest == {d: ["required_columns_not_null"] if d == BAD_DAY else [] for d in DAYS}


def test_the_alert_names_the_days_a_range_runs_check_failed_on(homes, smtp):
    inbox, alerts = smtp
    config, home = homes["batched"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        context = dg.build_sensor_context(instance=instance, cursor="0", resources={"alerts": alerts})
        check_failure_alerts(config)(context)
    [(to, message)] = inbox.messages
    assert to == ["data@example.org"]
    assert message["Subject"] == ("[prodline observed] 1 check(s) failed, 1 blocking in "
                                  "observe_warehouse_tables")
    lines = message.get_content().splitlines()
    assert lines[:2] == ["- required_columns_not_null on raw/events: ERROR: entity_id: 1 null(s)",
                         f"  failed on {BAD_DAY}"]


def test_an_older_or_moved_embedded_home_is_brought_up_to_date_with_its_history(homes, tmp_path,
                                                                               monkeypatch):
    for kind in ("stock", "batched"):  # an older prodline's dagster.yaml; one naming another folder
        config, home = homes[kind]
        copy = tmp_path / kind
        shutil.copytree(home, copy)
        before = records(config, copy)
        monkeypatch.setenv("DAGSTER_HOME", str(copy))  # prepare_instance sets it
        prepare_instance(copy, warehouse_of(config, literal=True)).dispose()
        written = yaml.safe_load((copy / "dagster.yaml").read_text())
        assert written == {**EMBEDDED, "storage": embedded_storage(copy)}
        assert written["storage"]["custom"]["config"] == {"base_dir": str(copy)}
        assert records(config, copy) == before
