"""The champion: the model in use. Its alias moves to the challenger only when every blocking check
of the promotion gate passed; each move is recorded in `production.promotions`."""

import dagster as dg

from prodline.assets.decorators import retried_asset
from prodline.assets.keys import CHALLENGER, CHAMPION
from prodline.config import ProjectConfig
from prodline.pipeline.champion.promoting import promote


def champion_asset(config: ProjectConfig) -> dg.AssetsDefinition:
    @retried_asset(
        key=CHAMPION,
        deps=[CHALLENGER],
        group_name="production",
        kinds={"mlflow"},
        required_resource_keys={"warehouse", "model_store"},
        automation_condition=dg.AutomationCondition.eager()
        & dg.AutomationCondition.all_deps_blocking_checks_passed(),
        description="The model in use: the `champion` alias moves to the challenger only when every "
        "blocking check of the promotion gate passed; each move is recorded in production.promotions.",
    )
    def champion_model(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        promoted = promote(config, context.resources.warehouse, context.resources.model_store)
        return dg.MaterializeResult(metadata=promoted)

    return champion_model
