"""Runs that Dagster lost on the way, asked for again. A run can fail before any step ran: its launch
died with the code server that was starting it ("Unexpected error in IPC client"), or its worker
died with the code server (the dead_runs sensor fails it). Dagster's run retries then launch it
again, but when the code server is still down at that moment the retry itself fails, Dagster marks
the run `will_retry=false` and never looks at it again; the sensor that asked for it has moved on
(its run key is spent), so the partition stays missing for good (`bench/soak.py` found a day lost
so). This sensor asks once more for the assets and partitions such a run planned.

Only runs no step of which failed (a failed step is a verdict: a refused file, wrong SQL), launched
by the daemon or the UI (a command's run is its user's to start again), at most MAX_RESUBMISSIONS
times for one original run."""

import datetime as dt

import dagster as dg
from dagster._core.storage.dagster_run import RunsFilter

from prodline.instance import COMMAND_TAG
from prodline.sensors import interval

FROM_TAG, ATTEMPT_TAG = "prodline/resubmitted_from", "prodline/resubmission"
MAX_RESUBMISSIONS = 2
# A resubmitted run keeps what says which partitions it is for and what asked for it.
KEPT = ("dagster/partition", "dagster/asset_partition_range_start", "dagster/asset_partition_range_end",
        "prodline/trigger")


def lost(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    tags = run.tags
    if run.status != dg.DagsterRunStatus.FAILURE or tags.get("dagster/will_retry") == "true":
        return False
    if COMMAND_TAG in tags or tags.get("prodline/trigger") == "cli":
        return False
    if int(tags.get(ATTEMPT_TAG, "0")) >= MAX_RESUBMISSIONS:
        return False
    if instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1).records:
        return False
    return not instance.get_runs(filters=RunsFilter(tags={FROM_TAG: run.run_id}), limit=1)


def request_again(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.RunRequest | None:
    """The run's planned assets and partition(s), asked for again (None: it planned none)."""
    planned = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    keys = sorted({r.event_log_entry.dagster_event.asset_key for r in planned}, key=lambda k: k.path)
    if not keys:
        return None
    tags = {k: v for k, v in run.tags.items() if k in KEPT and k != "dagster/partition"}
    return dg.RunRequest(
        asset_selection=keys, partition_key=run.tags.get("dagster/partition"),
        tags={**tags, FROM_TAG: run.run_id, ATTEMPT_TAG: str(int(run.tags.get(ATTEMPT_TAG, "0")) + 1)})


def lost_runs_sensor(every: int | None = None) -> dg.SensorDefinition:
    @dg.sensor(name="lost_runs", minimum_interval_seconds=interval(30, every),
               asset_selection=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
               description="Asks again for what a run planned when the run failed before any step "
                           "failed and Dagster will not retry it (its launch or its retry died with "
                           "the code server).")
    def lost_runs(context: dg.SensorEvaluationContext):
        # From the moment it is turned on: history is not news. The cursor is the newest update seen.
        now = dt.datetime.now(dt.UTC).timestamp()
        since = float(context.cursor) if context.cursor else now
        records = context.instance.get_run_records(filters=RunsFilter(
            statuses=[dg.DagsterRunStatus.FAILURE], updated_after=dt.datetime.fromtimestamp(since, dt.UTC)))
        requests = []
        for record in records:
            run = record.dagster_run
            if lost(context.instance, run) and (request := request_again(context.instance, run)):
                context.log.warning(f"run {run.run_id[:8]} ({run.job_name}) was lost before any step "
                                    "failed and will not be retried: asked for again")
                requests.append(request)
        newest = max([r.update_timestamp.timestamp() for r in records], default=since)
        context.update_cursor(str(newest))
        return requests or dg.SkipReason("no lost run")

    return lost_runs
