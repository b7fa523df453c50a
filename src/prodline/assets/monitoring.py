"""Monitoring, one partition per as-of date, once its labels have matured: how the stored list
did (realized precision and recall at every cutoff, in `production.monitoring`), against the value
recorded when its model was promoted."""

import datetime as dt
import json

import dagster as dg
import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from prodline.assets.as_of import LABELS, LABELS_TABLE, as_of_partitions, dates_of
from prodline.assets.backfill import single_run_asset
from prodline.assets.modeling import _table
from prodline.assets.predictions import PREDICTIONS
from prodline.assets.registry import model_name, production_table, promotions
from prodline.config import ProjectConfig
from prodline.pipeline.monitoring import drift as watch
from prodline.resources.warehouse import POOL

MONITORING = dg.AssetKey(["monitoring"])
MONITORING_COLUMNS = {
    "as_of_date": sa.Date,
    "model_version": sa.String,
    "metric": sa.String,
    "parameter": sa.String,
    "value": sa.Float,
    "labeled_rows": sa.BigInteger,
    "positives": sa.BigInteger,
    "labeled_share": sa.Float,
    "promised": sa.Float,
    "evaluated_at": sa.DateTime,
}
REALIZED_CHECK, DRIFT_CHECK = "realized_performance_holds", "features_were_stable"
# Any date, not only the newest: a list's labels arrive a label timespan after it was made.
# Asked once per change (a dependency updated, or the partition newly missing), so a failure is
# not asked again on every tick.
WHEN_LABELS_ARRIVE = (
    dg.AutomationCondition.missing()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.in_progress()
    & (
        dg.AutomationCondition.any_deps_updated() | dg.AutomationCondition.missing().newly_true()
    ).since_last_handled()
).with_label("labels_arrived")


def monitoring_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    if config.promotion is None or config.monitoring is None:
        return []
    return [monitoring_asset(config, as_of_partitions(config))]


def monitoring_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    cfg, selection = config.monitoring, config.selection

    @single_run_asset(
        key=MONITORING,
        partitions_def=partitions,
        group_name="production",
        deps=[PREDICTIONS, LABELS],
        required_resource_keys={"warehouse"},
        pool=POOL,
        automation_condition=WHEN_LABELS_ARRIVE,
        check_specs=[
            dg.AssetCheckSpec(
                REALIZED_CHECK,
                asset=MONITORING,
                description=(
                    f"Realized {selection.name} of the stored list is not more than "
                    f"{cfg.realized_margin:g} below the value recorded when its model was promoted."
                ),
            ),
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset=MONITORING,
                description=(
                    "No feature of the list's date had drifted from the model's training matrix "
                    f"(PSI at least {cfg.drift_alert:g}, from production.drift); WARN, it does not block."
                ),
            ),
        ],
        metadata={"dagster/table_name": "production.monitoring"},
        description="How each date's list did once its labels matured: realized precision and recall "
        "at every cutoff (production.monitoring).",
    )
    def monitoring(context: dg.AssetExecutionContext):
        warehouse = context.resources.warehouse
        thresholds = config.scoring.thresholds()
        promised = {p["to_version"]: p["value"] for p in promotions(warehouse, model_name(config))}
        table = production_table(warehouse, "monitoring", MONITORING_COLUMNS)
        figures, failures = [], []
        for day in dates_of(context):
            rows = warehouse.rows(
                f"SELECT p.score, p.model_version, p.entity_id, l.{config.label.name} AS outcome "
                f"FROM production.predictions AS p LEFT JOIN {LABELS_TABLE} AS l "
                "ON l.entity_id = p.entity_id AND l.as_of_date = p.as_of_date WHERE p.as_of_date = :d",
                d=day,
            )
            if not rows:
                raise dg.Failure(
                    f"no predictions for {day}: materialize predictions first", allow_retries=False
                )
            labels = np.array([np.nan if r["outcome"] is None else r["outcome"] for r in rows], dtype=float)
            if np.isnan(labels).all():
                raise dg.Failure(
                    f"the labels of {day} have not matured yet (none of {len(rows)} rows has one)",
                    allow_retries=False,
                )
            version = rows[0]["model_version"]
            realized = watch.realized(np.array([r["score"] for r in rows], dtype=float), labels, thresholds)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            out = [
                {
                    "as_of_date": day,
                    "model_version": version,
                    "metric": metric,
                    "parameter": t.parameter,
                    "value": values[t.parameter],
                    "labeled_rows": realized.labeled_rows,
                    "positives": realized.positives,
                    "labeled_share": realized.labeled_share,
                    "promised": promised.get(version) if f"{metric}{t.parameter}" == selection.name else None,
                    "evaluated_at": now,
                }
                for metric, values in (("precision@", realized.precision), ("recall@", realized.recall))
                for t in thresholds
            ]
            warehouse.replace_window(table, pa.Table.from_pylist(out), "as_of_date", day, day)
            watched = next((r for r in out if r["promised"] is not None), None)
            if (
                watched
                and watched["value"] is not None
                and watch.below_promotion(watched["value"], watched["promised"], cfg.realized_margin)
            ):
                failures.append(
                    f"{day}: {selection.name} {watched['value']:.4f} vs {watched['promised']:.4f} "
                    f"at promotion of version {version}"
                )
            figures.append(
                {
                    "as_of_date": str(day),
                    "version": version,
                    selection.name: None if watched is None else _r(watched["value"]),
                    "promised": None if watched is None else _r(watched["promised"]),
                    "labeled": realized.labeled_rows,
                }
            )
        drifted = (
            warehouse.rows(
                "SELECT as_of_date, feature, psi FROM production.drift WHERE as_of_date BETWEEN :a AND :b "
                "AND psi >= :alert ORDER BY as_of_date, psi DESC",
                a=min(dates_of(context)),
                b=max(dates_of(context)),
                alert=cfg.drift_alert,
            )
            if warehouse.columns("production", "drift")
            else []
        )
        yield dg.MaterializeResult(metadata={"realized": dg.MetadataValue.md(_table(figures))})
        yield dg.AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=not drifted,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{len(drifted)} feature-date(s) with PSI >= {cfg.drift_alert:g}"
            if drifted
            else f"every feature's PSI below {cfg.drift_alert:g}",
            metadata={
                "drifted": dg.MetadataValue.md(
                    _table(
                        [
                            {**d, "as_of_date": str(d["as_of_date"]), "psi": round(d["psi"], 4)}
                            for d in drifted[:50]
                        ]
                    )
                )
            },
        )
        yield dg.AssetCheckResult(
            check_name=REALIZED_CHECK,
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(failures)
            if failures
            else f"realized {selection.name} within {cfg.realized_margin:g} of the promised value",
            metadata={
                "dates": dg.MetadataValue.md(_table(figures)),
                "margin": cfg.realized_margin,
                "evidence": dg.MetadataValue.json(json.loads(json.dumps(figures, default=str))),
            },
        )

    return monitoring


def _r(value):
    return None if value is None else round(float(value), 4)
