"""Rollback: the champion moves back only to a version that was champion before and passed every
blocking check of the promotion gate recorded for it; overriding the gate (`force`) takes a reason.
The move is recorded like a promotion: who, why, from, to and the gate's evidence on the version."""

import json

from prodline.config import ProjectConfig
from prodline.pipeline.champion.promoting import gate_evidence, passed_gate, recorded_verdicts
from prodline.pipeline.champion.records import model_name, promotions, record_promotion
from prodline.pipeline.errors import RegistryError


def rollback(config: ProjectConfig, warehouse, store, to_version: str | None = None, *, actor: str,
             reason: str | None = None, force: bool = False) -> dict:
    """Move `champion` to `to_version`, or without it to the most recently replaced champion that
    passed the gate and was not itself rolled back. ValueError, before anything moves, says why not."""
    reason = (reason or "").strip() or None
    if force and (reason is None or to_version is None):
        raise ValueError("--force overrides the promotion gate: it needs --to (the version to move to) "
                         "and --reason (why the gate is overridden, recorded in production.promotions)")
    if not (actor or "").strip():
        raise ValueError("a rollback is recorded with who made it: give --by")
    name = model_name(config)
    champion = store.alias(name, "champion")
    if champion is None:
        raise ValueError(f"{name!r} has no champion to roll back")
    current, history = str(champion.version), promotions(warehouse, name, config.tables)
    verdicts = _verdicts_of(config, warehouse, name)
    to_version = str(to_version or previous_champion(name, current, history, verdicts))
    if to_version == current:
        raise ValueError(f"version {to_version} is already the champion")
    try:
        target = store.version(name, to_version)
    except RegistryError as err:
        raise ValueError(str(err)) from None
    passed = passed_gate(verdicts(to_version))
    if not force and (to_version not in were_champion(history) or not passed):
        raise ValueError(f"{_why_not(to_version, history, verdicts)}, and a rollback moves only to a "
                         f"version that was champion and passed the promotion gate "
                         f"({choices(current, history, verdicts)}); `--force --reason WHY` overrides this")
    evidence = {"gate": gate_evidence(verdicts(to_version))}
    if force:
        evidence["gate_overridden"] = reason
    store.set_alias(name, "champion", to_version)
    record_promotion(warehouse, {
        "model_name": name,
        "kind": "rollback",
        "from_version": current,
        "to_version": to_version,
        "run_id": target.run_id,
        "model_group_id": target.tags.get("model_group_id"),
        "metric": config.selection.name,
        "value": promised(history, to_version, verdicts(to_version)),
        "evidence": json.dumps(evidence, default=str),
        "actor": actor,
        "reason": reason,
        "gate_passed": passed,
        "forced": force,
    }, config.tables)
    return {"model_name": name, "from_version": current, "to_version": to_version, "actor": actor,
            "reason": reason, "forced": force, "gate_passed": passed}


def were_champion(history: list[dict]) -> set[str]:
    """Every version a recorded move made champion or moved away from."""
    return {v for move in history for v in (move["from_version"], move["to_version"]) if v is not None}


def withdrawn(history: list[dict]) -> set[str]:
    """Versions a rollback moved away from that no move has made champion again since."""
    found = set()
    for move in history:
        if move["kind"] == "rollback":
            found.add(move["from_version"])
        found.discard(move["to_version"])
    return found


def previous_champion(name: str, current: str, history: list[dict], verdicts) -> str:
    """The champion most recently replaced that passed the gate and was not rolled back."""
    gone = withdrawn(history)
    for move in reversed(history):
        version = move["from_version"]
        if version not in (None, current) and version not in gone and passed_gate(verdicts(version)):
            return version
    if not were_champion(history) - {current}:
        raise ValueError(f"version {current} replaced no earlier champion: there is none to go back to "
                         "(`--to V --force --reason WHY` moves to another version)")
    raise ValueError(f"no earlier champion of {name!r} can be moved back to on its own "
                     f"({choices(current, history, verdicts)}): name one with --to")


def choices(current: str, history: list[dict], verdicts) -> str:
    """Which versions were champion, and which of them a rollback may move to."""
    before = sorted(were_champion(history) - {current}, key=lambda v: (len(v), v))  # "10" after "9"
    movable = [v for v in before if passed_gate(verdicts(v))]
    return (f"champion before: {', '.join(before) or 'none'}; can be moved to: "
            f"{', '.join(movable) or 'none'}")


def promised(history: list[dict], version: str, verdicts) -> float | None:
    """What the version was promoted on (monitoring holds its lists to it): the value recorded when
    it last became champion, else what the gate measured, else None."""
    earlier = next((m["value"] for m in reversed(history) if m["to_version"] == version), None)
    if earlier is not None:
        return earlier
    return next((v.evidence.get("challenger") for v in verdicts if v.check == "performance"), None)


def _why_not(version: str, history: list[dict], verdicts) -> str:
    if version not in were_champion(history):
        return f"version {version} was never champion"
    failed = [v for v in verdicts(version) if v.blocks]
    if not failed:
        return f"the promotion gate never judged version {version}"
    return (f"version {version} failed the promotion gate ("
            + "; ".join(f"{v.check}: {v.summary}" for v in failed) + ")")


def _verdicts_of(config: ProjectConfig, warehouse, name: str):
    """The gate's recorded verdicts on a version, read once per version."""
    read: dict[str, list] = {}

    def verdicts(version: str) -> list:
        if version not in read:
            read[version] = recorded_verdicts(warehouse, name, version, config.tables)
        return read[version]

    return verdicts
