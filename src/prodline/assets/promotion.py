"""Challenger and champion: the selection rule proposes, the gate judges, the champion moves only
when every blocking check passed.

The registry (MLflow) holds the two aliases; `production.promotions` holds the history people audit:
when, from which version to which, and the gate's evidence.
"""

import json

import dagster as dg

from prodline.assets.backfill import retried_asset
from prodline.assets.gate import gate_check, gate_checks
from prodline.assets.modeling import EVALUATIONS, _short, _table
from prodline.assets.registry import (
    evaluation_history,
    gate_results,
    model_name,
    promotions,
    record_promotion,
)
from prodline.config import ProjectConfig
from prodline.pipeline.selection import rules

CHALLENGER, CHAMPION = dg.AssetKey(["challenger_model"]), dg.AssetKey(["champion_model"])


def promotion_assets(config: ProjectConfig) -> list:
    if config.selection is None or config.promotion is None:
        return []
    return [challenger_asset(config), gate_check(config, CHALLENGER), champion_asset(config)]


def choose(config: ProjectConfig, warehouse):
    """(selection, regret of every rule, history) over the evaluated splits, baselines left out:
    they are the floor a model must clear, not candidates."""
    cfg = config.selection
    history = evaluation_history(config, warehouse)
    candidates = history[~history["baseline"].astype(bool)]
    if candidates.empty:
        raise dg.Failure(
            "no evaluated models to choose from: materialize evaluations first", allow_retries=False
        )
    frame = candidates[list(rules.COLUMNS)]
    try:
        chosen = rules.select(frame, cfg.rule, cfg.params, cfg.max_from_best, cfg.threshold, True)
    except ValueError as err:
        raise dg.Failure(f"selection on {cfg.name}: {err}", allow_retries=False) from err
    regret = rules.rule_regrets(frame, True, {cfg.rule: cfg.params}, chosen.kept)
    return chosen, regret, candidates


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
        warehouse, store = context.resources.warehouse, context.resources.model_store
        chosen, regret, history = choose(config, warehouse)
        newest = history[history["model_id"] == chosen.model_id].iloc[0]
        name = model_name(config)
        version = store.register(
            name,
            chosen.model_id,
            {
                "model_group_id": chosen.model_group_id,
                "split": str(newest["split"]),
                "rule": chosen.rule,
                "metric": config.selection.name,
            },
        )
        store.set_alias(name, "challenger", version)
        mine = history[history["model_group_id"] == chosen.model_group_id]
        return dg.MaterializeResult(
            metadata={
                "model_name": name,
                "version": version,
                "model_group_id": chosen.model_group_id,
                "model": _short(str(newest["class_path"])),
                "split": str(newest["split"]),
                "rule": f"{chosen.rule} {json.dumps(dict(chosen.params)) if chosen.params else ''}".strip(),
                "kept_groups": len(chosen.kept),
                "dropped_groups": len(chosen.dropped),
                config.selection.name: dg.MetadataValue.md(
                    _table([{"split": r.split, "value": round(r.value, 4)} for r in mine.itertuples()])
                ),
                "regret_of_each_rule": dg.MetadataValue.md(_table(regret_rows(regret))),
            }
        )

    return challenger_model


def regret_rows(regret) -> list[dict]:
    return [
        {
            "rule": r.rule,
            "mean regret": _round(r.mean_regret),
            "max regret": _round(r.max_regret),
            "splits": r.splits,
        }
        for r in regret.itertuples()
    ]


def _round(value) -> float | None:
    return None if value != value else round(float(value), 4)  # NaN: no split to judge yet


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
        warehouse, store = context.resources.warehouse, context.resources.model_store
        promoted = promote(config, warehouse, store)
        return dg.MaterializeResult(metadata=promoted)

    return champion_model


