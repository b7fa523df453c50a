"""The Dagster instance of the embedded default (SQLite storage under the project's home), and its
run monitoring: a run whose process died is marked failed and gives back its pool slots."""

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.storage.dagster_run import RunsFilter
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._serdes import deserialize_value

from prodline.event_log import BatchedSqliteStorage
from prodline.resources.stores import POOL, WarehouseResource

EMBEDDED = {
    "telemetry": {"enabled": False},
    # Steps wait for a free slot of their pool; see prepare_instance for the warehouse's limit.
    "concurrency": {"pools": {"granularity": "op", "default_limit": 1}},
    # For runs the daemon launches (`make dev`): one that never starts or whose worker died is
    # failed, and a finished run's slots are freed. Runs of the commands are watched by
    # release_dead_runs below, as no daemon runs beside them.
    "run_monitoring": {"enabled": True, "start_timeout_seconds": 180, "cancel_timeout_seconds": 180,
                       "free_slots_after_run_end_seconds": 30},  # ENDED_GRACE_SECONDS
}
# Keys of a dagster.yaml that make it someone's own instance rather than the embedded default.
OWN_STORAGE = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def embedded_storage(dagster_home: Path) -> dict:
    """The `storage` of the embedded dagster.yaml: Dagster's SQLite storage, in the same files, with
    the batched event log (prodline/event_log.py)."""
    return {"custom": {"module": BatchedSqliteStorage.__module__, "class": BatchedSqliteStorage.__name__,
                       "config": {"base_dir": str(dagster_home.resolve())}}}


