"""The answer to decay (`monitoring.on_decay`): when a stored list's realized performance falls more
than the margin below what its model promised at promotion, train the newest split the matured
labels allow (`retrain`), or move the champion back to the previous one that passed the gate
(`rollback`). Either way the new champion still goes through the gate, or the move is recorded
like any other. Each shortfall is answered once (the cursor is the newest date answered)."""

import dagster as dg

from prodline.assets.keys import MODELS, problem_key
from prodline.assets.partitions import splits_added
from prodline.config import ProjectConfig
from prodline.pipeline.matrices.building import current_splits
from prodline.pipeline.monitoring.realized_lists import shortfalls_since
from prodline.resources.stores import WarehouseResource
from prodline.sensors import interval


def decay_sensor(config: ProjectConfig, train: dg.JobDefinition, roll_back: dg.JobDefinition,
                 every: int | None = None) -> dg.SensorDefinition:
    cfg, metric = config.monitoring, config.selection.name
    answer = cfg.on_decay

    @dg.sensor(name=config.own("decay_response"), jobs=[train, roll_back],
               minimum_interval_seconds=interval(300, every),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"When realized {metric} falls more than {cfg.realized_margin:g} below the "
                           f"value recorded at promotion: {answer} (monitoring.on_decay).")
    def decay_response(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        below = shortfalls_since(warehouse, cfg.realized_margin, context.cursor or "0001-01-01",
                                 config.tables)
        if not below:
            return dg.SkipReason("realized performance holds")
        worst = below[-1]
        context.update_cursor(str(worst["as_of_date"]))
        why = (f"realized {metric} of the list of {worst['as_of_date']} was {worst['value']:.3f}, more "
               f"than {cfg.realized_margin:g} below the {worst['promised']:.3f} recorded at promotion")
        tags = {"prodline/trigger": f"decay: {why}"[:200]}
        if answer == "rollback":
            return dg.RunRequest(run_key=f"rollback-{worst['as_of_date']}", job_name=roll_back.name,
                                 run_config={"ops": {"roll_back_champion": {"config": {"reason": why}}}},
                                 tags=tags)
        splits = current_splits(config, warehouse)
        trained = context.instance.get_materialized_partitions(problem_key(config, MODELS))
        if not splits or splits[-1].key in trained:
            newest = splits[-1].key if splits else "none"
            return dg.SkipReason(
                f"{why}; no split newer than {newest} to retrain on: the newest matured labels are "
                "already in it (training it again would give the same model)"
                + ("" if config.temporal.open_ended else
                   "; the config's splits end at temporal.label_end_time, extend it or use mode: production"))
        newest = splits[-1].key
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"retrain-{newest}-{worst['as_of_date']}",
                                        job_name=train.name, partition_key=newest, tags=tags)],
            dynamic_partitions_requests=[splits_added(config).build_add_request([newest])]
            if config.temporal.open_ended else [])

    return decay_response
