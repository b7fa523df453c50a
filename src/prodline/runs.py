"""Partitions run in-process on the project's instance, as a single-run backfill would: what
`prodline load`, `prodline demo`, the benchmarks and the tests use."""

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.utils import make_new_run_id
from rich.console import Console

from prodline.assets.keys import raw_key
from prodline.assets.partitions import as_of_partitions
from prodline.config import ProjectConfig
from prodline.definitions import build_definitions
from prodline.event_log import batch_dagster_events
from prodline.instance import (
    POOL,
    describe,
    holders,
    pool_is_full,
    process_tags,
    release_dead_runs,
)
from prodline.jobs import shared_jobs
from prodline.pipeline.as_of.cohort_labels import labels_need_through

WAIT_SECONDS = 600.0  # how long a run waits for the warehouse slot before it gives up
POLL_SECONDS = 1.0
Report = Callable[[str], None]


class PoolBusy(Exception):
    """The warehouse slot stayed held by a live run longer than the command would wait."""


def _stderr(line: str) -> None:
    Console(stderr=True).print(line, highlight=False)


def load_range(config: ProjectConfig, instance: dg.DagsterInstance, start: dt.date,
               end: dt.date, sources: list[str] | None = None, wait_seconds: float = WAIT_SECONDS,
               report: Report = _stderr) -> dg.ExecuteInProcessResult:
    """Materialize raw partitions start..end as one run, as a single-run backfill would."""
    selection = [raw_key(s) for s in sources] if sources else None
    return run_range(config, instance, "ingest_raw", start, end, selection, wait_seconds, report)


def run_range(config: ProjectConfig, instance: dg.DagsterInstance, job_name: str, start: dt.date | str,
              end: dt.date | str, selection: list[dg.AssetKey] | None = None,
              wait_seconds: float = WAIT_SECONDS, report: Report = _stderr) -> dg.ExecuteInProcessResult:
    """Run a job's assets for partitions start..end (dates, or split keys) as one run, as a
    single-run backfill would: once the warehouse slot is free (runs whose process died give theirs
    back), saying which run it waits for, and raising PoolBusy after `wait_seconds`."""
    batch_dagster_events()
    # A problem of a deployment names its own jobs (`inspected_train_models`); loading is shared.
    own = job_name not in shared_jobs(config) and config.own(job_name)
    job = build_definitions(config).resolve_job_def(own or job_name)
    return run_job(job, instance, start, end, selection, wait_seconds=wait_seconds, report=report)


def run_job(job: dg.JobDefinition, instance: dg.DagsterInstance, start: dt.date | str, end: dt.date | str,
            selection: list[dg.AssetKey] | None = None, tags: dict[str, str] | None = None,
            log_level: str = "WARNING", wait_seconds: float = WAIT_SECONDS,
            report: Report = _stderr) -> dg.ExecuteInProcessResult:
    """One range run of `job` in this process, guarded as every command's run is: it waits for the
    warehouse slot (runs whose process died give theirs back), carries its process in its tags,
    and is watched while it runs."""
    wait_for_pool(instance, wait_seconds, report)
    run_id = make_new_run_id()
    with watching(instance, run_id, report):
        return job.execute_in_process(
            instance=instance,
            run_id=run_id,
            asset_selection=selection,
            tags={"dagster/asset_partition_range_start": str(start),
                  "dagster/asset_partition_range_end": str(end),
                  "prodline/trigger": "cli", **(tags or {}), **process_tags(run_id)},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            raise_on_error=False,
        )


def wait_for_pool(instance: dg.DagsterInstance, seconds: float, report: Report) -> None:
    """Return once the warehouse pool has a free slot; say which runs hold it meanwhile."""
    deadline, told = time.monotonic() + seconds, set()
    while True:
        for line in release_dead_runs(instance):
            report(line)
        if not pool_is_full(instance):
            return
        held = [describe(instance.get_run_by_id(s.run_id), s.run_id) for s in holders(instance)]
        if time.monotonic() >= deadline:
            raise PoolBusy(f"gave up after {seconds:g} s waiting for the {POOL} slot, held by "
                           f"{'; '.join(held)}: let it finish (or stop it) and run this again, or "
                           "wait longer with --wait SECONDS")
        for line in set(held) - told:
            report(f"waiting for {line}, which holds the {POOL} slot (up to {seconds:g} s)")
        told |= set(held)
        time.sleep(POLL_SECONDS)


@contextmanager
def watching(instance: dg.DagsterInstance, run_id: str, report: Report) -> Iterator[None]:
    """While the run executes: free what runs that die meanwhile held, and say which run holds the
    slot a step of this one waits for."""
    done = threading.Event()

    def watch() -> None:
        try:
            look()
        except Exception as err:  # the run goes on without its watcher: say so, not a thread traceback
            report(f"run monitoring stopped for run {run_id[:8]}: {type(err).__name__}: {err}")

    def look() -> None:
        told: set[str] = set()
        while not done.wait(POLL_SECONDS * 2):
            for line in release_dead_runs(instance):
                report(line)
            pending = instance.event_log_storage.get_concurrency_info(POOL).pending_steps
            if any(p.run_id == run_id and p.assigned_timestamp is None for p in pending):
                for slot in holders(instance):
                    line = describe(instance.get_run_by_id(slot.run_id), slot.run_id)
                    if slot.run_id != run_id and line not in told:
                        report(f"waiting for {line}, which holds the {POOL} slot")
                        told.add(line)

    watcher = threading.Thread(target=watch, name="prodline-run-monitoring", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def as_of_plan(config: ProjectConfig, last_loaded: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """As-of dates whose features can be built with data through `last_loaded`, and the subset
    whose labels have matured."""
    keys = as_of_partitions(config).get_partition_keys(
        current_time=dt.datetime.combine(last_loaded + dt.timedelta(days=1), dt.time()))
    dates = [d for d in map(dt.date.fromisoformat, keys) if d <= last_loaded + dt.timedelta(days=1)]
    if config.label is None:
        return dates, []
    span = config.label.interval
    return dates, [d for d in dates if labels_need_through(span, d) <= last_loaded]


def check_summary(result: dg.ExecuteInProcessResult) -> Counter:
    """(asset, passed) counts of the check evaluations of a run."""
    counts: Counter = Counter()
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            counts[(evaluation.asset_key.to_user_string(), evaluation.passed)] += 1
    return counts
