"""The deployment of deploy/: a Dagster webserver and daemon on the PostgreSQL instance take a
partition backfill through GraphQL, and the daemon runs it to the end."""

import os
import subprocess
import time

import pytest

from conftest import BIN, START, WORKSPACE, dagster_services, graphql, make_project, stop_process
from prodline.assets.keys import raw_key
from prodline.instance import prepare_instance
from prodline.resources import warehouse_of

# Whole processes (webserver, daemon): run by `make test-end-to-end`.
pytestmark = pytest.mark.end_to_end

LAUNCH = """mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""
STATUS = """query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions }
    ... on PythonError { message }
  }
}"""
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def test_a_backfill_through_graphql_is_run_by_the_daemon(production_instance, tmp_path, monkeypatch):
    instance, _ = production_instance
    config = make_project(tmp_path / "project", monkeypatch, last=START.replace(day=10))
    home = tmp_path / "dagster_home"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PRODLINE_CONFIG": str(config.base_dir / "prodline.yaml"),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    prepare_instance(home, warehouse_of(config, literal=True))  # the warehouse pool's limit
    # The sensors would load the landing files and carry them on before the backfill gets a turn.
    stopping = [
        subprocess.Popen(
            [str(BIN / "dagster"), "sensor", "stop", sensor, "-w", str(WORKSPACE)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for sensor in ("new_landing_files", "automation")
    ]
    try:
        assert [p.wait(timeout=120) for p in stopping] == [0, 0]
    finally:
        for p in stopping:
            stop_process(p)
    with dagster_services(env, tmp_path) as services:
        url = services.url
        days = [START.replace(day=d).isoformat() for d in (2, 3, 4)]
        # One source, its step in the run's own process: what is tested is the daemon's part.
        params = {
            "assetSelection": [{"path": raw_key("registrations").path}],
            "partitionNames": days,
            "runConfigData": {"execution": {"config": {"in_process": {}}}},
        }
        answer = graphql(url, LAUNCH, params=params)["launchPartitionBackfill"]
        assert answer["__typename"] == "LaunchBackfillSuccess", answer
        status = None
        deadline = time.monotonic() + 240
        while status not in DONE:
            assert time.monotonic() < deadline, ((tmp_path / "daemon.log").read_text()[-3000:], status)
            time.sleep(1)
            status = graphql(url, STATUS, id=answer["backfillId"])["partitionBackfillOrError"].get("status")
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (tmp_path / "daemon.log").read_text()[-3000:]
    assert set(instance.get_materialized_partitions(raw_key("registrations"))) == set(days)
    assert not instance.get_materialized_partitions(raw_key("exits"))  # the sensors stayed off
    warehouse = warehouse_of(config, literal=True)
    loaded = warehouse.rows("SELECT DISTINCT _datestamp FROM raw.registrations ORDER BY 1")
    assert [r["_datestamp"].isoformat() for r in loaded] == days
