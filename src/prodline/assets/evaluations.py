"""The `evaluations` asset: every model's metrics on its split's test matrices, in
`results.evaluations` and on its MLflow run."""

import dagster as dg

from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import EVALUATIONS, MODELS, problem_key
from prodline.assets.metadata import markdown_table
from prodline.assets.versions import when_deps_update
from prodline.config import ProjectConfig
from prodline.pipeline.evaluations.evaluating import best_first, evaluate_split
from prodline.pipeline.tables import EVALUATIONS_COLUMNS, trained_models, write_by_split
from prodline.resources.stores import POOL


def evaluations_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    @single_run_asset(
        key=problem_key(config, EVALUATIONS),
        group_name=config.own("modeling"),
        partitions_def=partitions,
        deps=[problem_key(config, MODELS)],
        automation_condition=when_deps_update(),
        kinds={"mlflow"},
        required_resource_keys={"warehouse", "model_store", "matrix_store"},
        pool=POOL,
        description="Each model scored on its split's test matrices with Triage's metrics (the scoring "
        "section's metric groups, on the whole cohort and each subset), ties as worst, best and mean. "
        "Evaluated again by automation when the split's models are trained again.",
    )
    def evaluations(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, matrices = context.resources.warehouse, context.resources.matrix_store.of(config)
        rows, board = [], []
        for key in context.partition_keys:
            trained = trained_models(warehouse, key, config.tables)
            found, ranked = evaluate_split(trained, matrices.split_index(key), matrices,
                                           context.resources.model_store, config.scoring, warehouse)
            rows, board = rows + found, board + ranked
        write_by_split(warehouse, "evaluations", EVALUATIONS_COLUMNS, rows, context.partition_keys,
                       config.tables)
        return dg.MaterializeResult(metadata={"evaluations": len(board),
                                              "leaderboard": markdown_table(best_first(board))})

    return evaluations
