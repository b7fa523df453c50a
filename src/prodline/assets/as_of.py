"""Cohort, labels and one features asset per aggregation, partitioned by as-of date.

Each asset computes a whole range of as-of dates in one SQL statement inside the warehouse and
writes it by replacing that window, so a backfill is one run and re-running it changes nothing.
"""

import hashlib
import json

import dagster as dg

from prodline.assets.checks import check_results, check_specs
from prodline.assets.completeness import flow_on
from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import COHORT, LABELS, feature_key, problem_key, table_key
from prodline.assets.partitions import as_of_partitions, as_of_reads, dates_of
from prodline.assets.upstreams import cohort_reads, features_reads, labels_reads, longest_interval
from prodline.assets.versions import record_versions
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
from prodline.pipeline.as_of.cohort_labels import cohort_select, labels_select
from prodline.pipeline.as_of.feature_select import feature_start, features_select, refuse_nulls
from prodline.pipeline.as_of.feature_windows import feature_computation
from prodline.pipeline.data_versions import partitions
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


def _late(config: ProjectConfig, tables: list[str]) -> bool:
    """Whether rows of a table read may arrive after the day they are dated."""
    return any(config.sources[t.split(".")[1]].late_days for t in tables
               if t.startswith("raw.") and t.split(".")[1] in config.sources)


def _written(context: dg.AssetExecutionContext, table: str, written: int, dates: list, verdicts: list,
             **metadata) -> dg.MaterializeResult:
    """The result of writing `dates` of `table`: each partition with its own data version and row
    count (assets/versions.py says why per partition), the range's total, the checks' verdicts."""
    found = partitions(context.resources.warehouse, table, dates)
    version = record_versions(context, {d.isoformat(): v for d, (v, _) in found.items()},
                              rows={d.isoformat(): n for d, (_, n) in found.items()})
    return dg.MaterializeResult(
        data_version=version,
        metadata={"dagster/row_count": written, "rows_written": written, "as_of_dates": len(dates),
                  **metadata},
        check_results=check_results(verdicts))


def _cohort_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    sql = config.cohort.sql()
    # A cohort made of the label's entities (no cohort configured, as in Triage) reads ahead as the
    # label does.
    ahead = config.cohort.looks_ahead
    tables, cohort_table = config.tables_read(sql), config.tables.cohort
    key, upstream = problem_key(config, COHORT), cohort_reads(config, tables, ahead)
    reads = as_of_reads(config, ahead=ahead, late=_late(config, tables))

    @_asset(config, "cohort" in config.shared, key=key, partitions_def=partitions,
            code_version=_version(sql),
            automation_condition=flow_on(upstream),
            description=config.cohort.description or "Who is ranked on each as-of date.",
            deps=[dg.AssetDep(table_key(t), partition_mapping=reads) for t in tables],
            check_specs=check_specs(key, COHORT_CHECKS),
            metadata={"dagster/table_name": cohort_table})
    def cohort(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        upstream.refuse_incomplete(context)
        warehouse, dates = context.resources.warehouse, dates_of(context)
        written = warehouse.replace_window_from(*cohort_table.split("."), cohort_select(sql, dates),
                                                "as_of_date", min(dates), max(dates))
        return _written(context, cohort_table, written, dates, cohort_checks(warehouse, cohort_table, dates))

    return cohort


def _labels_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    label = config.label
    sql, span = label.sql(), label.interval
    reads = config.tables_read(sql)
    table, cohort_table = config.tables.labels, config.tables.cohort
    key, cohort = problem_key(config, LABELS), problem_key(config, COHORT)
    upstream, window = labels_reads(config, reads, span), as_of_reads(config, ahead=span)

    @_asset(config, False, key=key, partitions_def=partitions,
            code_version=_version(sql, span, label.name),
            automation_condition=flow_on(upstream),
            description=(label.description or "The outcome for each cohort member.")
            + f" Labels for D mature once data through D + {span} - 1 day has been loaded.",
            deps=[cohort, *(dg.AssetDep(table_key(t), partition_mapping=window) for t in reads)],
            check_specs=check_specs(key, LABEL_CHECKS),
            metadata={"dagster/table_name": table, "label_timespan": str(span)})
    def labels(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        upstream.refuse_incomplete(context)
        warehouse, dates = context.resources.warehouse, dates_of(context)
        select = labels_select(sql, span, label.name, cohort_table, dates)
        written = warehouse.replace_window_from(*table.split("."), select, "as_of_date",
                                                min(dates), max(dates))
        return _written(context, table, written, dates,
                        label_checks(warehouse, table, cohort_table, label.name, dates))

    return labels


def _features_asset(config: ProjectConfig, feature: FeatureConfig, partitions) -> dg.AssetsDefinition:
    key, cohort = problem_key(config, feature_key(feature.prefix)), problem_key(config, COHORT)
    table, cohort_table = config.tables.feature(feature.prefix), config.tables.cohort
    definition = feature.model_dump(mode="json")
    tables = config.tables_read(f"SELECT * FROM {feature.from_obj}")
    upstream = features_reads(config, feature, tables)
    reads = as_of_reads(config, lookback=longest_interval(feature), late=_late(config, tables))

    @_asset(config, feature.prefix in config.shared, key=key, partitions_def=partitions,
            code_version=_version(definition),
            automation_condition=flow_on(upstream),
            description=feature.description or f"Features aggregated from {feature.from_obj}.",
            deps=[cohort, *(dg.AssetDep(table_key(t), partition_mapping=reads) for t in tables)],
            check_specs=check_specs(key, FEATURE_CHECKS),
            metadata={"dagster/table_name": table, "from_obj": feature.from_obj,
                      "intervals": [str(i) for i in feature.interval_list]})
    def features(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        upstream.refuse_incomplete(context)
        warehouse, dates = context.resources.warehouse, dates_of(context)
        choices = columns_of.resolve_choices(warehouse, feature)
        columns = columns_of.feature_columns(feature, choices)
        written = _write_features(warehouse, feature, choices, table, cohort_table, dates,
                                  feature_start(config), columns)
        names, flags = [c.name for c in columns], list(columns_of.flag_sources(columns))
        definition = config.grid.feature_group_definition if config.grid else {"all": [True]}
        dictionary = {feature_table(feature.prefix): [*names, *flags]}
        groups = {g.names[0]: list(g.features) for g in subsets(definition, dictionary) if g.features}
        return _written(context, table, written, dates,
                        feature_checks(warehouse, table, cohort_table, names, flags, dates),
                        features=len(names), feature_groups=dg.MetadataValue.json(groups))

    return features


def _write_features(warehouse, feature: FeatureConfig, choices, table: str, cohort_table: str,
                    dates: list, start, columns) -> int:
    """The feature engine (feature_windows) where entity ids are integers, as Triage's are; the
    same features from one SQL statement (feature_select) where they are not."""
    schema, name = table.split(".")
    window = ("as_of_date", min(dates), max(dates))
    kwargs = {"new_column_type": lambda n: "INTEGER" if n.endswith("_imp") else "DOUBLE PRECISION",
              "verify": lambda conn: refuse_nulls(conn, table, columns, dates)}
    if warehouse.integer_column(cohort_table, "entity_id"):
        computation = feature_computation(feature, choices, cohort_table, dates, start)
        return warehouse.replace_window_computed(schema, name, *window, computation, **kwargs)
    select = features_select(feature, choices, cohort_table, dates, start)
    return warehouse.replace_window_from(schema, name, select, *window, hash_joins=True, **kwargs)
