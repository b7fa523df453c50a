"""The deployment of deploy/: a Dagster webserver and daemon on the PostgreSQL instance take a
partition backfill through GraphQL, and the daemon runs it to the end."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import START, free_port, make_project, stop_process, wait_until_answered
from prodline.assets.keys import raw_key
from prodline.instance import prepare_instance
from prodline.resources import warehouse_of

# Whole processes (webserver, daemon): run by `make test-end-to-end`.
pytestmark = pytest.mark.end_to_end

BIN = Path(sys.executable).parent
WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"
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
    port = free_port()
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("webserver", "daemon")}  # noqa: SIM115
    services = [
        subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=logs["webserver"],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE)],
            env=env,
            stdout=logs["daemon"],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    try:
        graphql = f"http://127.0.0.1:{port}/graphql"
        wait_until_answered(f"http://127.0.0.1:{port}/server_info", services, tmp_path / "webserver.log")
        days = [START.replace(day=d).isoformat() for d in (2, 3, 4)]
        # One source, its step in the run's own process: what is tested is the daemon's part.
        params = {
            "assetSelection": [{"path": raw_key("registrations").path}],
            "partitionNames": days,
            "runConfigData": {"execution": {"config": {"in_process": {}}}},
        }
        launched = httpx.post(
            graphql, json={"query": LAUNCH, "variables": {"params": params}}, timeout=60
        ).json()
        answer = launched["data"]["launchPartitionBackfill"]
        assert answer["__typename"] == "LaunchBackfillSuccess", answer
        status = None
        deadline = time.monotonic() + 240
        while status not in DONE:
            assert time.monotonic() < deadline, ((tmp_path / "daemon.log").read_text()[-3000:], status)
            time.sleep(1)
            found = httpx.post(
                graphql, json={"query": STATUS, "variables": {"id": answer["backfillId"]}}
            ).json()
            status = found["data"]["partitionBackfillOrError"].get("status")
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (tmp_path / "daemon.log").read_text()[-3000:]
    finally:
        for service in services:  # each with the processes it started (the code server, a run's)
            stop_process(service, group=True, seconds=60)
        for log in logs.values():
            log.close()
    assert set(instance.get_materialized_partitions(raw_key("registrations"))) == set(days)
    assert not instance.get_materialized_partitions(raw_key("exits"))  # the sensors stayed off
    warehouse = warehouse_of(config, literal=True)
    loaded = warehouse.rows("SELECT DISTINCT _datestamp FROM raw.registrations ORDER BY 1")
    assert [r["_datestamp"].isoformat() for r in loaded] == days
