"""The graph loads, and its shape is pinned: a change to it shows up in review.

Update the snapshot after an intended change: PRODLINE_UPDATE_SNAPSHOTS=1 make test
"""

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from prodline.config import DEMO_CONFIG, load_config
from prodline.definitions import build_definitions, defs
from prodline.execution import executor_of
from prodline.instance import prepare_instance
from prodline.resources import warehouse_of
from prodline.resources.stores import POOL, WarehouseResource

SNAPSHOTS = Path(__file__).parent / "snapshots"


def shape(definitions: dg.Definitions) -> dict:
    repo = definitions.get_repository_def()
    graph = repo.asset_graph
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}"
                         for k in graph.asset_check_keys),
        "blocking_checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}"
                                  for k in graph.asset_check_keys
                                  if graph.get_check_spec(k).blocking),
        "pools": sorted({p for k in graph.get_all_asset_keys() for p in graph.get(k).pools or ()}),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(f"{s.name} {s.cron_schedule}" for s in repo.schedule_defs),
        "sensors": sorted(f"{s.name} {s.default_status.value}" for s in repo.sensor_defs),
    }


def _compare(name: str, actual: dict) -> None:
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("PRODLINE_UPDATE_SNAPSHOTS") == "1":
        path.write_text(json.dumps(actual, indent=2) + "\n")
    assert actual == json.loads(path.read_text())


def test_code_location_loads_the_demo(monkeypatch):
    monkeypatch.delenv("PRODLINE_CONFIG", raising=False)
    _compare("demo", shape(defs()))


def test_query_sources_get_a_job_and_a_daily_schedule(tmp_path):
    text = DEMO_CONFIG.read_text().replace(
        "    primary_key: [exit_id]",
        "    arrival: query\n    query: SELECT * FROM exits WHERE exited_on = :datestamp\n"
        "    primary_key: [exit_id]")
    (tmp_path / "prodline.yaml").write_text(text)
    shutil.copytree(DEMO_CONFIG.parent / "sql", tmp_path / "sql")
    _compare("query_source", shape(build_definitions(load_config(tmp_path / "prodline.yaml"))))


def test_bad_config_fails_the_code_location_with_the_problems(tmp_path, monkeypatch):
    (tmp_path / "prodline.yaml").write_text("name: Bad\n")
    monkeypatch.setenv("PRODLINE_CONFIG", str(tmp_path / "prodline.yaml"))
    with pytest.raises(Exception, match=r"name \(line 1\): .*not a safe SQL identifier"):
        defs()


@pytest.mark.parametrize("backend, limit", [("duckdb", 1), ("postgresql", 3)])
def test_warehouse_pool_limit_comes_from_the_backend(tmp_path, backend, limit, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    url = (f"duckdb:///{tmp_path}/w.duckdb" if backend == "duckdb"
           else "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    instance = prepare_instance(tmp_path / "dagster", WarehouseResource(url=url, postgres_writers=3))
    assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == limit
    instance.dispose()


def test_warehouse_url_from_environment_stays_secret(monkeypatch):
    monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", "postgresql+psycopg2://u:secret@db/w")
    config = load_config(DEMO_CONFIG)
    assert isinstance(warehouse_of(config).url, dg.EnvVar)
    assert warehouse_of(config, literal=True).url.endswith("secret@db/w")


def test_sensor_seconds_shorten_every_sensor(monkeypatch):
    monkeypatch.delenv("PRODLINE_CONFIG", raising=False)
    own = {s.name: s.minimum_interval_seconds for s in defs().sensors}
    assert own["new_landing_files"] == 30 and own["automation"] == 60 and own["matured_labels"] == 300
    monkeypatch.setenv("PRODLINE_SENSOR_SECONDS", "5")
    assert {s.name: s.minimum_interval_seconds for s in defs().sensors} == dict.fromkeys(own, 5)
    monkeypatch.setenv("PRODLINE_SENSOR_SECONDS", "2")
    with pytest.raises(ValueError, match=r"\$PRODLINE_SENSOR_SECONDS is '2': write a whole number of "
                                         r"seconds, 5 or more"):
        defs()


def test_in_process_runs_every_step_in_the_run_process_and_refuses_celery_beside_it():
    assert executor_of({}).name == dg.multi_or_in_process_executor.name  # Dagster's default
    assert executor_of({"PRODLINE_IN_PROCESS": "1"}).name == dg.in_process_executor.name
    assert executor_of({"PRODLINE_CELERY_BROKER": "redis://x"}).name == "celery"
    with pytest.raises(ValueError, match=r"\$PRODLINE_IN_PROCESS=1 .* \$PRODLINE_CELERY_BROKER .* set one"):
        executor_of({"PRODLINE_IN_PROCESS": "1", "PRODLINE_CELERY_BROKER": "redis://x"})
