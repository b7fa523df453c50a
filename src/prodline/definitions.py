"""The Dagster code location, built from the project config ($PRODLINE_CONFIG or the demo)."""

import dagster as dg

from prodline.assets import project_assets
from prodline.config import ProjectConfig, load_config
from prodline.execution import executor_of
from prodline.instance import batch_dagster_events
from prodline.jobs import ingest_jobs
from prodline.resources import build_resources
from prodline.schedules import daily_source_ingest, retrain_schedule
from prodline.sensors import landing_sensor, matured_labels_sensor, retrain_when_below_sensor, split_sensor
from prodline.sensors.alerts import alert_sensors
from prodline.sensors.dead_runs import dead_runs_sensor
from prodline.sensors.observed_tables import observed_tables_sensor
from prodline.stores.model_logging import refuse_while_starting_up


def build_definitions(config: ProjectConfig) -> dg.Definitions:
    refuse_while_starting_up()
    jobs = ingest_jobs(config)
    sensors = [landing_sensor(config, jobs["ingest_landing_files"])] \
        if "ingest_landing_files" in jobs else []
    if "observe_warehouse_tables" in jobs:
        sensors.append(observed_tables_sensor(config, jobs["observe_warehouse_tables"]))
    if "train_models" in jobs and config.temporal.open_ended:
        sensors.append(split_sensor(jobs["train_models"], config))
    if "build_as_of" in jobs and config.label is not None:
        sensors.append(matured_labels_sensor(jobs["build_as_of"], config))
    if config.monitoring is not None and config.monitoring.retrain_when_below:
        sensors.append(retrain_when_below_sensor(jobs["train_models"], config))
    schedules = [daily_source_ingest(jobs["ingest_source_database"])] \
        if "ingest_source_database" in jobs else []
    if "train_models" in jobs and config.temporal.open_ended:
        schedules.append(retrain_schedule(jobs["train_models"], config))
    assets = project_assets(config)
    if config.transforms or config.cohort is not None:
        sensors.append(automation_sensor())
    sensors += alert_sensors(config)
    sensors.append(dead_runs_sensor())
    return dg.Definitions(assets=assets, jobs=list(jobs.values()), sensors=sensors,
                          schedules=schedules, resources=build_resources(config), executor=executor_of())


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Declarative automation, running by default: new raw days flow on to transforms, cohort
    and features, then predictions; new evaluations to the challenger, its gate and the champion;
    matured labels to monitoring."""
    return dg.AutomationConditionSensorDefinition(
        "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60)


def job_named(name: str) -> dg.JobDefinition:
    """A job of the project in $PRODLINE_CONFIG, for `dg.build_reconstructable_job`: a process
    that executes its steps (a Celery worker) builds it again from these names."""
    return build_definitions(load_config()).resolve_job_def(name)


@dg.definitions
def defs() -> dg.Definitions:
    batch_dagster_events()
    return build_definitions(load_config())
