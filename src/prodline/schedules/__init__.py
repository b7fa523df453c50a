"""Schedules: work that runs on the clock."""

import datetime as dt

import dagster as dg

from prodline.pipeline.matrices.building import current_splits
from prodline.resources.stores import WarehouseResource


def daily_source_ingest(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """Load yesterday's partition from the source database, early each morning."""

    @dg.schedule(name="daily_source_ingest", job=job, cron_schedule="15 1 * * *",
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        yesterday = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
        return dg.RunRequest(run_key=yesterday, partition_key=yesterday)

    return _schedule


def retrain_schedule(job: dg.JobDefinition, config) -> dg.ScheduleDefinition:
    """Retrain the newest split once per model update period (the first day of each period, at
    04:00), so its models learn from data refreshed since; the challenger still faces the gate."""

    @dg.schedule(name=config.own("retrain_each_period"), job=job, cron_schedule=period_cron(config.temporal),
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Retrains the newest split every {config.temporal.model_update_frequency}.")
    def retrain_each_period(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
        splits = current_splits(config, warehouse)
        if not splits:
            return dg.SkipReason("no split yet: labels have not matured far enough")
        day = context.scheduled_execution_time.date().isoformat()
        return dg.RunRequest(run_key=f"{splits[-1].key}@{day}", partition_key=splits[-1].key,
                             tags={"prodline/trigger": "schedule"})

    return retrain_each_period


def period_cron(temporal) -> str:
    """A cron for the update frequency: months on the 1st (every n months), weeks on Mondays,
    days daily; other lengths fall back to the 1st of each month."""
    count, unit = temporal.model_update_frequency.amount
    if unit in ("month", "year"):
        months = count * (12 if unit == "year" else 1)
        return "0 4 1 * *" if months == 1 else f"0 4 1 */{months} *" if 12 % months == 0 else "0 4 1 * *"
    if unit == "week":
        return "0 4 * * 1"
    if unit == "day" and count == 1:
        return "0 4 * * *"
    return "0 4 1 * *"
