"""Challenger and champion: the champion moves only when every blocking criterion of the gate
passed for the challenger's version; a rollback moves it back by hand. Each move is recorded."""

import json

from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import gate_results, model_name, promotions, record_promotion
from prodline.pipeline.errors import RegistryError, StepRefused
from prodline.pipeline.gate.judging import gate_checks
from prodline.pipeline.tables import ONE, Tables
from prodline.pipeline.verdict import Verdict


class NotPromoted(StepRefused):
    """The champion stays where it is, by decision and not by error: the gate refused the challenger's
    version, or that version was rolled back once. The champion asset records it and materializes
    nothing; the run succeeds."""


def recorded_verdicts(warehouse, name: str, version: str, tables: Tables = ONE) -> list[Verdict]:
    """The gate's verdicts on a version, as `production.gate_results` keeps them."""
    return [Verdict(r["check_name"], bool(r["passed"]), r["severity"], r["summary"],
                    json.loads(r["evidence"])) for r in gate_results(warehouse, name, version, tables)]


def promote(config: ProjectConfig, warehouse, store) -> dict:
    """Move `champion` to the challenger if the gate passed for that version; NotPromoted if the
    gate refused it (or it was rolled back); StepRefused if there is nothing to decide on yet."""
    name = model_name(config)
    challenger, champion = store.alias(name, "challenger"), store.alias(name, "champion")
    if challenger is None:
        raise StepRefused(f"{name!r} has no challenger yet")
    if champion is not None and champion.version == challenger.version:
        return {"model_name": name, "version": str(champion.version), "changed": False}
    withdrawn = [h for h in promotions(warehouse, name, config.tables)
                 if h["kind"] == "rollback" and h["from_version"] == str(challenger.version)]
    if withdrawn:
        raise NotPromoted(
            f"version {challenger.version} was rolled back on {withdrawn[-1]['promoted_at']:%Y-%m-%d}; "
            f"it is not promoted again on its own (`prodline rollback --to {challenger.version}` "
            "puts it back by hand)")
    verdicts = recorded_verdicts(warehouse, name, str(challenger.version), config.tables)
    if len(verdicts) < len(gate_checks(config)):
        raise StepRefused(f"the promotion gate has not judged version {challenger.version} yet: run the "
                          "challenger_model checks first")
    if failed := [v for v in verdicts if v.blocks]:
        listing = "; ".join(f"{v.check}: {v.summary}" for v in failed)
        raise NotPromoted(f"version {challenger.version} failed the promotion gate: {listing}")
    performance = next(v.evidence for v in verdicts if v.check == "performance")
    store.set_alias(name, "champion", str(challenger.version))
    record_promotion(warehouse, {
        "model_name": name,
        "kind": "promotion",
        "from_version": None if champion is None else str(champion.version),
        "to_version": str(challenger.version),
        "run_id": challenger.run_id,
        "model_group_id": challenger.tags.get("model_group_id"),
        "metric": config.selection.name,
        "value": performance.get("challenger"),
        "evidence": json.dumps({v.check: v.summary for v in verdicts}),
    }, config.tables)
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
    history = promotions(warehouse, name, config.tables)
    if to_version is None:
        # The promotion that made it champion says what it replaced (a rollback row says nothing).
        last = next((h for h in reversed(history)
                     if h["kind"] == "promotion" and h["to_version"] == str(champion.version)), None)
        if last is None or last["from_version"] is None:
            raise ValueError(f"version {champion.version} replaced no earlier champion: name one with --to")
        to_version = last["from_version"]
    try:
        target = store.version(name, str(to_version))
    except RegistryError as err:
        raise ValueError(str(err)) from None
    if str(to_version) == str(champion.version):
        raise ValueError(f"version {to_version} is already the champion")
    earlier = next((h for h in reversed(history) if h["to_version"] == str(to_version)), None)
    store.set_alias(name, "champion", str(to_version))
    record_promotion(warehouse, {
        "model_name": name,
        "kind": "rollback",
        "from_version": str(champion.version),
        "to_version": str(to_version),
        "run_id": target.run_id,
        "model_group_id": target.tags.get("model_group_id"),
        "metric": config.selection.name,
        "value": None if earlier is None else earlier["value"],
        "evidence": json.dumps({"reason": "rollback"}),
    }, config.tables)
    return {"model_name": name, "from_version": str(champion.version), "to_version": str(to_version)}
