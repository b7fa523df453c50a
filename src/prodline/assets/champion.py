"""The champion: the model in use. Its alias moves to the challenger only when every check of the
promotion gate that blocks passed; each move is recorded in `production.promotions`, with the
Dagster run as who moved it and the gate's verdicts as why.

When the gate refused the challenger, that is the run's decision, not its failure: the champion
materializes nothing (its output is optional), says why in the log, and the run succeeds. The
refusal itself is the failed check on challenger_model, with its evidence."""

import dagster as dg

from prodline.assets.decorators import retried_asset
from prodline.assets.keys import CHALLENGER, CHAMPION, problem_key
from prodline.config import ProjectConfig
from prodline.pipeline.champion.promoting import NotPromoted, promote
from prodline.pipeline.champion.records import model_name


def champion_asset(config: ProjectConfig) -> dg.AssetsDefinition:
    @retried_asset(
        key=problem_key(config, CHAMPION),
        deps=[problem_key(config, CHALLENGER)],
        group_name=config.own("production"),
        kinds={"mlflow"},
        required_resource_keys={"warehouse", "model_store"},
        output_required=False,
        automation_condition=dg.AutomationCondition.eager(),
        description="The model in use: the `champion` alias moves to the challenger only when every "
        "check of the promotion gate that blocks passed (a refusal materializes nothing); each move is "
        "recorded in production.promotions.",
    )
    def champion_model(context: dg.AssetExecutionContext):
        store = context.resources.model_store
        try:
            promoted = promote(config, context.resources.warehouse, store,
                               actor=f"dagster run {context.run.run_id}")
        except NotPromoted as decision:
            champion = store.alias(model_name(config), "champion")
            stays = f"version {champion.version}" if champion else "unset: there is no champion yet"
            context.log.info(f"not promoted: {decision}. The champion stays {stays}.")
            return
        yield dg.MaterializeResult(metadata=promoted)

    return champion_model
