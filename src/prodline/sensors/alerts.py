"""Alert sensors: an e-mail when a run fails, when an asset check fails, and when the champion
moves. Open-source Dagster has no alert on checks, so that sensor reads check evaluations from the
event log after a cursor."""

import datetime as dt

import dagster as dg

from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import moves_after, newest_move
from prodline.resources.alerts import AlertsResource
from prodline.resources.stores import WarehouseResource

ENDED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
WILL_RETRY = "dagster/will_retry"  # set on a failed run that Dagster's run retries will run again
PARTITION_TAGS = (
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
)


RUN_ALERTS = ("run_failure_alerts", "check_failure_alerts")  # a deployment's, not a problem's


def alert_sensors(config: ProjectConfig, runs: bool = True) -> list[dg.SensorDefinition]:
    """The alerts of a project; without `runs`, only its promotions (the deployment's first problem
    watches every run and check)."""
    if config.alerts is None:
        return []
    sensors = [run_failure_alerts(config), check_failure_alerts(config)] if runs else []
    if config.promotion is not None:
        sensors.append(promotion_alerts(config))
    return sensors


def run_failure_alerts(config: ProjectConfig) -> dg.SensorDefinition:
    settings = config.alerts

    @dg.run_failure_sensor(
        name="run_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        description="E-mails alerts.recipients.run_failure when a run fails for good "
        "(a run Dagster will retry is not reported until its last try).",
    )
    def run_failure(context: dg.RunFailureSensorContext, alerts: AlertsResource):
        run = context.dagster_run
        if run.tags.get(WILL_RETRY) == "true":
            return dg.SkipReason(f"run {run.run_id} will be retried")
        steps = [
            (e.step_key, _root_cause(e.event_specific_data.error)) for e in context.get_step_failure_events()
        ]
        alerts.send(
            settings.recipients.run_failure,
            *run_failure_message(config, run, steps, context.failure_event.message),
        )
        return None

    return run_failure


def _root_cause(error) -> str:
    """What the step's own code raised: Dagster wraps it in an error about executing the op."""
    if error is None:
        return ""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_failure_message(
    config: ProjectConfig, run, steps: list[tuple[str, str]], why: str | None
) -> tuple[str, str]:
    partition = " .. ".join(dict.fromkeys(run.tags[t] for t in PARTITION_TAGS if t in run.tags)) or None
    subject = f"[prodline {config.name}] run failed: {run.job_name}" + (
        f" ({partition})" if partition else ""
    )
    lines = [
        f"Job: {run.job_name}",
        f"Partition: {partition or '(none)'}",
        f"Run: {run.run_id}",
        f"Open it: {config.alerts.base_url.rstrip('/')}/runs/{run.run_id}",
        "",
    ]
    if steps:
        lines += ["Failed step(s):"] + [f"- {key}: {error}" for key, error in steps]
    elif why:
        lines += [f"Why: {why}"]
    return subject, "\n".join(lines) + "\n"


