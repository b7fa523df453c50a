"""Cohort, labels and one features asset per aggregation, partitioned by as-of date.

Each asset computes a whole range of as-of dates in one SQL statement inside the warehouse and
writes it by replacing that window, so a backfill is one run and re-running it changes nothing.
"""

import hashlib
import json

import dagster as dg

from prodline.assets.checks import check_results, check_specs
from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import COHORT, LABELS, feature_key, problem_key, table_key
from prodline.assets.partitions import PERIOD_BEFORE, as_of_partitions, dates_of, label_window
from prodline.config import FeatureConfig, ProjectConfig
from prodline.config.features import feature_table
from prodline.pipeline.as_of import feature_columns as columns_of
from prodline.pipeline.as_of.checks import (
    COHORT_CHECKS,
    FEATURE_CHECKS,
    LABEL_CHECKS,
    cohort_checks,
    feature_checks,
    label_checks,
)
from prodline.pipeline.as_of.cohort_labels import cohort_select, labels_select, unripe_labels
from prodline.pipeline.as_of.feature_select import feature_start, features_select, refuse_nulls
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.matrices.feature_groups import subsets
from prodline.resources.stores import POOL


def as_of_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    if config.cohort is None:
        return []
    partitions = as_of_partitions(config)
    assets = [_cohort_asset(config, partitions)]
    if config.label is not None:
        assets.append(_labels_asset(config, partitions))
    assets += [_features_asset(config, f, partitions) for f in config.features]
    return assets


def _version(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _asset(config: ProjectConfig, shared: bool, **kwargs):
    """An as-of asset: in the as_of group, or in its problem's own if the problems do not share it."""
    group = "as_of" if shared else config.own("as_of")
    return single_run_asset(group_name=group, pool=POOL, kinds={"sql"},
                            required_resource_keys={"warehouse"}, **kwargs)


def _written(written: int, dates: list, verdicts: list, **metadata) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"dagster/row_count": written, "as_of_dates": len(dates), **metadata},
        check_results=check_results(verdicts))


def _cohort_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    sql = config.cohort.sql()
    # A cohort made of the label's entities (no cohort configured, as in Triage) reads ahead as the
    # label does.
    ahead = config.cohort.looks_ahead
    reads = PERIOD_BEFORE if ahead is None else label_window(config, ahead)
    tables, cohort_table = config.dated(config.tables_read(sql)), config.tables.cohort
    key = problem_key(config, COHORT)

    @_asset(config, "cohort" in config.shared, key=key, partitions_def=partitions,
            code_version=_version(sql),
            automation_condition=dg.AutomationCondition.eager(),
            description=config.cohort.description or "Who is ranked on each as-of date.",
            deps=[dg.AssetDep(table_key(t), partition_mapping=reads) for t in tables],
            check_specs=check_specs(key, COHORT_CHECKS),
            metadata={"dagster/table_name": cohort_table})
    def cohort(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, dates = context.resources.warehouse, dates_of(context)
        if ahead is not None and (immature := unripe_labels(warehouse, tables, ahead, dates)):
            raise StepRefused("The cohort is the label's entities (no cohort is configured): "
                              + immature + "\nNothing was written.")
        written = warehouse.replace_window_from(*cohort_table.split("."), cohort_select(sql, dates),
                                                "as_of_date", min(dates), max(dates))
        return _written(written, dates, cohort_checks(warehouse, cohort_table, dates))

    return cohort


def _labels_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    label = config.label
    sql, span = label.sql(), label.interval
    reads = config.tables_read(sql)
    table, cohort_table = config.tables.labels, config.tables.cohort
    key, cohort = problem_key(config, LABELS), problem_key(config, COHORT)

    @_asset(config, False, key=key, partitions_def=partitions,
            code_version=_version(sql, span, label.name),
            description=(label.description or "The outcome for each cohort member.")
            + f" Labels for D mature once data through D + {span} - 1 day has been loaded.",
            deps=[cohort, *(dg.AssetDep(table_key(t), partition_mapping=label_window(config, span))
                            for t in reads)],
            check_specs=check_specs(key, LABEL_CHECKS),
            metadata={"dagster/table_name": table, "label_timespan": str(span)})
    def labels(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, dates = context.resources.warehouse, dates_of(context)
        if immature := unripe_labels(warehouse, config.dated(reads), span, dates):
            raise StepRefused(immature + "\nNothing was written.")
        select = labels_select(sql, span, label.name, cohort_table, dates)
        written = warehouse.replace_window_from(*table.split("."), select, "as_of_date",
                                                min(dates), max(dates))
        return _written(written, dates,
                        label_checks(warehouse, table, cohort_table, label.name, dates))

    return labels


def _features_asset(config: ProjectConfig, feature: FeatureConfig, partitions) -> dg.AssetsDefinition:
    key, cohort = problem_key(config, feature_key(feature.prefix)), problem_key(config, COHORT)
    table, cohort_table = config.tables.feature(feature.prefix), config.tables.cohort
    definition = feature.model_dump(mode="json")

    @_asset(config, feature.prefix in config.shared, key=key, partitions_def=partitions,
            code_version=_version(definition),
            automation_condition=dg.AutomationCondition.eager(),
            description=feature.description or f"Features aggregated from {feature.from_obj}.",
            deps=[cohort, *(dg.AssetDep(table_key(t), partition_mapping=PERIOD_BEFORE)
                            for t in config.tables_read(f"SELECT * FROM {feature.from_obj}"))],
            check_specs=check_specs(key, FEATURE_CHECKS),
            metadata={"dagster/table_name": table, "from_obj": feature.from_obj,
                      "intervals": [str(i) for i in feature.interval_list]})
    def features(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, dates = context.resources.warehouse, dates_of(context)
        choices = columns_of.resolve_choices(warehouse, feature)
        columns = columns_of.feature_columns(feature, choices)
        written = warehouse.replace_window_from(
            *table.split("."),
            features_select(feature, choices, cohort_table, dates, feature_start(config)),
            "as_of_date", min(dates), max(dates),
            new_column_type=lambda n: "INTEGER" if n.endswith("_imp") else "DOUBLE PRECISION",
            verify=lambda conn: refuse_nulls(conn, table, columns, dates), hash_joins=True)
        names, flags = [c.name for c in columns], list(columns_of.flag_sources(columns))
        definition = config.grid.feature_group_definition if config.grid else {"all": [True]}
        dictionary = {feature_table(feature.prefix): [*names, *flags]}
        groups = {g.names[0]: list(g.features) for g in subsets(definition, dictionary) if g.features}
        return _written(written, dates, feature_checks(warehouse, table, cohort_table, names, flags, dates),
                        features=len(names), feature_groups=dg.MetadataValue.json(groups))

    return features
