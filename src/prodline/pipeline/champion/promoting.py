"""Challenger and champion: the champion moves only when every blocking criterion of the gate
passed for the challenger's version (a rollback, `rolling_back`, only to a version that did). Each
move is recorded with who moved it, why and the gate's evidence."""

import json

from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import gate_results, model_name, promotions, record_promotion
from prodline.pipeline.errors import StepRefused
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


def gate_evidence(verdicts: list[Verdict]) -> dict:
    """The gate's verdicts on a version as a move of the champion keeps them: what each check
    found, with its numbers (production.gate_results is replaced when a version is judged again)."""
    return {v.check: {"passed": v.passed, "severity": v.severity, "summary": v.summary,
                      "evidence": v.evidence} for v in verdicts}


def passed_gate(verdicts: list[Verdict]) -> bool:
    """The gate judged the version and no blocking check failed."""
    return bool(verdicts) and not any(v.blocks for v in verdicts)


def promote(config: ProjectConfig, warehouse, store, *, actor: str) -> dict:
    """Move `champion` to the challenger if the gate passed for that version, recording `actor` as
    who moved it (the champion asset: its Dagster run); NotPromoted if the gate refused it (or it
    was rolled back); StepRefused if there is nothing to decide on yet."""
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
        "evidence": json.dumps({"gate": gate_evidence(verdicts)}, default=str),
        "actor": actor,
        "reason": "passed the promotion gate",
        "gate_passed": True,
        "forced": False,
    }, config.tables)
    return {
        "model_name": name,
        "version": str(challenger.version),
        "changed": True,
        "previous": None if champion is None else str(champion.version),
        config.selection.name: performance.get("challenger"),
    }
