"""Schedules: work that runs on the clock."""

import datetime as dt

import dagster as dg


def daily_source_ingest(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """Load yesterday's partition from the source database, early each morning."""

    @dg.schedule(name="daily_source_ingest", job=job, cron_schedule="15 1 * * *",
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        yesterday = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
        return dg.RunRequest(run_key=yesterday, partition_key=yesterday)

    return _schedule
