"""Monitoring, one partition per as-of date, once its labels have matured: how the stored list
did (realized precision and recall at every cutoff, in `production.monitoring`), against the value
recorded when its model was promoted."""

import dagster as dg
import pyarrow as pa

from prodline.assets.checks import check_result
from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import LABELS, MONITORING, PREDICTIONS, problem_key
from prodline.assets.metadata import markdown_table
from prodline.assets.partitions import as_of_partitions, dates_of
from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import model_name, promotions
from prodline.pipeline.monitoring.realized_lists import (
    drifted_features,
    judge_day,
    list_outcomes,
    realized_verdict,
)
from prodline.pipeline.predictions.lists import drift_verdict
from prodline.pipeline.tables import MONITORING_COLUMNS, production_table
from prodline.resources.stores import POOL

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
    cfg, metric = config.monitoring, config.selection.name

    @single_run_asset(
        key=problem_key(config, MONITORING),
        partitions_def=partitions,
        group_name=config.own("production"),
        deps=[problem_key(config, PREDICTIONS), problem_key(config, LABELS)],
        required_resource_keys={"warehouse"},
        pool=POOL,
        automation_condition=WHEN_LABELS_ARRIVE,
        check_specs=[
            dg.AssetCheckSpec(REALIZED_CHECK, asset=problem_key(config, MONITORING),
                              blocking=cfg.decay_blocks, description=(
                f"Realized {metric} of the stored list is not more than "
                f"{cfg.realized_margin:g} below the value recorded when its model was promoted"
                + (" (blocking: the run fails)." if cfg.decay_blocks else ".")
                + ("" if cfg.on_decay == "alert" else f" A shortfall sets off: {cfg.on_decay}."))),
            dg.AssetCheckSpec(DRIFT_CHECK, asset=problem_key(config, MONITORING), description=(
                "No feature of the list's date had drifted from the model's training matrix "
                f"(PSI at least {cfg.drift_alert:g}, from production.drift); WARN, it does not block.")),
        ],
        metadata={"dagster/table_name": config.tables.production("monitoring")},
        description="How each date's list did once its labels matured: realized precision and recall "
        "at every cutoff (production.monitoring).",
    )
    def monitoring(context: dg.AssetExecutionContext):
        warehouse, dates = context.resources.warehouse, dates_of(context)
        promoted = promotions(warehouse, model_name(config), config.tables)
        promised = {p["to_version"]: p["value"] for p in promoted}
        table = production_table(warehouse, "monitoring", MONITORING_COLUMNS, tables=config.tables)
        judged = []
        for day in dates:
            outcomes = list_outcomes(warehouse, config.label.name, day, config.tables)
            found = judge_day(outcomes, day, config.scoring.thresholds(), promised, metric,
                              cfg.realized_margin)
            warehouse.replace_window(table, pa.Table.from_pylist(found.rows), "as_of_date", day, day)
            judged.append(found)
        figures = markdown_table([j.figure for j in judged])
        drifts = drifted_features(warehouse, min(dates), max(dates), cfg.drift_alert, config.tables)
        yield dg.MaterializeResult(metadata={"realized": figures})
        yield check_result(drift_verdict(DRIFT_CHECK, drifts, cfg.drift_alert),
                           drifted=markdown_table(drifts[:50]))
        yield check_result(realized_verdict(REALIZED_CHECK, judged, metric, cfg.realized_margin),
                           dates=figures)

    return monitoring
