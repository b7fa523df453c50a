"""Retries of steps that an outside system failed: which errors are tried again, and a PostgreSQL
connection killed in the middle of a load, retried to the same rows with none twice."""

import datetime as dt
import threading
import time

import dagster as dg
import duckdb
import psycopg2
import pytest
import sqlalchemy as sa
from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run

from conftest import GRID, MONITORING_CFG, PROMOTION, SELECTION, START, TEMPORAL, all_checksums, make_project
from prodline.assets.decorators import OUTSIDE_SYSTEMS, retried_asset
from prodline.pipeline.transient import is_transient
from prodline.resources import warehouse_of
from prodline.runs import load_range

END = START + dt.timedelta(days=4)


def wrapped(error: Exception) -> sa.exc.DBAPIError:
    return sa.exc.OperationalError("INSERT ...", {}, error)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (wrapped(psycopg2.OperationalError("server closed the connection unexpectedly")), True),
        (psycopg2.InterfaceError("connection already closed"), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (duckdb.IOException('Could not set lock on file "w.duckdb": Conflicting lock is held'), True),
        (wrapped(psycopg2.OperationalError('relation "raw.x" does not exist')), False),
        (sa.exc.ProgrammingError("SELECT", {}, Exception('syntax error at or near "FORM"')), False),
        (ValueError("age: 'old' is not an integer"), False),
        (KeyError("split"), False),
    ],
)
def test_only_errors_a_retry_can_cure_are_transient(error, transient):
    assert is_transient(error) is transient


def test_a_cause_that_is_transient_makes_the_error_transient():
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as cause:
            raise RuntimeError("could not reach the tracking server") from cause
    except RuntimeError as error:
        assert is_transient(error)


def test_every_step_retries_with_exponential_backoff(tmp_path, monkeypatch):
    from prodline.definitions import build_definitions

    config = make_project(
        tmp_path,
        monkeypatch,
        temporal=TEMPORAL,
        grid=GRID,
        selection=SELECTION,
        scoring={"top_n": [10], "percentiles": [10, 50]},
        promotion=PROMOTION,
        monitoring=MONITORING_CFG,
    )
    steps = list(build_definitions(config).assets)  # the gate's checks are among them
    assert len(steps) > 10
    for step in steps:
        assert step.op.retry_policy == OUTSIDE_SYSTEMS, step
    assert OUTSIDE_SYSTEMS.backoff == dg.Backoff.EXPONENTIAL and OUTSIDE_SYSTEMS.max_retries >= 3


def test_a_load_whose_connection_drops_is_retried_to_the_same_rows(project, instance, pg_url, monkeypatch):
    monkeypatch.setenv("PRODLINE_WAREHOUSE_URL", pg_url)
    assert load_range(project, instance, START, END).success
    expected = all_checksums(project)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    killed = []

    def kill_after_delete(conn, cursor, statement, parameters, context, executemany):
        """The first time a load has deleted its window, the server ends its connection, before the
        new rows are written: a connection lost in the middle of the load's transaction."""
        if statement.startswith("DELETE FROM raw.registrations") and not killed:
            pid = conn.connection.driver_connection.get_backend_pid()
            with admin.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            killed.append(pid)

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", kill_after_delete)
    try:
        result = load_range(project, instance, START, END)
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", kill_after_delete)
        admin.dispose()
    assert killed and result.success
    restarted = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    failed = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(failed) == 1 and len(restarted) == 1
    said, error = [], failed[0].event_specific_data.error
    while error is not None:
        said.append(error.message)
        error = error.cause or error.context
    assert any("connection already closed" in m or "terminating connection" in m for m in said), said
    assert all_checksums(project) == expected  # the same rows, none twice
    warehouse = warehouse_of(project, literal=True)
    assert warehouse.scalar("SELECT count(*) - count(DISTINCT registration_id) FROM raw.registrations") == 0


def test_an_error_a_retry_cannot_cure_fails_at_once(project, instance):
    broken = project.model_copy(
        update={
            "transforms": {
                name: t.model_copy(update={"sql": "SELECT * FORM raw.exits", "sql_file": None})
                for name, t in project.transforms.items()
            }
        }
    )
    assert load_range(broken, instance, START, END).success
    from prodline.runs import run_range

    result = run_range(broken, instance, "run_transforms", START, END)
    assert not result.success
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "ParserException" in failure.message or "syntax error" in failure.message.lower()


@retried_asset(key="refused_input")
def refused_input(context: dg.AssetExecutionContext):
    raise ValueError("age: 'old' is not an integer")


@dg.asset
def worker_lost():
    raise dg.Failure("the worker's machine went away")


def test_a_run_that_failed_for_good_is_not_launched_again_by_run_retries():
    """deploy/dagster.yaml retries failed runs; one whose step failed for good would only fail the
    same way (a refused file, in quarantine by then, as missing)."""
    retries = {"run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": True}}
    with dg.instance_for_test(overrides=retries) as instance:
        verdicts = {}
        for asset in (refused_input, worker_lost):
            result = dg.materialize([asset], instance=instance, raise_on_error=False)
            run = instance.get_run_by_id(result.run_id)
            verdicts[asset.key.to_user_string()] = auto_reexecution_should_retry_run(
                instance, run, RunFailureReason.STEP_FAILURE)
        assert verdicts == {"refused_input": False, "worker_lost": True}


def test_a_reader_asks_again_when_its_connection_is_cut_in_the_middle_of_a_query(pg_url):
    """The API's warehouse (read-only): a query whose connection the server terminates is asked
    once more and answers; a writer's query fails (its step's retry policy takes it from there)."""
    from prodline.stores.warehouse import Warehouse

    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    slow = "SELECT 42 FROM pg_sleep(1.5) /* cut me */"

    def cut_once() -> None:
        deadline = time.monotonic() + 30
        with admin.connect() as conn:
            while time.monotonic() < deadline:
                pids = conn.execute(sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%cut me%' "
                    "AND pid <> pg_backend_pid()")).scalars().all()
                if pids:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
                    return
                time.sleep(0.02)

    for warehouse, answers in ((Warehouse(url=pg_url, read_only=True), True), (Warehouse(url=pg_url), False)):
        cutter = threading.Thread(target=cut_once, daemon=True)
        cutter.start()
        if answers:
            assert warehouse.scalar(slow) == 42
        else:
            with pytest.raises(sa.exc.OperationalError, match="terminat"):
                warehouse.scalar(slow)
        cutter.join(timeout=30)
        assert not cutter.is_alive()
    admin.dispose()