def promote(config: ProjectConfig, warehouse, store) -> dict:
    """Move `champion` to the challenger if the gate passed for that version; refuse otherwise."""
    name = model_name(config)
    challenger, champion = store.alias(name, "challenger"), store.alias(name, "champion")
    if challenger is None:
        raise dg.Failure(f"{name!r} has no challenger yet", allow_retries=False)
    if champion is not None and champion.version == challenger.version:
        return {"model_name": name, "version": str(champion.version), "changed": False}
    withdrawn = [
        h
        for h in promotions(warehouse, name)
        if h["kind"] == "rollback" and h["from_version"] == str(challenger.version)
    ]
    if withdrawn:
        raise dg.Failure(
            f"version {challenger.version} was rolled back on {withdrawn[-1]['promoted_at']:%Y-%m-%d}; "
            f"it is not promoted again on its own (`prodline rollback --to {challenger.version}` "
            "puts it back by hand)",
            allow_retries=False,
        )
    results = gate_results(warehouse, name, str(challenger.version))
    if len(results) < len(gate_checks(config)):
        raise dg.Failure(
            f"the promotion gate has not judged version {challenger.version} yet: run the "
            "challenger_model checks first",
            allow_retries=False,
        )
    if failed := [r for r in results if not r["passed"] and r["severity"] == "ERROR"]:
        listing = "; ".join(f"{r['check_name']}: {r['summary']}" for r in failed)
        raise dg.Failure(
            f"version {challenger.version} failed the promotion gate: {listing}", allow_retries=False
        )
    performance = next(json.loads(r["evidence"]) for r in results if r["check_name"] == "performance")
    store.set_alias(name, "champion", str(challenger.version))
    record_promotion(
        warehouse,
        {
            "model_name": name,
            "kind": "promotion",
            "from_version": None if champion is None else str(champion.version),
            "to_version": str(challenger.version),
            "run_id": challenger.run_id,
            "model_group_id": challenger.tags.get("model_group_id"),
            "metric": config.selection.name,
            "value": performance.get("challenger"),
            "evidence": json.dumps({r["check_name"]: r["summary"] for r in results}),
        },
    )
    return {
        "model_name": name,
        "version": str(challenger.version),
        "changed": True,
        "previous": None if champion is None else str(champion.version),
        config.selection.name: performance.get("challenger"),
    }


def rollback(config: ProjectConfig, warehouse, store, to_version: str | None = None) -> dict:
    """Move `champion` back to the version it replaced (or `to_version`), and record it."""
    name = model_name(config)
    champion = store.alias(name, "champion")
    if champion is None:
        raise ValueError(f"{name!r} has no champion to roll back")
    history = promotions(warehouse, name)
    if to_version is None:
        # The promotion that made it champion says what it replaced (a rollback row says nothing).
        last = next((h for h in reversed(history)
                     if h["kind"] == "promotion" and h["to_version"] == str(champion.version)), None)
        if last is None or last["from_version"] is None:
            raise ValueError(f"version {champion.version} replaced no earlier champion: name one with --to")
        to_version = last["from_version"]
    from mlflow.exceptions import MlflowException

    try:
        target = store.version(name, str(to_version))
    except MlflowException:
        raise ValueError(f"{name!r} has no version {to_version}") from None
    if str(to_version) == str(champion.version):
        raise ValueError(f"version {to_version} is already the champion")
    earlier = next((h for h in reversed(history) if h["to_version"] == str(to_version)), None)
    store.set_alias(name, "champion", str(to_version))
    record_promotion(
        warehouse,
        {
            "model_name": name,
            "kind": "rollback",
            "from_version": str(champion.version),
            "to_version": str(to_version),
            "run_id": target.run_id,
            "model_group_id": target.tags.get("model_group_id"),
            "metric": config.selection.name,
            "value": None if earlier is None else earlier["value"],
            "evidence": json.dumps({"reason": "rollback"}),
        },
    )
    return {"model_name": name, "from_version": str(champion.version), "to_version": str(to_version)}
