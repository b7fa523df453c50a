"""Sensors: react to data arriving."""

import datetime as dt
import json

import dagster as dg

from prodline.assets.keys import LABELS, problem_key, raw_key
from prodline.assets.partitions import as_of_partitions, splits_added
from prodline.assets.upstreams import labels_reads
from prodline.config import ProjectConfig
from prodline.pipeline.matrices.building import current_splits
from prodline.pipeline.raw import arrivals, landing
from prodline.resources.arrivals import arrival_of
from prodline.resources.stores import LandingZoneResource, WarehouseResource


def interval(own: int, at_most: int | None) -> int:
    """A sensor's minimum interval: its own, or `at_most` when shorter ($PRODLINE_SENSOR_SECONDS,
    which the definitions read: a demo or a test that wants the daemon to react in seconds)."""
    return own if at_most is None else min(own, at_most)


def landing_sensor(config: ProjectConfig, job: dg.JobDefinition,
                   every: int | None = None) -> dg.SensorDefinition:
    """One run per day that has new or changed files, each requested exactly once."""
    sources = [n for n, s in config.sources.items() if arrival_of(s).resource_key == "landing_zone"]

    @dg.sensor(name="new_landing_files", job=job, minimum_interval_seconds=interval(30, every),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Loads each new or changed file in the landing zone into its raw "
                           "table; quarantines files that belong to no partition.")
    def new_landing_files(context: dg.SensorEvaluationContext, landing_zone: LandingZoneResource):
        root = landing_zone.root
        files, misnamed = landing.scan(root, sources)
        last_day = config.end_date or dt.datetime.now(dt.UTC).date()

        def materialized(source: str) -> set[str]:
            return set(context.instance.get_materialized_partitions(raw_key(source)))

        cursor = json.loads(context.cursor) if context.cursor else None
        plan = arrivals.plan(files, root, cursor, config.start_date, last_day, materialized)
        refused = [(p, why) for p, why in misnamed]
        refused += [(f.path, f"{f.path.name} is for {f.datestamp}, outside the partitions "
                             f"({config.start_date} to {last_day})") for f in plan.outside]
        for path, why in refused:
            moved = landing.quarantine(path, root, landing_zone.quarantine_path, why)
            context.log.error(f"{path}: {why}; moved to {moved}")
        context.update_cursor(json.dumps(plan.cursor))
        if not plan.requests:
            return dg.SkipReason(f"no new files ({len(files)} seen, {len(refused)} refused)")
        return [
            dg.RunRequest(run_key=arrivals.run_key(day, shas), partition_key=day.isoformat(),
                          asset_selection=[raw_key(s) for s in sorted(shas)],
                          tags={"prodline/trigger": "landing"})
            for day, shas in sorted(plan.requests.items())
        ]

    return new_landing_files


def split_sensor(job: dg.JobDefinition, config: ProjectConfig,
                 every: int | None = None) -> dg.SensorDefinition:
    """Production splits that follow the data: each new split, once its labels have matured, is
    added as a partition and trained."""

    @dg.sensor(name=config.own("new_splits"), job=job, minimum_interval_seconds=interval(300, every),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Adds a split partition when its labels have matured and trains it.")
    def new_splits(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        keys = [s.key for s in current_splits(config, warehouse)]
        have = set(context.instance.get_dynamic_partitions(splits_added(config).name))
        new = [k for k in keys if k not in have]
        if not new:
            return dg.SkipReason(f"no new split ({len(have)} known, labels decide the next)")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"split-{k}", partition_key=k) for k in new],
            dynamic_partitions_requests=[splits_added(config).build_add_request(new)])

    return new_splits


def matured_labels_sensor(job: dg.JobDefinition, config: ProjectConfig,
                          every: int | None = None) -> dg.SensorDefinition:
    """Labels mature a label timespan after their as-of date, long after the partition appeared,
    so no condition on the newest partition sees them: this sensor asks for each date's labels once
    every day of their window is loaded and passed its blocking checks (assets/upstreams.py), one run
    for all of them."""

    upstream = labels_reads(config, config.tables_read(config.label.sql()), config.label.interval)

    @dg.sensor(name=config.own("matured_labels"), job=job, minimum_interval_seconds=interval(300, every),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Builds the labels of as-of dates whose label window the data now covers.")
    def matured_labels(context: dg.SensorEvaluationContext):
        done = set(context.instance.get_materialized_partitions(problem_key(config, LABELS)))
        waiting = [k for k in as_of_partitions(config).get_partition_keys() if k not in done]
        ripe = upstream.complete(context.instance, waiting)
        if not ripe:
            return dg.SkipReason(f"{len(waiting)} label partition(s) still maturing")
        first, last = ripe[0], ripe[-1]
        return dg.RunRequest(run_key=f"labels-{first}-{last}", asset_selection=[problem_key(config, LABELS)],
                             tags={"dagster/asset_partition_range_start": first,
                                   "dagster/asset_partition_range_end": last,
                                   "prodline/trigger": "labels matured"})

    return matured_labels
