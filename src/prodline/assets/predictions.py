"""Predictions, one partition per as-of date: the list people act on.

The champion scores that date's cohort into `production.predictions`, each row traced to the model
version and the features partition. Its drift check compares that date's features with the
champion's training matrix, so a shift shows the day the list is made, not a year later.
"""

import datetime as dt

import dagster as dg
import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from prodline.assets.as_of import COHORT, as_of_partitions, dates_of, feature_key
from prodline.assets.backfill import single_run_asset
from prodline.assets.modeling import _table
from prodline.assets.promotion import CHAMPION
from prodline.assets.registry import (
    aliased,
    cohort_matrix,
    model_name,
    production_table,
    score_matrix,
    train_matrix,
)
from prodline.config import ProjectConfig
from prodline.config.production import MonitoringConfig
from prodline.pipeline.models.training import positions
from prodline.pipeline.monitoring import drift as watch
from prodline.pipeline.predictions import ranking
from prodline.resources.warehouse import POOL

PREDICTIONS = dg.AssetKey(["predictions"])
PREDICTION_COLUMNS = {
    "as_of_date": sa.Date,
    "score": sa.Float,
    "rank": sa.Integer,
    "percentile": sa.Float,
    "model_name": sa.String,
    "model_version": sa.String,
    "model_run_id": sa.String,
    "features_partition": sa.String,
    "dagster_run_id": sa.String,
    "predicted_at": sa.DateTime,
}
DRIFT_COLUMNS = {
    "as_of_date": sa.Date,
    "model_version": sa.String,
    "feature": sa.String,
    "psi": sa.Float,
    "level": sa.String,
    "reference_null_share": sa.Float,
    "current_null_share": sa.Float,
}
DRIFT_CHECK = "features_are_stable"


def prediction_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    return [] if config.promotion is None else [predictions_asset(config, as_of_partitions(config))]


def predictions_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    watching = config.monitoring or MonitoringConfig()  # drift is worth a check even unconfigured
    drift_warn = watching.drift_alert

    @single_run_asset(
        key=PREDICTIONS,
        partitions_def=partitions,
        group_name="production",
        deps=[COHORT, *(feature_key(f.prefix) for f in config.features), CHAMPION],
        required_resource_keys={"warehouse", "model_store"},
        pool=POOL,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[
            dg.AssetCheckSpec(
                DRIFT_CHECK,
                asset=PREDICTIONS,
                description=(
                    "No feature the champion uses has drifted far from its training matrix (population "
                    f"stability index below {drift_warn:g}); WARN, it does not block."
                ),
            )
        ],
        metadata={"dagster/table_name": "production.predictions"},
        description="The champion's ranked list for each as-of date (production.predictions), with the "
        "model version and the features partition it used.",
    )
    def predictions(context: dg.AssetExecutionContext):
        warehouse, store = context.resources.warehouse, context.resources.model_store
        name = model_name(config)
        champion = aliased(
            config, store, "champion", "promote one (challenger_model, its gate, champion_model)"
        )
        model, features = store.load_model(champion.run_id), store.document(champion.run_id, "features.json")
        reference = train_matrix(config, champion.tags["split"])
        used = positions(features, reference.features, "the champion")
        table = production_table(warehouse, "predictions", PREDICTION_COLUMNS, entity=True)
        drift_table = production_table(warehouse, "drift", DRIFT_COLUMNS)
        written, drifted, tops = 0, [], []
        for day in dates_of(context):
            cohort = cohort_matrix(config, warehouse, day)
            scores = score_matrix(model, features, cohort)
            ranks = ranking.rank(scores, cohort.entities)
            rows = pa.table(
                {
                    "entity_id": cohort.keys.column("entity_id"),
                    "as_of_date": cohort.keys.column("as_of_date"),
                    "score": scores,
                    "rank": ranks.astype(np.int32),
                    "percentile": ranking.percentile(ranks),
                    "model_name": [name] * len(scores),
                    "model_version": [str(champion.version)] * len(scores),
                    "model_run_id": [champion.run_id] * len(scores),
                    "features_partition": [day.isoformat()] * len(scores),
                    "dagster_run_id": [context.run.run_id] * len(scores),
                    "predicted_at": [dt.datetime.now(dt.UTC).replace(tzinfo=None)] * len(scores),
                }
            )
            written += warehouse.replace_window(table, rows, "as_of_date", day, day)
            drift = watch.feature_drift(
                {f: reference.X[:, i] for f, i in zip(features, used, strict=True)},
                {
                    f: cohort.X[:, i]
                    for f, i in zip(
                        features, positions(features, cohort.features, "the champion"), strict=True
                    )
                },
                bins=watching.bins,
            )
            drift["level"] = [
                watch.drift_level(p, watching.drift_warn, watching.drift_alert) for p in drift["psi"]
            ]
            drift_rows = drift.assign(as_of_date=day, model_version=str(champion.version))
            warehouse.replace_window(
                drift_table,
                pa.Table.from_pandas(drift_rows[list(DRIFT_COLUMNS)], preserve_index=False),
                "as_of_date",
                day,
                day,
            )
            drifted += [
                {"as_of_date": str(day), **r}
                for r in drift_rows[drift_rows["psi"] >= drift_warn][["feature", "psi", "current_null_share"]]
                .round(4)
                .to_dict("records")
            ]
            tops.append(
                {
                    "as_of_date": str(day),
                    "rows": len(scores),
                    "top score": round(float(scores.max()), 4) if len(scores) else None,
                }
            )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": written,
                "model_version": str(champion.version),
                "lists": dg.MetadataValue.md(_table(tops)),
            }
        )
        yield dg.AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=not drifted,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{len(drifted)} feature-date(s) with PSI >= {drift_warn:g}"
                if drifted
                else f"every feature's PSI below {drift_warn:g}"
            ),
            metadata={"drifted": dg.MetadataValue.md(_table(drifted[:50]))},
        )

    return predictions
