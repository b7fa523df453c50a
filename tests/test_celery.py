"""Steps on Celery workers (dagster-celery, Redis as broker and result store), on a PostgreSQL-backed
instance: the steps run in the worker's processes, and a worker process killed in the middle of a
step gives its task back, which runs again: the run succeeds, nothing is lost.

Each test has a broker of its own (a redis-server on a free port, or a RabbitMQ virtual host) and
a result store of its own (that redis-server), so the `dagster` queue is no other run's. Every
server and worker is stopped in a finalizer, and a run waited on goes in a daemon thread: a test
that fails leaves nothing that keeps pytest from exiting."""

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from conftest import START, free_port, in_background, make_project, need_service, stop_process
from prodline.assets.keys import transform_key
from prodline.config import DEMO_CONFIG
from prodline.resources import warehouse_of

# Whole processes (Celery workers, a broker of the test's own): run by `make test-end-to-end`.
pytestmark = pytest.mark.end_to_end

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
BIN = Path(sys.executable).parent
END = START + dt.timedelta(days=4)
# A step of the team's own that takes a few seconds: long enough to kill its worker in the middle.
SLOW = (
    "import time\nfrom dagster_pipes import open_dagster_pipes\n"
    "with open_dagster_pipes() as pipes:\n    time.sleep(4)\n    pipes.report_asset_materialization()\n"
)


@pytest.fixture
def redis_url(tmp_path):
    """A Redis server of this test's own, on a free port: no other run on the machine can take its
    tasks or flush its keys (a fixed database of the shared server would be shared)."""
    binary = shutil.which("redis-server")
    if binary is None:
        need_service("redis-server is not installed (apt-get install redis-server)")
    import redis

    port = free_port()
    server = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        client, deadline = redis.Redis(host="127.0.0.1", port=port), time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(server, seconds=10)


@pytest.fixture
def celery_project(tmp_path, monkeypatch, production_instance, redis_url):
    """Runs on Celery through Redis, and a worker: (config, instance, worker)."""
    config = project_on_celery(tmp_path, monkeypatch, redis_url, redis_url)
    worker = start_worker(tmp_path, "worker.log")
    try:
        yield config, production_instance[0], worker
    finally:
        stop_process(worker, group=True)


@pytest.fixture
def rabbitmq_url():
    """A virtual host of this test's own on the machine's RabbitMQ, deleted afterwards: its
    `dagster` queue is no other run's."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as err:
        need_service(f"RabbitMQ at 127.0.0.1:5672 is not reachable: {err}")
    vhost = f"prodline_test_{uuid.uuid4().hex[:10]}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


def project_on_celery(tmp_path: Path, monkeypatch, broker: str, backend: str):
    """The test project, with a slow step of its own, its runs sent to Celery."""
    transforms = {
        **yaml.safe_load(DEMO_CONFIG.read_text())["transforms"],
        "slow_step": {"inputs": ["raw.exits"], "command": [sys.executable, "-c", SLOW]},
    }
    config = make_project(tmp_path / "project", monkeypatch, last=END, transforms=transforms)
    monkeypatch.setenv("PRODLINE_CONFIG", str(config.base_dir / "prodline.yaml"))
    monkeypatch.setenv("PRODLINE_CELERY_BROKER", broker)
    monkeypatch.setenv("PRODLINE_CELERY_BACKEND", backend)
    return config


def start_worker(tmp_path: Path, logname: str) -> subprocess.Popen:
    """`dagster-celery worker start` with deploy/celery.yaml, one process, ready to take tasks."""
    log = tmp_path / logname
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [
                str(BIN / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(DEPLOY / "celery.yaml"),
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
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_process(worker, group=True)
            raise AssertionError(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return worker


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

    with in_background(transforms) as runner:
        killed = kill_when_the_slow_step_starts(instance, lambda pid: os.kill(pid, signal.SIGKILL))
        runner.join(timeout=180)
        assert not runner.is_alive(), "the run did not finish in 180 s"
    assert outcome["success"]
    again = [
        e
        for e in step_starts(instance, outcome["run_id"])
        if e.step_key == transform_key("slow_step").to_python_identifier()
    ]
    assert len(again) == 2 and again[1].dagster_event.pid != killed  # given back, and run by a new process
    assert worker.poll() is None


def kill_when_the_slow_step_starts(instance, kill) -> int:
    """Wait for the slow step to start in a worker, call `kill(pid)`; the pid."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for record in instance.get_run_records(dg.RunsFilter(job_name="run_transforms")):
            starts = [
                e
                for e in step_starts(instance, record.dagster_run.run_id)
                if e.step_key == transform_key("slow_step").to_python_identifier()
            ]
            if starts:
                kill(starts[0].dagster_event.pid)
                return starts[0].dagster_event.pid
        time.sleep(0.1)
    raise AssertionError("the slow step never started")


def test_a_whole_worker_killed_loses_no_step_with_rabbitmq(
    tmp_path,
    monkeypatch,
    production_instance,
    rabbitmq_url,
    redis_url,
):
    """The worker and all its processes die (SIGKILL, as a machine lost): RabbitMQ gives the step's
    unacknowledged task back when the connection drops, and the next worker runs it."""
    project_on_celery(tmp_path, monkeypatch, rabbitmq_url, redis_url)
    instance = production_instance[0]
    outcome: dict = {}

    def transforms() -> None:
        outcome["success"], outcome["run_id"] = run(instance, "run_transforms", START, END)

    def lost(_) -> None:  # the whole worker at once, no time to give anything back
        stop_process(first, group=True, how=signal.SIGKILL)

    first = start_worker(tmp_path, "first.log")
    try:
        assert run(instance, "ingest_raw", START, END)[0]
        with in_background(transforms) as runner:
            killed = kill_when_the_slow_step_starts(instance, lost)
            second = start_worker(tmp_path, "second.log")
            try:
                runner.join(timeout=180)
                assert not runner.is_alive(), "the run did not finish in 180 s"
            finally:
                stop_process(second, group=True)
    finally:
        stop_process(first, group=True)
    assert outcome["success"]
    again = [
        e
        for e in step_starts(instance, outcome["run_id"])
        if e.step_key == transform_key("slow_step").to_python_identifier()
    ]
    assert len(again) == 2 and again[1].dagster_event.pid != killed
