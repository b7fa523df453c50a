"""A `prodline load` killed in the middle of a step blocks nothing: the next load marks its run
failed, frees the warehouse slot it held and loads every row once. Meanwhile, a load that finds the
slot held by a live run says which run it waits for, and gives up after --wait."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._grpc.client import DagsterGrpcClient
from typer.testing import CliRunner

from conftest import (
    RAW_ONLY,
    START,
    all_checksums,
    exits_in_source_database,
    free_port,
    output_of,
    stop_process,
    write_config,
)
from prodline.cli import app
from prodline.config import DEMO_CONFIG, load_config
from prodline.demo.generate import generate
from prodline.demo.simulate import Scenario, simulate
from prodline.execution import executor_of
from prodline.instance import (
    BORN_TAG,
    PID_TAG,
    RUN_TAG,
    is_alive,
    prepare_instance,
    process_tags,
    release_dead_runs,
)
from prodline.resources import warehouse_of
from prodline.resources.stores import POOL, WarehouseResource
from prodline.runs import load_range
from prodline.sensors.dead_runs import dead_runs_sensor

LAST = START + dt.timedelta(days=4)
PRODLINE = Path(sys.executable).parent / "prodline"


def project(tmp_path: Path, pg_url: str):
    """The demo's three sources from landing files, and `things` read by query from PostgreSQL."""
    things = simulate(Scenario(start=START, per_day=20.0), START, LAST)["exits"].to_pylist()
    engine = sa.create_engine(pg_url)
    query_file = exits_in_source_database(engine, "ops_things", things, tmp_path)
    sources = yaml.safe_load(DEMO_CONFIG.read_text())["sources"]
    sources["things"] = {"primary_key": ["exit_id"], "date_column": "exited_on", "arrival": "query",
                         "query_file": query_file,
                         "columns": {"exit_id": "integer", "person_id": "integer", "exited_on": "date",
                                     "reason": "string"}}
    path = write_config(tmp_path, sources=sources, end_date="2024-06-30", **RAW_ONLY)
    return path, engine


def start_load(path: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(PRODLINE), "load", "--start", str(START), "--end", str(LAST),
                             "--config", str(path), *extra], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_until(what: str, test, seconds: float = 180.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def lock_waits(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                    "'Lock' AND query LIKE '%FROM ops_things%'")).scalar()


def claimed(dagster_home: Path) -> list:
    if not (dagster_home / "history" / "runs.db").exists():
        return []
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return instance.event_log_storage.get_concurrency_info(POOL).claimed_slots


def test_a_killed_load_releases_its_slot_and_the_next_loads_every_row_once(
        tmp_path, pg_url, monkeypatch):
    path, engine = project(tmp_path, pg_url)
    home = tmp_path / "home"
    generate(home / "landing", Scenario(start=START, per_day=6.0), START, LAST)
    env = {**os.environ, "PRODLINE_HOME": str(home), "PRODLINE_SOURCE_URL": pg_url}
    env.pop("PRODLINE_WAREHOUSE_URL", None)
    # The instance made first: the test reads its storage while the load runs, and two processes
    # creating the same SQLite storage at once can both stamp its schema version.
    subprocess.run([str(PRODLINE), "init", "--config", str(path)], env=env, check=True,
                   capture_output=True, timeout=300)

    # The source table locked: the step reading it waits, holding the warehouse slot, until killed.
    blocker = engine.connect()
    lock = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE ops_things IN ACCESS EXCLUSIVE MODE"))
    first = start_load(path, env)
    try:
        slot = wait_until("the first load's step holds the warehouse slot and waits for the lock",
                          lambda: [s for s in claimed(home / "dagster") if s.step_key == "raw__things"])[0]
        wait_until("its query waits for the lock", lambda: lock_waits(engine))

        # A second load finds the slot held by a live run: it says which and gives up.
        waiting = start_load(path, env, "--wait", "2")
        out = output_of(waiting, 180)
        assert waiting.returncode == 1, out
        flat = " ".join(out.split())
        held_by = (f"run {slot.run_id[:8]} (prodline load --start {START} --end {LAST} --config {path}, "
                   f"pid {first.pid}, started)")
        assert f"waiting for {held_by}, which holds the warehouse slot (up to 2 s)" in flat
        assert f"gave up after 2 s waiting for the warehouse slot, held by {held_by}" in flat
        assert "Traceback" not in out

    finally:
        stop_process(first, how=signal.SIGKILL)  # as a machine lost: no time to give anything back
        lock.rollback()
        blocker.close()
    assert [s.run_id for s in claimed(home / "dagster")] == [slot.run_id]  # nothing freed it yet

    began = time.monotonic()
    second = start_load(path, env, "--wait", "5")
    out = output_of(second, 300)
    assert second.returncode == 0, out
    assert time.monotonic() - began < 300
    flat = " ".join(out.split())
    assert f"run {slot.run_id[:8]} (prodline load" in flat
    assert "its process is gone; marked failed, its slots freed" in flat
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert instance.get_run_by_id(slot.run_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info(POOL).claimed_slots

    config = load_config(path)
    monkeypatch.setenv("PRODLINE_SOURCE_URL", pg_url)
    monkeypatch.setenv("PRODLINE_HOME", str(home))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    after_kill = all_checksums(config)
    warehouse = warehouse_of(config, literal=True)
    for name, source in config.sources.items():
        key = ", ".join(source.primary_key)
        assert warehouse.scalar(f"SELECT count(DISTINCT ({key})) FROM raw.{name}") == after_kill[name][0]

    # A clean load of the same days into a home of its own holds exactly the same rows.
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "clean"))
    generate(tmp_path / "clean" / "landing", Scenario(start=START, per_day=6.0), START, LAST)
    with dg.instance_for_test() as instance:
        assert load_range(config, instance, START, LAST).success
    assert all_checksums(config) == after_kill
    assert after_kill["things"][0] > 0 and after_kill["registrations"][0] > 20
    engine.dispose()