def check_failure_alerts(config: ProjectConfig) -> dg.SensorDefinition:
    settings = config.alerts

    @dg.sensor(
        name="check_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        description="E-mails alerts.recipients.check_failure about every failed asset check (WARN "
        "or ERROR), one message per run, once the run has ended.",
    )
    def check_failures(context: dg.SensorEvaluationContext, alerts: AlertsResource):
        instance, now = context.instance, dt.datetime.now(dt.UTC).timestamp()
        if context.cursor is None:  # the first look starts now: history is not news
            context.update_cursor(str(now))
            return dg.SkipReason("watching check evaluations from now on")
        after = float(context.cursor)
        # By the runs that ended since the last look (their evaluations are all written by then):
        # storage ids are not one sequence on the embedded SQLite storage, which keeps a file per run.
        ended = instance.get_run_records(
            dg.RunsFilter(updated_after=dt.datetime.fromtimestamp(after, dt.UTC), statuses=ENDED),
            ascending=True,
        )
        sent = 0
        for record in ended:
            if record.end_time is None or not after < record.end_time <= now:
                continue
            run = record.dagster_run
            failed = [
                e.dagster_event.event_specific_data
                for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
                if not e.dagster_event.event_specific_data.passed
            ]
            if failed:
                alerts.send(settings.recipients.check_failure, *check_failure_message(config, run, failed))
                sent += 1
        context.update_cursor(str(now))
        return None if sent else dg.SkipReason(f"{len(ended)} run(s) ended, no failed check")

    return check_failures


def check_failure_message(config: ProjectConfig, run, evaluations: list) -> tuple[str, str]:
    """One message for a run's failed checks; when the promotion gate refused a challenger, the
    message is that decision: which version, why, and where the champion stays."""
    errors = sum(e.severity == dg.AssetCheckSeverity.ERROR for e in evaluations)
    refused = [e for e in evaluations if _blocks_promotion(e)]
    if refused:
        meta = {k: v.value for k, v in refused[0].metadata.items() if k.endswith(("_version", "_name"))}
        name, version = meta.get("model_name", "the challenger"), meta.get("challenger_version", "?")
        champion = meta.get("champion_version", "(none)")
        subject = f"[prodline {config.name}] the promotion gate refused {name} version {version}"
        lines = [
            f"The promotion gate refused version {version} of {name}: it was not promoted, and the "
            + (f"champion stays version {champion}." if champion != "(none)" else
               "project has no champion yet (no lists are made until a challenger passes)."),
            "",
            "Why:",
            *(f"- {e.check_name}: {e.description}" for e in refused),
        ]
        others = [e for e in evaluations if e not in refused]
        if others:
            lines += ["", "Other failed checks in the run:"]
        evaluations = others
    else:
        subject = (
            f"[prodline {config.name}] {len(evaluations)} check(s) failed"
            + (f", {errors} blocking" if errors else "")
            + (f" in {run.job_name}" if run else "")
        )
        lines = []
    for e in evaluations:
        where = e.asset_key.to_user_string() + (f" [{e.partition}]" if e.partition else "")
        lines.append(
            f"- {e.check_name} on {where}: {e.severity.value}"
            + (f": {e.description}" if e.description else "")
        )
        # A check over a range of days is one result: the days it found at fault, from its evidence.
        if "failed_days" in e.metadata:
            lines.append(f"  failed on {_listed(e.metadata['failed_days'].value)}")
    lines += ["", f"Run: {run.run_id if run else '(deleted)'}"]
    if run is not None:
        lines.append(f"Open it: {config.alerts.base_url.rstrip('/')}/runs/{run.run_id}")
    return subject, "\n".join(lines) + "\n"


def _listed(days: list[str], most: int = 10) -> str:
    shown = ", ".join(days[:most])
    return shown + (f" and {len(days) - most} more day(s)" if len(days) > most else "")


def _blocks_promotion(evaluation) -> bool:
    """A failed gate check that refuses the challenger (the gate's results carry its version)."""
    return (
        evaluation.severity == dg.AssetCheckSeverity.ERROR
        and "challenger_version" in evaluation.metadata
    )


def promotion_alerts(config: ProjectConfig) -> dg.SensorDefinition:
    settings = config.alerts

    @dg.sensor(
        name=config.own("promotion_alerts"),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        description="E-mails alerts.recipients.promotion when the champion moves (a promotion or "
        "a rollback, as production.promotions records it).",
    )
    def promotions(context: dg.SensorEvaluationContext, alerts: AlertsResource, warehouse: WarehouseResource):
        if context.cursor is None:  # the first look starts now: history is not news
            context.update_cursor((newest_move(warehouse, config.tables) or dt.datetime.min).isoformat())
            return dg.SkipReason("watching promotions from now on")
        moves = moves_after(warehouse, dt.datetime.fromisoformat(context.cursor), config.tables)
        for move in moves:
            alerts.send(settings.recipients.promotion, *promotion_message(config, move))
        if moves:
            context.update_cursor(moves[-1]["promoted_at"].isoformat())
        return None if moves else dg.SkipReason("the champion has not moved")

    return promotions


def promotion_message(config: ProjectConfig, move: dict) -> tuple[str, str]:
    kind = {"promotion": "promoted", "rollback": "rolled back"}.get(move["kind"], f"moved ({move['kind']})")
    subject = f"[prodline {config.name}] {move['model_name']} version {move['to_version']} {kind} to champion"
    lines = [
        f"Model: {move['model_name']}",
        f"From version: {move['from_version'] or '(none)'}",
        f"To version: {move['to_version']}",
        f"When: {move['promoted_at']} (UTC)",
        f"By: {move.get('actor') or '(not recorded)'}",
        f"Why: {move.get('reason') or '(no reason given)'}",
    ]
    if move.get("forced"):
        lines.append("Forced: the promotion gate was overridden for this version.")
    if move.get("metric"):
        lines.append(f"{move['metric']}: {move['value']}")
    lines.append("The new champion scores the next lists; `prodline rollback` moves it back.")
    return subject, "\n".join(lines) + "\n"
