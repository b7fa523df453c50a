"""`prodline demo` and `prodline load`: run partitions in-process on the project's instance."""

import datetime as dt
from collections import Counter

import dagster as dg

from prodline.assets.raw import raw_key
from prodline.config import ProjectConfig
from prodline.definitions import build_definitions
from prodline.instance import batch_dagster_events


def load_range(config: ProjectConfig, instance: dg.DagsterInstance, start: dt.date,
               end: dt.date, sources: list[str] | None = None) -> dg.ExecuteInProcessResult:
    """Materialize raw partitions start..end as one run, as a single-run backfill would."""
    batch_dagster_events()
    defs = build_definitions(config)
    job = defs.resolve_job_def("ingest_raw")
    selection = [raw_key(s) for s in sources] if sources else None
    return job.execute_in_process(
        instance=instance,
        asset_selection=selection,
        tags={"dagster/asset_partition_range_start": start.isoformat(),
              "dagster/asset_partition_range_end": end.isoformat(),
              "prodline/trigger": "cli"},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )


def check_summary(result: dg.ExecuteInProcessResult) -> Counter:
    """(asset, passed) counts of the check evaluations of a run."""
    counts: Counter = Counter()
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            counts[(evaluation.asset_key.to_user_string(), evaluation.passed)] += 1
    return counts
