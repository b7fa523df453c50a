"""Predictions, one partition per as-of date: the list people act on.

The champion scores that date's cohort into `production.predictions`, each row traced to the model
version, its MLflow run, and the data versions of the cohort and features partitions it was scored
on. Its drift check compares that date's features with the champion's training matrix, so a shift
shows the day the list is made, not a year later.
"""

import dagster as dg
import pyarrow as pa

from prodline.assets.checks import check_result
from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import CHAMPION, COHORT, PREDICTIONS, feature_key, problem_key
from prodline.assets.metadata import markdown_table
from prodline.assets.partitions import as_of_partitions, dates_of
from prodline.config import ProjectConfig
from prodline.config.production import MonitoringConfig
from prodline.pipeline.champion.records import aliased, model_name
from prodline.pipeline.models.training import score_matrix
from prodline.pipeline.predictions.lists import (
    drift_verdict,
    drifted,
    list_drift,
    ranked_list,
    scored_versions,
)
from prodline.pipeline.tables import DRIFT_COLUMNS, PREDICTION_COLUMNS, production_table
from prodline.resources.stores import POOL

DRIFT_CHECK = "features_are_stable"


def prediction_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    return [] if config.promotion is None else [predictions_asset(config, as_of_partitions(config))]


def predictions_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    watching = config.monitoring or MonitoringConfig()  # drift is worth a check even unconfigured

    @single_run_asset(
        key=problem_key(config, PREDICTIONS),
        partitions_def=partitions,
        group_name=config.own("production"),
        deps=[problem_key(config, k)
              for k in (COHORT, *(feature_key(f.prefix) for f in config.features), CHAMPION)],
        required_resource_keys={"warehouse", "model_store", "matrix_store"},
        pool=POOL,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[dg.AssetCheckSpec(
            DRIFT_CHECK, asset=problem_key(config, PREDICTIONS),
            description="No feature the champion uses has drifted far from its training matrix (population "
            f"stability index below {watching.drift_alert:g}); WARN, it does not block.")],
        metadata={"dagster/table_name": config.tables.production("predictions")},
        description="The champion's ranked list for each as-of date (production.predictions), with the "
        "model version, its MLflow run and the data versions of the partitions it was scored on.",
    )
    def predictions(context: dg.AssetExecutionContext):
        warehouse, store, matrices = (context.resources.warehouse, context.resources.model_store,
                                      context.resources.matrix_store.of(config))
        champion = aliased(config, store, "champion",
                           "promote one (challenger_model, its gate, champion_model)")
        model, features = store.load_model(champion.run_id), store.document(champion.run_id, "features.json")
        reference, version = matrices.train_matrix(champion.tags["split"]), str(champion.version)
        lineage = {"model_name": model_name(config), "model_version": version,
                   "model_run_id": champion.run_id, "dagster_run_id": context.run.run_id}
        table = production_table(warehouse, "predictions", PREDICTION_COLUMNS, entity=True,
                                 tables=config.tables)
        drift_table = production_table(warehouse, "drift", DRIFT_COLUMNS, tables=config.tables)
        written, drifts, tops = 0, [], []
        for day in dates_of(context):
            cohort = matrices.cohort_matrix(config, warehouse, day)
            scores = score_matrix(model, features, cohort)
            read = scored_versions(matrices.manifest(cohort.uuid), day, config.tables.labels)
            ranked = ranked_list(cohort, scores, lineage, read)
            written += warehouse.replace_window(table, ranked, "as_of_date", day, day)
            drift = list_drift(reference, cohort, features, watching, day, version)
            warehouse.replace_window(drift_table, pa.Table.from_pandas(drift, preserve_index=False),
                                     "as_of_date", day, day)
            drifts += drifted(drift, watching.drift_alert)
            tops.append({"as_of_date": str(day), "rows": len(scores),
                         "top score": round(float(scores.max()), 4) if len(scores) else None})
        yield dg.MaterializeResult(metadata={"dagster/row_count": written, "model_version": version,
                                             "lists": markdown_table(tops)})
        yield check_result(drift_verdict(DRIFT_CHECK, drifts, watching.drift_alert),
                           drifted=markdown_table(drifts[:50]))

    return predictions
