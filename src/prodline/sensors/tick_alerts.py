"""An e-mail when a sensor or a schedule stops ticking. A tick whose evaluation raises starts no
run, so neither the run nor the check alerts see it, and Dagster only shows it in the UI.

The sensor reads the instance's ticks of every sensor and schedule of its own code location
(itself left out: its own failure cannot be e-mailed anyway). One message when an instigator starts
failing or fails with another error, none for each repeat of the same error (a sensor ticks every
30 s), and one when it ticks again. The cursor keeps, per instigator, the last tick looked at and
the error it is failing with."""

import datetime as dt
import json

import dagster as dg
from dagster._core.remote_origin import RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import InstigatorTick, TickStatus
from dagster._utils.error import SerializableErrorInfo

from prodline.config import ProjectConfig
from prodline.resources.alerts import AlertsResource

NAME = "tick_failure_alerts"
TICKS_PER_LOOK = 100  # the newest ticks of an instigator read at each look; more is one streak anyway
ERROR_LINES = 6  # of the error's own message: the traceback is in the UI


def tick_failure_alerts(config: ProjectConfig) -> dg.SensorDefinition:
    settings = config.alerts

    @dg.sensor(
        name=NAME,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        description="E-mails alerts.recipients.tick_failure (by default the run_failure addresses) "
        "when a sensor or schedule of this code location fails to tick, and when it ticks again.",
    )
    def tick_failures(context: dg.SensorEvaluationContext, alerts: AlertsResource):
        if context.code_location_origin is None or context.repository_def is None:
            raise dg.DagsterInvariantViolationError(
                f"{NAME} reads the ticks of its code location: evaluate it through Dagster's daemon "
                "(a workspace), not with build_sensor_context"
            )
        repository = RemoteRepositoryOrigin(context.code_location_origin, context.repository_def.name)
        state = json.loads(context.cursor) if context.cursor else {}
        messages = []
        for kind, definitions in (("sensor", context.repository_def.sensor_defs),
                                  ("schedule", context.repository_def.schedule_defs)):
            for name in sorted(d.name for d in definitions if d.name != NAME):
                origin = RemoteInstigatorOrigin(repository, name)
                ticks = context.instance.get_ticks(origin.get_id(), origin.get_selector().get_id(),
                                                   limit=TICKS_PER_LOOK)
                last, failing = state.get(name, (None, None))
                for tick in _new_ticks(ticks, last):
                    if tick.status == TickStatus.FAILURE and error_summary(tick.error) != failing:
                        failing = error_summary(tick.error)
                        messages.append(failure_message(config, origin, kind, tick, failing))
                    elif tick.status != TickStatus.FAILURE and failing is not None:
                        failing = None
                        messages.append(recovery_message(config, origin, kind, tick))
                    state[name] = (tick.tick_id, failing)
        for subject, body in messages:
            alerts.send(settings.recipients.tick_failure, subject, body)
        context.update_cursor(json.dumps(state, sort_keys=True))
        return None if messages else dg.SkipReason("no sensor or schedule started or stopped failing")

    return tick_failures


def _new_ticks(ticks: list[InstigatorTick], last: int | None) -> list[InstigatorTick]:
    """The finished ticks after `last`, oldest first; at the first look only the newest one, so
    that an instigator failing now is news and its history is not. Ticks of one instigator run one
    after the other, so a tick still running is the newest and is read at the next look."""
    done = [t for t in reversed(ticks) if t.status != TickStatus.STARTED]
    return done[-1:] if last is None else [t for t in done if t.tick_id > last]


def error_summary(error: SerializableErrorInfo | None) -> str:
    """The first lines of what the instigator's own code raised: Dagster wraps it in errors about
    evaluating the sensor or schedule, each with its traceback."""
    if error is None:
        return "(no error recorded)"
    while error.cause is not None:
        error = error.cause
    lines = error.message.strip().splitlines()
    return "\n".join(lines[:ERROR_LINES] + (["..."] if len(lines) > ERROR_LINES else []))


def failure_message(config: ProjectConfig, origin: RemoteInstigatorOrigin, kind: str,
                    tick: InstigatorTick, error: str) -> tuple[str, str]:
    name = origin.instigator_name
    subject = f"[prodline {config.name}] {kind} {name} failed to tick"
    lines = [
        f"{kind.capitalize()}: {name}",
        f"When: {_utc(tick.timestamp)}",
        f"Open it: {_link(config, origin, kind)}",
        "",
        "Error:",
        *(f"  {line}" for line in error.splitlines()),
        "",
        "Until it ticks again (a message says so), further failures with this error are not e-mailed.",
    ]
    return subject, "\n".join(lines) + "\n"


def recovery_message(config: ProjectConfig, origin: RemoteInstigatorOrigin, kind: str,
                     tick: InstigatorTick) -> tuple[str, str]:
    name = origin.instigator_name
    subject = f"[prodline {config.name}] {kind} {name} ticks again"
    lines = [
        f"{kind.capitalize()}: {name}",
        f"When: {_utc(tick.timestamp)} ({tick.status.value.lower()})",
        f"Open it: {_link(config, origin, kind)}",
    ]
    return subject, "\n".join(lines) + "\n"


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _link(config: ProjectConfig, origin: RemoteInstigatorOrigin, kind: str) -> str:
    """The instigator's page in the Dagster UI; a code location of one `Definitions` is named
    without its repository (`__repository__`)."""
    repository = origin.repository_origin.repository_name
    location = origin.location_name
    where = location if repository == "__repository__" else f"{repository}@{location}"
    return f"{config.alerts.base_url.rstrip('/')}/locations/{where}/{kind}s/{origin.instigator_name}"
