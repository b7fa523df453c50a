"""The registry's model for a project, and the production tables people audit: the gate's results
for each version, and every promotion and rollback."""

import datetime as dt
import json

import sqlalchemy as sa

from prodline.config import ProjectConfig
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.tables import GATE_COLUMNS, ONE, PROMOTION_COLUMNS, Tables, has_table, production_table


def model_name(config: ProjectConfig) -> str:
    return (config.promotion and config.promotion.model_name) or config.name


def aliased(config: ProjectConfig, store, alias: str, how: str):
    """The registry version behind an alias; refused (saying `how` to get one) if none."""
    name = model_name(config)
    version = store.alias(name, alias)
    if version is None:
        raise StepRefused(f"registered model {name!r} has no {alias} yet: {how}")
    return version


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record_gate(warehouse, name: str, version: str, run_id: str, verdicts, tables: Tables = ONE) -> None:
    """The gate's verdicts on one version, replacing any earlier evaluation of it."""
    table = production_table(warehouse, "gate_results", GATE_COLUMNS, tables=tables)
    now = _now()
    rows = [
        {"model_name": name, "version": version, "run_id": run_id, "check_name": v.check,
         "passed": v.passed, "severity": v.severity, "summary": v.summary,
         "evidence": json.dumps(v.evidence, default=str), "evaluated_at": now}
        for v in verdicts
    ]
    with warehouse.engine.begin() as conn:
        conn.execute(table.delete().where(sa.and_(table.c.model_name == name, table.c.version == version)))
        if rows:
            conn.execute(table.insert(), rows)


def gate_results(warehouse, name: str, version: str, tables: Tables = ONE) -> list[dict]:
    if not has_table(warehouse, table := tables.production("gate_results")):
        return []
    return warehouse.rows(
        f"SELECT * FROM {table} WHERE model_name = :n AND version = :v ORDER BY check_name",
        n=name, v=version)


def record_promotion(warehouse, row: dict, tables: Tables = ONE) -> None:
    """One move of the champion (a promotion, a rollback, an automatic action), as one row of
    `production.promotions` with the same audit fields whatever moved it: who (`actor`), why
    (`reason`, required when the gate was overridden), whether `to_version` passed the gate
    (`gate_passed`), whether the gate was overridden (`forced`) and the gate's `evidence` (JSON).
    A row that lacks one is refused before anything is written."""
    missing = [k for k in ("kind", "to_version", "actor", "evidence") if not row.get(k)]
    missing += [k for k in ("gate_passed", "forced") if not isinstance(row.get(k), bool)]
    if row.get("forced") and not row.get("reason"):
        missing.append("reason (the gate was overridden)")
    if missing:
        raise ValueError(f"a move of the champion is recorded with who moved it, why and the gate's "
                         f"evidence; this one lacks: {', '.join(missing)}")
    table = production_table(warehouse, "promotions", PROMOTION_COLUMNS, tables=tables)
    with warehouse.engine.begin() as conn:
        conn.execute(table.insert(), [{"promoted_at": _now(), **row}])


def promotions(warehouse, name: str, tables: Tables = ONE) -> list[dict]:
    """Every promotion and rollback of the model, oldest first."""
    if not has_table(warehouse, table := tables.production("promotions")):
        return []
    return warehouse.rows(
        f"SELECT * FROM {table} WHERE model_name = :n ORDER BY promoted_at", n=name)


def history(warehouse, name: str, tables: Tables = ONE) -> list[dict]:
    """Every move of the champion, newest first, as `/model` and the model card show it. A row
    recorded before moves were audited has None for who, why, forced and the gate."""
    return [{"kind": p["kind"], "from_version": p["from_version"], "to_version": p["to_version"],
             "at": p["promoted_at"].isoformat(timespec="seconds"), "actor": p.get("actor"),
             "reason": p.get("reason"), "forced": p.get("forced"), "gate_passed": p.get("gate_passed"),
             "metric": p["metric"], "value": p["value"]}
            for p in reversed(promotions(warehouse, name, tables))]


def newest_move(warehouse, tables: Tables = ONE) -> dt.datetime | None:
    """When the champion last moved (a promotion or a rollback), or None."""
    if not has_table(warehouse, table := tables.production("promotions")):
        return None
    return warehouse.scalar(f"SELECT max(promoted_at) FROM {table}")


def moves_after(warehouse, after: dt.datetime, tables: Tables = ONE) -> list[dict]:
    """Every promotion and rollback after `after`, oldest first."""
    if not has_table(warehouse, table := tables.production("promotions")):
        return []
    return warehouse.rows(f"SELECT * FROM {table} WHERE promoted_at > :after "
                          "ORDER BY promoted_at", after=after)

