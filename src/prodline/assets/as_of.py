"""Cohort, labels and one features asset per aggregation, partitioned by as-of date.

Each asset computes a whole range of as-of dates in one SQL statement inside the warehouse and
writes it by replacing that window, so a backfill is one run and re-running it changes nothing.
"""

import datetime as dt
import hashlib
import json
import warnings

import dagster as dg
import sqlalchemy as sa

from prodline.assets.backfill import single_run_asset
from prodline.assets.keys import table_key
from prodline.config import Cadence, FeatureConfig, Interval, ProjectConfig
from prodline.pipeline.as_of import feature_columns as fsql
from prodline.pipeline.as_of.checks import (
    COHORT_CHECKS,
    FEATURE_CHECKS,
    LABEL_CHECKS,
    cohort_checks,
    feature_checks,
    label_checks,
    tables_read,
)
from prodline.pipeline.as_of.feature_select import features_select
from prodline.pipeline.raw.checks import Outcome
from prodline.resources.warehouse import POOL

COHORT = dg.AssetKey(["cohort"])
LABELS = dg.AssetKey(["labels"])
COHORT_TABLE = "features.cohort"
LABELS_TABLE = "features.labels"


def _mapping(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # allow_nonexistent_... is beta in 1.13
        return dg.TimeWindowPartitionMapping(start_offset=start_offset, end_offset=end_offset,
                                             allow_nonexistent_upstream_partitions=True)


# As-of assets read the period before D: that is the newest input a partition depends on.
PERIOD_BEFORE = _mapping(-1, -1)


def as_of_partitions(config: ProjectConfig) -> dg.TimeWindowPartitionsDefinition:
    """One partition per as-of date; the current period's exists (its date has come)."""
    as_of = config.as_of
    kwargs: dict = {"start_date": as_of.start.isoformat()}
    if as_of.end is None:
        kwargs["end_offset"] = 1
    else:
        kwargs["end_date"] = (as_of.end + dt.timedelta(days=1)).isoformat()
    if as_of.cadence is Cadence.daily:
        return dg.DailyPartitionsDefinition(**kwargs)
    if as_of.cadence is Cadence.weekly:
        return dg.WeeklyPartitionsDefinition(day_offset=1, **kwargs)  # Mondays
    return dg.MonthlyPartitionsDefinition(**kwargs)


def feature_key(prefix: str) -> dg.AssetKey:
    return dg.AssetKey([f"features_{prefix}"])


def dates_of(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def periods_in(config: ProjectConfig, span: Interval) -> int:
    """How many as-of periods cover `span` (rounded up), for the labels' partition mapping."""
    step = {Cadence.daily: Interval.parse("1 day"), Cadence.weekly: Interval.parse("1 week"),
            Cadence.monthly: Interval.parse("1 month")}[config.as_of.cadence]
    start = config.as_of.start
    goal, day, count = span.after(start), start, 0
    while day < goal:
        day, count = step.after(day), count + 1
    return count


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


def _checks(key: dg.AssetKey, checks: dict[str, str]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(n, asset=key, blocking=True, description=d) for n, d in checks.items()]


def _results(outcomes: list[Outcome]) -> list[dg.AssetCheckResult]:
    return [dg.AssetCheckResult(check_name=o.name, passed=o.passed, description=o.summary,
                                severity=dg.AssetCheckSeverity.WARN if o.warning
                                else dg.AssetCheckSeverity.ERROR,
                                metadata={"summary": o.summary,
                                          "evidence": dg.MetadataValue.json(o.evidence)})
            for o in outcomes]


def _asset(**kwargs):
    return single_run_asset(group_name="as_of", pool=POOL, kinds={"sql"},
                            required_resource_keys={"warehouse"}, **kwargs)


def _cohort_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    sql = config.cohort.sql()

    @_asset(key=COHORT, partitions_def=partitions, code_version=_version(sql),
            automation_condition=dg.AutomationCondition.eager(),
            description=config.cohort.description or "Who is ranked on each as-of date.",
            deps=[dg.AssetDep(table_key(t), partition_mapping=PERIOD_BEFORE) for t in tables_read(sql)],
            check_specs=_checks(COHORT, COHORT_CHECKS),
            metadata={"dagster/table_name": COHORT_TABLE})
    def cohort(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, dates = context.resources.warehouse, dates_of(context)
        written = warehouse.replace_window_from("features", "cohort", fsql.cohort_select(sql, dates),
                                                "as_of_date", min(dates), max(dates))
        return dg.MaterializeResult(
            metadata={"dagster/row_count": written, "as_of_dates": len(dates)},
            check_results=_results(cohort_checks(warehouse, COHORT_TABLE, dates)))

    return cohort


def _labels_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    label = config.label
    sql, span = label.sql(), label.interval
    reads = tables_read(sql)
    ahead = _mapping(0, periods_in(config, span) - 1)

    @_asset(key=LABELS, partitions_def=partitions, code_version=_version(sql, span, label.name),
            description=(label.description or "The outcome for each cohort member.")
            + f" Labels for D mature once data through D + {span} - 1 day has been loaded.",
            deps=[COHORT, *(dg.AssetDep(table_key(t), partition_mapping=ahead) for t in reads)],
            check_specs=_checks(LABELS, LABEL_CHECKS),
            metadata={"dagster/table_name": LABELS_TABLE, "label_timespan": str(span)})
    def labels(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, dates = context.resources.warehouse, dates_of(context)
        immature = unripe_labels(warehouse, reads, span, dates)
        if immature:
            raise dg.Failure(description=immature + "\nNothing was written.", allow_retries=False)
        select = fsql.labels_select(sql, span, label.name, COHORT_TABLE, dates)
        written = warehouse.replace_window_from("features", "labels", select, "as_of_date",
                                                min(dates), max(dates))
        return dg.MaterializeResult(
            metadata={"dagster/row_count": written, "as_of_dates": len(dates)},
            check_results=_results(label_checks(warehouse, LABELS_TABLE, COHORT_TABLE, label.name,
                                                dates)))

    return labels


def labels_need_through(span: Interval, day: dt.date) -> dt.date:
    """Labels for D need every table the label reads loaded through D + timespan - 1 day."""
    return span.after(day) - dt.timedelta(days=1)


def loaded_through(warehouse, reads: list[str]) -> dict[str, dt.date | None]:
    return {t: warehouse.scalar(f"SELECT max(_datestamp) FROM {t}") for t in reads}


def ripe_dates(warehouse, reads: list[str], span: Interval, dates: list[dt.date]) -> list[dt.date]:
    """The dates whose labels can be built now (one query per table, whatever the number of dates)."""
    loaded = loaded_through(warehouse, reads)
    return [d for d in dates
            if all(loaded[t] is not None and loaded[t] >= labels_need_through(span, d) for t in reads)]


def unripe_labels(warehouse, reads: list[str], span: Interval, dates: list[dt.date]) -> str | None:
    """Why some dates cannot be labelled yet, or None (see `labels_need_through`)."""
    loaded = loaded_through(warehouse, reads)
    lines = []
    for day in dates:
        needed = labels_need_through(span, day)
        short = [f"{t} is loaded through {loaded[t] or 'nothing yet'}" for t in reads
                 if loaded[t] is None or loaded[t] < needed]
        if short:
            lines.append(f"labels for {day} mature once data through {needed} is loaded "
                         f"({span} ahead); " + ", ".join(short))
    if not lines:
        return None
    return f"{len(lines)} of {len(dates)} as-of date(s) cannot be labelled yet:\n" + "\n".join(lines[:20])


def _features_asset(config: ProjectConfig, feature: FeatureConfig, partitions) -> dg.AssetsDefinition:
    key = feature_key(feature.prefix)
    table = f"features.{feature.prefix}"

    @_asset(key=key, partitions_def=partitions, code_version=_version(feature.model_dump(mode="json")),
            automation_condition=dg.AutomationCondition.eager(),
            description=feature.description or f"Features aggregated from {feature.from_obj}.",
            deps=[COHORT, dg.AssetDep(table_key(feature.from_obj), partition_mapping=PERIOD_BEFORE)],
            check_specs=_checks(key, FEATURE_CHECKS),
            metadata={"dagster/table_name": table, "from_obj": feature.from_obj,
                      "intervals": [str(i) for i in feature.interval_list]})
    def features(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, dates = context.resources.warehouse, dates_of(context)
        choices = resolve_choices(warehouse, feature)
        columns = fsql.feature_columns(feature, choices)
        names = [c.name for c in columns]
        flags = [c.flag for c in columns if c.flag]
        written = warehouse.replace_window_from(
            "features", feature.prefix, features_select(feature, choices, COHORT_TABLE, dates),
            "as_of_date", min(dates), max(dates),
            new_column_type=lambda n: "INTEGER" if n.endswith("_imp") else "DOUBLE PRECISION",
            verify=lambda conn: refuse_nulls(conn, table, columns, dates))
        return dg.MaterializeResult(
            metadata={"dagster/row_count": written, "as_of_dates": len(dates),
                      "features": len(names),
                      "feature_groups": dg.MetadataValue.json(
                          fsql.feature_groups(columns, list(config.feature_groups)))},
            check_results=_results(feature_checks(warehouse, table, COHORT_TABLE, names, flags, dates)))

    return features


def resolve_choices(warehouse, feature: FeatureConfig) -> dict[str, list]:
    """The choices of each categorical: as configured, or what its choice_query returns now."""
    choices = {}
    for cat in feature.categoricals:
        if cat.choices is not None:
            choices[cat.column] = cat.choices
        else:
            rows = warehouse.rows(cat.choice_query)
            choices[cat.column] = sorted({next(iter(r.values())) for r in rows} - {None}, key=str)
    return choices


def refuse_nulls(conn: sa.Connection, table: str, columns: list[fsql.Feature],
                 dates: list[dt.date]) -> None:
    """Imputation `error`: a NULL left in such a column fails the write, naming column and count."""
    strict = [c.name for c in columns if c.imputation.type == "error"]
    if not strict:
        return
    counts = ", ".join(f"sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END) AS {c}" for c in strict)
    row = conn.execute(sa.text(f"SELECT {counts} FROM {table} WHERE as_of_date BETWEEN :s AND :e"),
                       {"s": min(dates), "e": max(dates)}).mappings().one()
    bad = {c: int(n) for c, n in row.items() if n}
    if bad:
        raise dg.Failure(
            description="imputation rule 'error': cohort members without a value in "
            + ", ".join(f"{c} ({n})" for c, n in bad.items()) + "; nothing was written",
            allow_retries=False)
