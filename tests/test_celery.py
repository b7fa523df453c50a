"""Steps on Celery workers (dagster-celery, Redis as broker and result store), on a PostgreSQL-backed
instance: the steps run in the worker's processes, and a worker process killed in the middle of a
step gives its task back, which runs again: the run succeeds, nothing is lost."""

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from conftest import START, need_service
from prodline.assets.transforms import transform_key
from prodline.config import DEMO_CONFIG
from prodline.resources import warehouse_of
from test_as_of_assets import make_project
from test_production_instance import production_instance  # noqa: F401  (a fixture)

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
BIN = Path(sys.executable).parent
END = START + dt.timedelta(days=4)
# A step of the team's own that takes a few seconds: long enough to kill its worker in the middle.
SLOW = (
    "import time\nfrom dagster_pipes import open_dagster_pipes\n"
    "with open_dagster_pipes() as pipes:\n    time.sleep(4)\n    pipes.report_asset_materialization()\n"
)


@pytest.fixture
def redis_url():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError as err:
        need_service(f"Redis at 127.0.0.1:6379 is not reachable: {err}")
    import redis

    db = 9
    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    client.flushdb()
    yield f"redis://127.0.0.1:6379/{db}"
    client.flushdb()


@pytest.fixture
def celery_project(tmp_path, monkeypatch, production_instance, redis_url):  # noqa: F811
    instance, _ = production_instance
    transforms = {
        **yaml.safe_load(DEMO_CONFIG.read_text())["transforms"],
        "slow_step": {"inputs": ["raw.exits"], "command": [sys.executable, "-c", SLOW]},
    }
    config = make_project(tmp_path / "project", monkeypatch, last=END, transforms=transforms)
    monkeypatch.setenv("PRODLINE_CONFIG", str(config.base_dir / "prodline.yaml"))
    monkeypatch.setenv("PRODLINE_CELERY_BROKER", redis_url)
    monkeypatch.setenv("PRODLINE_CELERY_BACKEND", redis_url)
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115  (closed after the worker)
    worker = subprocess.Popen(
        [
            str(BIN / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(DEPLOY / "celery.yaml"),
            "-n",
            "prodline-test",
            "-l",
            "info",
            "--",
            "--concurrency",
            "1",
        ],
        env={
            **os.environ,
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "ready." not in (tmp_path / "worker.log").read_text():
        assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
        time.sleep(0.3)
    yield config, instance, worker
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=30)
    log.close()


def run(instance, job: str, start: dt.date, end: dt.date):
    recon = dg.build_reconstructable_job("prodline.definitions", "job_named", reconstructable_args=(job,))
    tags = {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }
    with dg.execute_job(recon, instance, tags=tags, raise_on_error=False) as result:
        return result.success, result.run_id


def step_starts(instance, run_id: str) -> list:
    return [e for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)]


def test_the_steps_run_in_the_celery_worker(celery_project):
    config, instance, _ = celery_project
    success, run_id = run(instance, "ingest_raw", START, END)
    assert success, [
        e.message for e in instance.all_logs(run_id) if e.is_dagster_event and e.dagster_event.is_failure
    ]
    starts = step_starts(instance, run_id)
    assert {e.step_key for e in starts} == {f"raw__{s}" for s in config.sources}
    # Not in this process: in the worker's.
    assert {e.dagster_event.pid for e in starts}.isdisjoint({os.getpid()})
    warehouse = warehouse_of(config, literal=True)
    assert warehouse.scalar("SELECT count(DISTINCT _datestamp) FROM raw.registrations") == 5


def test_a_worker_process_killed_in_the_middle_of_a_step_runs_it_again(celery_project):
    _, instance, worker = celery_project
    assert run(instance, "ingest_raw", START, END)[0]
    outcome: dict = {}

    def transforms() -> None:
        outcome["success"], outcome["run_id"] = run(instance, "run_transforms", START, END)

    runner = threading.Thread(target=transforms)
    runner.start()
    deadline, killed = time.monotonic() + 120, None
    while killed is None and time.monotonic() < deadline:
        for record in instance.get_run_records(dg.RunsFilter(job_name="run_transforms")):
            starts = [
                e
                for e in step_starts(instance, record.dagster_run.run_id)
                if e.step_key == transform_key("slow_step").to_python_identifier()
            ]
            if starts:
                killed = starts[0].dagster_event.pid
                os.kill(killed, signal.SIGKILL)  # the worker's process running the step
        time.sleep(0.1)
    runner.join(timeout=180)
    assert killed is not None and not runner.is_alive()
    assert outcome["success"]
    again = [
        e
        for e in step_starts(instance, outcome["run_id"])
        if e.step_key == transform_key("slow_step").to_python_identifier()
    ]
    assert len(again) == 2 and again[1].dagster_event.pid != killed  # given back, and run by a new process
    assert worker.poll() is None