def prepare_instance(dagster_home: Path, warehouse: WarehouseResource) -> dg.DagsterInstance:
    """Create DAGSTER_HOME (once), bring an embedded dagster.yaml written by an older prodline up to
    date (or one whose home has moved), and give the warehouse pool the limit its backend allows.
    A dagster.yaml with storage of its own is left as it is."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    written = yaml.safe_load(config.read_text()) if config.exists() else None
    embedded = {**EMBEDDED, "storage": embedded_storage(dagster_home)}
    if not isinstance(written, dict):
        config.write_text(yaml.safe_dump(embedded, sort_keys=False))
    elif _is_embedded(written):
        updated = {**written, **{k: v for k, v in embedded.items() if k not in written},
                   "storage": embedded["storage"]}
        if updated != written:
            config.write_text(yaml.safe_dump(updated, sort_keys=False))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = dg.DagsterInstance.get()
    instance.event_log_storage.set_concurrency_slots(POOL, warehouse.pool_limit)
    return instance


def _is_embedded(written: dict) -> bool:
    """Written by prodline: no storage of its own (Dagster's default, SQLite in DAGSTER_HOME, as an
    older prodline left it), or the embedded storage."""
    own = [key for key in OWN_STORAGE if key in written]
    storage = written.get("storage")
    custom = storage.get("custom") if isinstance(storage, dict) else None
    ours = isinstance(custom, dict) and custom.get("class") == BatchedSqliteStorage.__name__
    return not own or (own == ["storage"] and ours)


# The process that runs a command's run (in-process execution: the run's steps run in it), so that
# another command can tell whether it is still alive. The run's own id comes with them: a run
# re-executed from the UI inherits its parent's tags, but not its process.
PID_TAG, HOST_TAG, BORN_TAG = "prodline/pid", "prodline/host", "prodline/process_started"
RUN_TAG, COMMAND_TAG = "prodline/run_id", "prodline/command"
# A run marked ended may still have a step finishing on another process (a Celery worker): its slot
# is freed this long after the end, as Dagster's daemon does (free_slots_after_run_end_seconds).
ENDED_GRACE_SECONDS = 30
WATCHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
           dg.DagsterRunStatus.CANCELING]


def process_tags(run_id: str) -> dict[str, str]:
    """Tags naming this process, for the run `run_id` executed in it."""
    tags = {RUN_TAG: run_id, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
            BORN_TAG: _started(os.getpid()) or ""}
    if Path(sys.argv[0]).name == "prodline":
        tags[COMMAND_TAG] = " ".join(["prodline", *sys.argv[1:]])[:200]
    return tags


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from Linux's /proc), so that a new process
    given a dead one's pid is not taken for it; None if there is no such living process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, *rest = stat.rsplit(")", 1)[1].split()
    return None if state in ("Z", "X") else rest[18]  # field 22 of proc(5), after pid, comm, state


def _own_process(run: dg.DagsterRun) -> bool:
    return run.tags.get(RUN_TAG) == run.run_id and PID_TAG in run.tags


def is_alive(run: dg.DagsterRun) -> bool | None:
    """Whether the process of a run still runs (its worker, which names itself in the run's tags
    when it starts executing: prodline.execution.watched); None when this cannot be told here (a
    run on another machine, or one not executing yet)."""
    tags = run.tags
    if not _own_process(run) or tags.get(HOST_TAG) != socket.gethostname():
        return None
    pid = int(tags[PID_TAG])
    if Path("/proc/self/stat").exists():
        now = _started(pid)
        return now is not None and now == (tags.get(BORN_TAG) or now)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


# A run the daemon or the UI launched is STARTING until its worker executes it. Its code server
# starts the worker in a second or two; past this, a code server that no longer answers, or one
# that does not know the run (started again on the same address), means the launch died with it
# (a code server killed, or the daemon that ran it), and the run would hold its place in the queue,
# and the pool's slots, until Dagster's start timeout (5 minutes).
LAUNCH_GRACE_SECONDS = 30.0


def launch_lost(record, grace: float = LAUNCH_GRACE_SECONDS) -> bool:
    """A run still STARTING after `grace` seconds, not executing yet, whose code server is gone or
    no longer knows it."""
    run = record.dagster_run
    info = run.tags.get(GRPC_INFO_TAG)
    if run.status != dg.DagsterRunStatus.STARTING or _own_process(run) or not info:
        return False
    if time.time() - record.update_timestamp.timestamp() < grace:
        return False
    where = json.loads(info)
    client = DagsterGrpcClient(port=where.get("port"), socket=where.get("socket"),
                               host=where.get("host", "localhost"))
    try:
        # A code server started again on the same address answers, but does not know the run.
        answer = client.can_cancel_execution(CanCancelExecutionRequest(run_id=run.run_id), timeout=10)
    except DagsterUserCodeUnreachableError:
        return True
    return not deserialize_value(answer, CanCancelExecutionResult).can_cancel


def describe(run: dg.DagsterRun | None, run_id: str) -> str:
    """`run 1a2b3c4d (prodline load --start 2024-01-01, pid 4242)`, for a message."""
    if run is None:
        return f"run {run_id[:8]} (deleted)"
    tags = run.tags if _own_process(run) else {k: v for k, v in run.tags.items()
                                                if not k.startswith("prodline/")}
    what = tags.get(COMMAND_TAG) or " ".join(filter(None, (
        run.job_name, tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end") and f".. {tags['dagster/asset_partition_range_end']}")))
    where = f", pid {tags[PID_TAG]}" if PID_TAG in tags else ", launched by the daemon or the UI"
    return f"run {run_id[:8]} ({what}{where}, {run.status.value.lower()})"


def release_dead_runs(instance: dg.DagsterInstance, grace: float = LAUNCH_GRACE_SECONDS) -> list[str]:
    """Mark failed every run whose process is gone (or whose launch died with its code server), and
    free the pool slots of every run that has ended (dead or finished): what Dagster's run
    monitoring does, for runs it cannot watch. Dagster's run retries launch a failed run again.
    Returns a line per run released."""
    released = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=WATCHED)):
        run = record.dagster_run
        if is_alive(run) is False:
            why = (f"The process of this run (pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}) is gone: "
                   "prodline marked the run failed and freed its pool slots.")
            line = "its process is gone"
        elif launch_lost(record, grace):
            why = ("The code server launching this run no longer answers (the daemon or its machine "
                   "stopped): prodline marked the run failed and freed its pool slots.")
            line = "its launch died with its code server"
        else:
            continue
        instance.report_run_failed(run, message=why)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(f"{describe(run, run.run_id)}: {line}; marked failed, its slots freed")
    storage = instance.event_log_storage
    holding = storage.get_concurrency_run_ids() | {s.run_id for s in holders(instance)}
    for run_id in holding:
        record = instance.get_run_record_by_id(run_id)
        run = record.dagster_run if record is not None else None
        ended = (record.end_time or 0) if record is not None else 0
        if run is None or (run.is_finished and time.time() - ended > ENDED_GRACE_SECONDS):
            storage.free_concurrency_slots_for_run(run_id)
            released.append(f"{describe(run, run_id)}: ended; its slots freed")
    return released


@dataclass(frozen=True)
class Slot:
    run_id: str
    step_key: str


def holders(instance: dg.DagsterInstance, pool: str = POOL) -> list[Slot]:
    """The runs' steps that hold a slot of the pool now."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    return [Slot(s.run_id, s.step_key) for s in info.claimed_slots]


def pool_is_full(instance: dg.DagsterInstance, pool: str = POOL) -> bool:
    info = instance.event_log_storage.get_concurrency_info(pool)
    return info.limit is not None and len(info.claimed_slots) >= info.limit
