"""Partitions run in-process on the project's instance, as a single-run backfill would: what
`prodline load`, `prodline demo`, the benchmarks and the tests use."""

import datetime as dt
from collections import Counter

import dagster as dg

from prodline.assets.keys import raw_key
from prodline.assets.partitions import as_of_partitions
from prodline.config import ProjectConfig
from prodline.definitions import build_definitions
from prodline.instance import batch_dagster_events
from prodline.pipeline.as_of.cohort_labels import labels_need_through


def load_range(config: ProjectConfig, instance: dg.DagsterInstance, start: dt.date,
               end: dt.date, sources: list[str] | None = None) -> dg.ExecuteInProcessResult:
    """Materialize raw partitions start..end as one run, as a single-run backfill would."""
    selection = [raw_key(s) for s in sources] if sources else None
    return run_range(config, instance, "ingest_raw", start, end, selection)


def run_range(config: ProjectConfig, instance: dg.DagsterInstance, job_name: str, start: dt.date | str,
              end: dt.date | str, selection: list[dg.AssetKey] | None = None) -> dg.ExecuteInProcessResult:
    """Run a job's assets for partitions start..end (dates, or split keys) as one run, as a
    single-run backfill would."""
    batch_dagster_events()
    job = build_definitions(config).resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance,
        asset_selection=selection,
        tags={"dagster/asset_partition_range_start": str(start),
              "dagster/asset_partition_range_end": str(end),
              "prodline/trigger": "cli"},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )


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