# A process that starts a run, takes the warehouse slot for one of its steps, and ends without a word.
DIES_HOLDING_A_SLOT = """
import dagster as dg
from dagster._core.utils import make_new_run_id
from prodline.instance import process_tags
from prodline.resources.stores import POOL

instance = dg.DagsterInstance.get()
run_id = make_new_run_id()
run = dg.DagsterRun(job_name="ingest_raw", run_id=run_id, status=dg.DagsterRunStatus.STARTED,
                    tags={**process_tags(run_id), "dagster/asset_partition_range_start": "2024-01-01"})
instance.add_run(run)
assert instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, "raw__exits").is_claimed
print(run.run_id, run.tags["prodline/pid"])
"""


def test_the_dead_runs_sensor_releases_what_a_gone_process_held(tmp_path):

    instance = prepare_instance(tmp_path / "dagster", WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb"))
    child = subprocess.run([sys.executable, "-c", DIES_HOLDING_A_SLOT], capture_output=True, text=True,
                           env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster")}, timeout=120)
    assert child.returncode == 0, child.stderr
    dead, pid = child.stdout.split()[-2:]
    # This process is alive; a run tagged with its pid but another start time is of a process that
    # died and whose pid was given to this one; a run re-executed from the UI inherits the tags of
    # the dead run, not its process.
    alive = dg.DagsterRun(job_name="ingest_raw", run_id="a" * 36, status=dg.DagsterRunStatus.STARTED,
                          tags=process_tags("a" * 36))
    reused = dg.DagsterRun(job_name="ingest_raw", run_id="b" * 36, status=dg.DagsterRunStatus.STARTED,
                           tags={**process_tags("b" * 36), BORN_TAG: "1"})
    again = dg.DagsterRun(job_name="ingest_raw", run_id="c" * 36, status=dg.DagsterRunStatus.STARTED,
                          tags=instance.get_run_by_id(dead).tags)
    for run in (alive, reused, again):
        instance.add_run(run)

    skipped = dead_runs_sensor()(dg.build_sensor_context(instance=instance))
    assert sorted(skipped.skip_message.splitlines()) == sorted([
        f"run {dead[:8]} (ingest_raw 2024-01-01, pid {pid}, started): its process is gone; marked "
        "failed, its slots freed",
        f"run bbbbbbbb (ingest_raw, pid {os.getpid()}, started): its process is gone; marked failed, "
        "its slots freed"])
    status = {r: instance.get_run_by_id(r).status for r in (dead, alive.run_id, reused.run_id,
                                                            again.run_id)}
    assert status == {dead: dg.DagsterRunStatus.FAILURE, alive.run_id: dg.DagsterRunStatus.STARTED,
                      reused.run_id: dg.DagsterRunStatus.FAILURE, again.run_id: dg.DagsterRunStatus.STARTED}
    assert not instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
    failure = instance.get_records_for_run(dead, of_type=dg.DagsterEventType.RUN_FAILURE).records[0]
    assert "is gone: prodline marked the run failed and freed its pool slots" in \
        failure.event_log_entry.dagster_event.message
    again = dead_runs_sensor()(dg.build_sensor_context(instance=instance))
    assert again.skip_message == "every run that holds a slot is alive"
    instance.dispose()


@dg.op
def wait_a_little() -> None:
    time.sleep(0.1)


def watched_job() -> dg.JobDefinition:
    """A job with prodline's executor (every step in the run's process), as the daemon runs them."""
    return dg.GraphDefinition(name="watched", node_defs=[wait_a_little]).to_job(
        executor_def=executor_of({"PRODLINE_IN_PROCESS": "1"}))


def test_a_run_worker_names_itself_in_its_run(tmp_path):
    """A run launched by the daemon carries its worker's pid once it executes, so that a worker that
    dies with the daemon's code server is found (execute_job: the executor runs in this process)."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(dg.reconstructable(watched_job), instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert (run.tags[RUN_TAG], run.tags[PID_TAG]) == (result.run_id, str(os.getpid()))
        assert is_alive(run) is True


def test_a_run_whose_launch_died_with_its_code_server_is_failed_and_gives_back_its_slot(tmp_path):
    instance = prepare_instance(tmp_path / "dagster", WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb"))
    gone = json.dumps({"host": "localhost", "socket": str(tmp_path / "gone.sock")})
    lost = dg.DagsterRun(job_name="ingest_raw", run_id="d" * 36, status=dg.DagsterRunStatus.STARTING,
                         tags={GRPC_INFO_TAG: gone})
    # Executing already: its worker's own pid tells (this process is alive).
    executing = dg.DagsterRun(job_name="ingest_raw", run_id="e" * 36, status=dg.DagsterRunStatus.STARTING,
                              tags={GRPC_INFO_TAG: gone, **process_tags("e" * 36)})
    for run in (lost, executing):
        instance.add_run(run)
    assert instance.event_log_storage.claim_concurrency_slot(POOL, lost.run_id, "load").is_claimed
    assert release_dead_runs(instance) == []  # within the grace a code server has to start a run
    assert release_dead_runs(instance, grace=0) == [
        "run dddddddd (ingest_raw, launched by the daemon or the UI, starting): its launch died with "
        "its code server; marked failed, its slots freed"]
    assert instance.get_run_by_id(lost.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(executing.run_id).status == dg.DagsterRunStatus.STARTING
    assert not instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
    failure = instance.get_records_for_run(lost.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[0]
    message = failure.event_log_entry.dagster_event.message
    assert "The code server launching this run no longer answers" in message
    instance.dispose()


def test_a_starting_run_that_a_code_server_started_again_does_not_know_is_failed(tmp_path):
    """The code server was killed while starting the run and started again on the same address: it
    answers, but the run is not among its executions."""
    instance = prepare_instance(tmp_path / "dagster", WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb"))
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "api", "grpc", "--python-file",
                               str(Path(__file__).with_name("test_lost_runs.py")), "--attribute", "DEFS",
                               "-h", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + 60
        while True:
            try:
                client.ping("")
                break
            except DagsterUserCodeUnreachableError:
                assert time.monotonic() < deadline and server.poll() is None, "the code server did not start"
                time.sleep(0.3)
        forgotten = dg.DagsterRun(job_name="ingest_raw", run_id="f" * 36, status=dg.DagsterRunStatus.STARTING,
                                  tags={GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": port})})
        instance.add_run(forgotten)
        assert release_dead_runs(instance, grace=0) == [
            "run ffffffff (ingest_raw, launched by the daemon or the UI, starting): its launch died with "
            "its code server; marked failed, its slots freed"]
    finally:
        stop_process(server, group=True)
        instance.dispose()


def test_an_embedded_instance_of_an_older_prodline_gains_run_monitoring(tmp_path):

    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb")
    older = {"telemetry": {"enabled": True}, "concurrency": {"pools": {"granularity": "op",
                                                                       "default_limit": 1}}}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "dagster.yaml").write_text(yaml.safe_dump(older))
    prepare_instance(tmp_path / "old", warehouse).dispose()
    upgraded = yaml.safe_load((tmp_path / "old" / "dagster.yaml").read_text())
    assert upgraded["telemetry"] == {"enabled": True}  # what was there stays
    assert upgraded["run_monitoring"]["enabled"] is True
    assert upgraded["run_monitoring"]["free_slots_after_run_end_seconds"] == 30

    own = "# my instance\nstorage:\n  sqlite:\n    base_dir: " + str(tmp_path / "own") + "\n"
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "dagster.yaml").write_text(own)
    prepare_instance(tmp_path / "own", warehouse).dispose()
    assert (tmp_path / "own" / "dagster.yaml").read_text() == own


def test_a_load_says_which_process_holds_the_warehouse_file_and_gives_up(tmp_path, monkeypatch):


    home = tmp_path / "home"
    monkeypatch.setenv("PRODLINE_HOME", str(home))
    for name in ("PRODLINE_CONFIG", "PRODLINE_WAREHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = write_config(tmp_path, end_date="2024-03-31", **RAW_ONLY)
    generate(home / "landing", Scenario(start=START, per_day=4.0), START, START)
    home.mkdir(exist_ok=True)
    script = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
              "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", script, str(home / "warehouse.duckdb")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        result = CliRunner().invoke(app, ["load", "--start", str(START), "--wait", "1",
                                          "--config", str(path)])
    finally:
        output_of(holder, 30, given="")
    who = f"process {holder.pid} ({f'{Path(sys.executable).name} -c {script}'[:79]}…)"  # cut at 80
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert f"waiting for {who}, which holds the warehouse file (up to 1 s)" in out
    assert (f"gave up after 1 s waiting for {who}, which holds the warehouse file: run this again when "
            "it has finished, or wait longer with --wait SECONDS") in out
