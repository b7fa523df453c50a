"""The challenger: the model group the selection rule picks, its newest model registered as a new
version with the `challenger` alias, and judged by the promotion gate in the same step (so the
champion, downstream, always finds the verdicts on the version it is asked to promote)."""

import json

import dagster as dg

from prodline.assets.decorators import OUTSIDE_SYSTEMS, retry_transient_only
from prodline.assets.gate import gate_specs, judged
from prodline.assets.keys import CHALLENGER, EVALUATIONS, problem_key
from prodline.assets.metadata import markdown_table
from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import model_name
from prodline.pipeline.models.grid import short_name
from prodline.pipeline.selection.choosing import choose, regret_rows


def challenger_asset(config: ProjectConfig) -> dg.AssetsDefinition:
    spec = dg.AssetSpec(
        problem_key(config, CHALLENGER),
        deps=[dg.AssetDep(problem_key(config, EVALUATIONS), partition_mapping=dg.AllPartitionMapping())],
        group_name=config.own("production"),
        kinds={"mlflow"},
        automation_condition=dg.AutomationCondition.eager(),
        description="The model group the selection rule picks; its newest model, registered as a new "
        "version with the `challenger` alias, then judged by the promotion gate (its checks).",
    )

    # can_subset: the gate's checks can run alone, judging the challenger the registry has now.
    @dg.multi_asset(
        specs=[spec],
        check_specs=gate_specs(config, problem_key(config, CHALLENGER)),
        can_subset=True,
        name=config.own("challenger_model"),
        required_resource_keys={"warehouse", "model_store", "matrix_store"},
        retry_policy=OUTSIDE_SYSTEMS,
    )
    @retry_transient_only
    def challenger_model(context: dg.AssetExecutionContext):
        if problem_key(config, CHALLENGER) in context.selected_asset_keys:
            yield _register(config, context.resources)
        wanted = {key.name for key in context.selected_asset_check_keys}
        if wanted:
            yield from judged(config, context.resources, wanted)

    return challenger_model


def _register(config: ProjectConfig, resources) -> dg.MaterializeResult:
    """The selection rule's choice, registered (a re-run reuses its version) as the challenger."""
    store = resources.model_store
    chosen, regret, history = choose(config, resources.warehouse)
    newest = history[history["model_id"] == chosen.model_id].iloc[0]
    name, split = model_name(config), str(newest["split"])
    tags = {"model_group_id": chosen.model_group_id, "split": split, "rule": chosen.rule,
            "metric": config.selection.name}
    version = store.register(name, chosen.model_id, tags)
    store.set_alias(name, "challenger", version)
    mine = history[history["model_group_id"] == chosen.model_group_id]
    return dg.MaterializeResult(asset_key=problem_key(config, CHALLENGER), metadata={
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
