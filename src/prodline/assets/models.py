"""The `models` asset: the grid trained on each split, every model an MLflow run listed in
`results.models`."""

import time

import dagster as dg

from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import MATRICES, MODELS, problem_key
from prodline.assets.metadata import markdown_table
from prodline.assets.versions import record_versions, when_reads_change
from prodline.config import ProjectConfig
from prodline.pipeline.data_versions import combined
from prodline.pipeline.matrices.building import current_splits
from prodline.pipeline.matrices.feature_groups import feature_dictionary
from prodline.pipeline.models.grid import grid_for, short_name
from prodline.pipeline.models.grouping import matrix_metadata
from prodline.pipeline.models.training import train_split
from prodline.pipeline.tables import MODELS_COLUMNS, write_by_split
from prodline.resources.stores import POOL
from prodline.stores.model_logging import ModelLogger


def models_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    grid = config.grid

    @single_run_asset(
        key=problem_key(config, MODELS),
        group_name=config.own("modeling"),
        partitions_def=partitions,
        deps=[problem_key(config, MATRICES)],
        automation_condition=when_reads_change(),
        kinds={"scikitlearn", "mlflow"},
        required_resource_keys={"warehouse", "model_store", "matrix_store"},
        pool=POOL,
        description="Every model of the grid trained on each split's training matrix; one MLflow run each. "
        "Trained again by automation when the split's matrices change.",
    )
    def models(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, matrices = context.resources.warehouse, context.resources.matrix_store.of(config)
        tables = feature_dictionary(warehouse, [f.prefix for f in config.features])
        splits = {s.key: s for s in current_splits(config, warehouse)}
        began, reads = time.perf_counter(), {}
        # Each model is logged by a low-priority process while the next one trains (model_logging).
        with ModelLogger(context.resources.model_store, matrices, grid) as logger:
            for key in context.partition_keys:
                split = matrices.split(key)
                reads[key] = {problem_key(config, MATRICES).to_user_string(): {key: combined(split.index)}}
                metadata = matrix_metadata(splits[key], split.index["train"], config.label.name,
                                           getattr(config.cohort, "name", None),
                                           getattr(config.temporal, "feature_start_time", None),
                                           grid.user_metadata)
                specs = grid_for(grid, tables, split.features, metadata)
                legends = {uuid: matrices.legend(uuid) for uuid, _, _ in split.tests}
                train_split(specs, key, split, legends, logger.submit, context.log.info)
            rows = logger.rows()  # the first failure, if any, fails the step
        write_by_split(warehouse, "models", MODELS_COLUMNS, rows, context.partition_keys, config.tables)
        # what each split's models were trained on: a new matrix of the split trains them again
        trained = {k: combined(sorted(r["model_id"] for r in rows if r["split"] == k))
                   for k in context.partition_keys}
        version = record_versions(context, trained, reads=reads)
        return dg.MaterializeResult(data_version=version, metadata={
            "models": len(rows),
            "seconds": round(time.perf_counter() - began, 2),
            "runs": markdown_table([{"split": r["split"], "model": short_name(r["class_path"]),
                                     "params": r["params"], "features": r["feature_count"],
                                     "run": f"[{r['model_id'][:8]}]({r['run_url']})"} for r in rows[:200]]),
        })

    return models
