"""The Dagster code location, built from the project config ($PRODLINE_CONFIG or the demo)."""

import os
import warnings
from collections.abc import Mapping

import dagster as dg

from prodline.assets import project_assets
from prodline.config import ProjectConfig, load_deployment
from prodline.event_log import batch_dagster_events
from prodline.execution import executor_of
from prodline.jobs import problem_jobs, shared_jobs
from prodline.jobs.rollback import rollback_job
from prodline.resources import build_resources
from prodline.schedules import daily_source_ingest, retrain_schedule
from prodline.sensors import (
    interval,
    landing_sensor,
    matured_labels_sensor,
    split_sensor,
)
from prodline.sensors.alerts import RUN_ALERTS, alert_sensors
from prodline.sensors.dead_runs import dead_runs_sensor
from prodline.sensors.decay import decay_sensor
from prodline.sensors.lost_runs import lost_runs_sensor
from prodline.sensors.observed_tables import observed_tables_sensor
from prodline.sensors.tick_alerts import tick_failure_alerts
from prodline.stores.model_logging import refuse_while_starting_up

# At most this many seconds between two looks of any sensor prodline defines (the alert sensors keep
# alerts.minimum_interval_seconds): for a demo or a test that wants the daemon to react in seconds.
SENSOR_SECONDS_ENV = "PRODLINE_SENSOR_SECONDS"


def build_definitions(config: ProjectConfig) -> dg.Definitions:
    """The code location of a project (or of one problem of a deployment, with what it shares)."""
    return build_deployment([config])


def build_deployment(problems: list[ProjectConfig], sensor_seconds: int | None = None) -> dg.Definitions:
    """One code location for every problem of a deployment (config/deployment.py): the raw tables,
    transforms and whatever as-of assets the problems define alike once; each problem's own assets,
    jobs, sensors and schedules under its name. `sensor_seconds` shortens every sensor's interval
    to at most that."""
    refuse_while_starting_up()
    first = problems[0]
    jobs, sensors, schedules = _shared_parts(first, sensor_seconds)
    assets, seen = [], set()
    for config in problems:
        own_jobs, own_sensors, own_schedules = _problem_parts(config, sensor_seconds)
        jobs, sensors, schedules = jobs + own_jobs, sensors + own_sensors, schedules + own_schedules
        for asset in project_assets(config):  # a shared asset is defined alike by every problem
            if not set(asset.keys) <= seen:
                assets.append(asset)
                seen |= set(asset.keys)
    if first.transforms or first.cohort is not None:
        sensors.append(automation_sensor(sensor_seconds))
    sensors += [dead_runs_sensor(sensor_seconds), lost_runs_sensor(sensor_seconds)]
    return dg.Definitions(assets=assets, jobs=jobs, sensors=sensors, schedules=schedules,
                          resources=build_resources(first), executor=executor_of())


def _shared_parts(config: ProjectConfig, every: int | None) -> tuple[list, list, list]:
    """Loading the raw tables: the jobs, the sensors that notice new data, the daily schedule, and
    the alerts on every run and on every sensor's and schedule's ticks."""
    jobs = shared_jobs(config)
    sensors = [landing_sensor(config, jobs["ingest_landing_files"], every)] \
        if "ingest_landing_files" in jobs else []
    if "observe_warehouse_tables" in jobs:
        sensors.append(observed_tables_sensor(config, jobs["observe_warehouse_tables"], every))
    schedules = [daily_source_ingest(jobs["ingest_source_database"])] \
        if "ingest_source_database" in jobs else []
    sensors += [s for s in alert_sensors(config) if s.name in RUN_ALERTS]
    if config.alerts is not None:
        sensors.append(tick_failure_alerts(config))
    return list(jobs.values()), sensors, schedules


def _problem_parts(config: ProjectConfig, every: int | None) -> tuple[list, list, list]:
    jobs = problem_jobs(config)
    sensors, schedules = [], []
    if "train_models" in jobs and config.temporal.open_ended:
        sensors.append(split_sensor(jobs["train_models"], config, every))
        schedules.append(retrain_schedule(jobs["train_models"], config))
    if "build_as_of" in jobs and config.label is not None:
        sensors.append(matured_labels_sensor(jobs["build_as_of"], config, every))
    if config.monitoring is not None and config.monitoring.on_decay != "alert":
        roll_back = rollback_job(config)
        jobs["roll_back_champion"] = roll_back
        sensors.append(decay_sensor(config, jobs["train_models"], roll_back, every))
    sensors += alert_sensors(config, runs=False)
    return list(jobs.values()), sensors, schedules


def automation_sensor(every: int | None = None) -> dg.AutomationConditionSensorDefinition:
    """Declarative automation, running by default: new raw days flow on to transforms, cohort
    and features, then predictions; new evaluations to the challenger, its gate and the champion;
    matured labels to monitoring. Evaluated in the code server: the completeness condition
    (assets/completeness.py) is prodline's own."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # use_user_code_server is beta in 1.13
        return dg.AutomationConditionSensorDefinition(
            "automation", target=dg.AssetSelection.all(),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=interval(60, every),
            use_user_code_server=True)


def job_named(name: str) -> dg.JobDefinition:
    """A job of the project in $PRODLINE_CONFIG, for `dg.build_reconstructable_job`: a process
    that executes its steps (a Celery worker) builds it again from these names."""
    return build_deployment(load_deployment()).resolve_job_def(name)


def sensor_seconds(environ: Mapping[str, str] = os.environ) -> int | None:
    """$PRODLINE_SENSOR_SECONDS, a whole number of seconds (5 or more: the daemon looks at its
    sensors every 5 s), or None when unset."""
    text = environ.get(SENSOR_SECONDS_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 5:
        raise ValueError(f"${SENSOR_SECONDS_ENV} is {text!r}: write a whole number of seconds, 5 or more "
                         "(the daemon looks at its sensors every 5 s)")
    return int(text)


@dg.definitions
def defs() -> dg.Definitions:
    batch_dagster_events()
    return build_deployment(load_deployment(), sensor_seconds())
