"""The challenger: the model group the selection rule picks, its newest model registered as a new
version with the `challenger` alias."""

import json

import dagster as dg

from prodline.assets.decorators import retried_asset
from prodline.assets.keys import CHALLENGER, EVALUATIONS
from prodline.assets.metadata import markdown_table
from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import model_name
from prodline.pipeline.models.grid import short_name
from prodline.pipeline.selection.choosing import choose, regret_rows


def challenger_asset(config: ProjectConfig) -> dg.AssetsDefinition:
    @retried_asset(
        key=CHALLENGER,
        deps=[dg.AssetDep(EVALUATIONS, partition_mapping=dg.AllPartitionMapping())],
        group_name="production",
        kinds={"mlflow"},
        required_resource_keys={"warehouse", "model_store"},
        automation_condition=dg.AutomationCondition.eager(),
        description="The model group the selection rule picks; its newest model, registered as a new "
        "version with the `challenger` alias.",
    )
    def challenger_model(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        store = context.resources.model_store
        chosen, regret, history = choose(config, context.resources.warehouse)
        newest = history[history["model_id"] == chosen.model_id].iloc[0]
        name, split = model_name(config), str(newest["split"])
        tags = {"model_group_id": chosen.model_group_id, "split": split, "rule": chosen.rule,
                "metric": config.selection.name}
        version = store.register(name, chosen.model_id, tags)
        store.set_alias(name, "challenger", version)
        mine = history[history["model_group_id"] == chosen.model_group_id]
        return dg.MaterializeResult(metadata={
            "model_name": name,
            "version": version,
            "model_group_id": chosen.model_group_id,
            "model": short_name(str(newest["class_path"])),
            "split": split,
            "rule": f"{chosen.rule} {json.dumps(dict(chosen.params)) if chosen.params else ''}".strip(),
            "kept_groups": len(chosen.kept),
            "dropped_groups": len(chosen.dropped),
            config.selection.name: markdown_table(
                [{"split": r.split, "value": round(r.value, 4)} for r in mine.itertuples()]),
            "regret_of_each_rule": markdown_table(regret_rows(regret)),
        })

    return challenger_model
