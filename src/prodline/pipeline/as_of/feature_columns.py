"""Set-based SQL for the cohort and labels over a whole range of as-of dates, and what the feature
engine (feature_engine.py) shares: feature columns, their groups and their imputation.

The SQL is plain enough to run unchanged on DuckDB and PostgreSQL.
"""

import datetime as dt
from dataclasses import dataclass

from prodline.config import FeatureConfig, Imputation, Interval
from prodline.config.features import choice_name

DATES = "_asof"  # alias of the as-of dates relation inside generated SQL


def date_literal(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def string_literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def dates_relation(dates: list[dt.date]) -> str:
    """`(VALUES ...) AS _asof(as_of_date)`: the as-of dates as a relation."""
    return f"(VALUES {', '.join(f'({date_literal(d)})' for d in dates)}) AS {DATES}(as_of_date)"


def per_date(sql: str, label_timespan: Interval | None = None) -> str:
    """A user's per-date SQL, with {as_of_date} bound to the as-of dates relation."""
    sql = sql.replace("{as_of_date}", f"{DATES}.as_of_date")
    if label_timespan is not None:
        sql = sql.replace("{label_timespan}", f"INTERVAL '{label_timespan}'")
    return sql.strip().rstrip(";")


def cohort_select(cohort_sql: str, dates: list[dt.date]) -> str:
    return (f"SELECT DISTINCT CAST({DATES}.as_of_date AS DATE) AS as_of_date, c.entity_id\n"
            f"FROM {dates_relation(dates)}\n"
            f"CROSS JOIN LATERAL ({per_date(cohort_sql)}) AS c")


def per_date_select(sql: str, dates: list[dt.date]) -> str:
    """A user's per-date query run for each date in one statement, with the date as a column."""
    return (f"SELECT CAST({DATES}.as_of_date AS DATE) AS as_of_date, q.*\n"
            f"FROM {dates_relation(dates)}\n"
            f"CROSS JOIN LATERAL ({per_date(sql)}) AS q")


def labels_select(label_sql: str, timespan: Interval, name: str, cohort_table: str,
                  dates: list[dt.date]) -> str:
    """Every cohort member of each date, with its outcome; NULL where the label query has none."""
    return (f"SELECT c.as_of_date, c.entity_id, CAST(l.outcome AS INTEGER) AS {name}\n"
            f"FROM {cohort_table} AS c\n"
            f"LEFT JOIN (SELECT CAST({DATES}.as_of_date AS DATE) AS as_of_date, x.entity_id, x.outcome\n"
            f"           FROM {dates_relation(dates)}\n"
            f"           CROSS JOIN LATERAL ({per_date(label_sql, timespan)}) AS x) AS l\n"
            f"  ON l.as_of_date = c.as_of_date AND l.entity_id = c.entity_id\n"
            f"WHERE c.as_of_date IN ({', '.join(date_literal(d) for d in dates)})")


@dataclass(frozen=True)
class Feature:
    """One output column and how it is filled when the window is empty."""

    name: str
    imputation: Imputation
    prefix: str
    interval: str  # its label: 30d, 1y, all
    metric: str
    partial: str  # the partial aggregate it is computed from: the quantity, or `<column>__<choice>`
    categorical: bool = False
    null_choice: bool = False  # the null category of a categorical: 1 when the window is empty

    @property
    def flag(self) -> str | None:
        return f"{self.name}_imp" if self.imputation.flags else None


def feature_columns(feature: FeatureConfig, choices: dict[str, list]) -> list[Feature]:
    columns = []
    for interval in feature.interval_list:
        for agg in feature.aggregates:
            for metric in agg.metrics:
                columns.append(Feature(feature.column_name(interval, agg.name, metric),
                                       feature.imputation_for(metric, agg.imputation, False),
                                       feature.prefix, interval.label, metric.value, agg.name))
        for cat in feature.categoricals:
            for metric in cat.metrics:
                rule = feature.imputation_for(metric, cat.imputation, True)
                for choice, value in choice_values(feature, cat, choices, metric):
                    columns.append(Feature(feature.column_name(interval, f"{cat.column}_{choice}", metric),
                                           rule, feature.prefix, interval.label, metric.value,
                                           f"{cat.column}__{choice}", categorical=True,
                                           null_choice=value is None))
    return columns


def feature_groups(columns: list[Feature], by: list[str]) -> dict[str, list[str]]:
    """Named groups of feature columns, one per value of each dimension in `by` (prefix,
    interval, metric): `prefix:reg`, `interval:1y`, ... Model grids choose among these groups."""
    groups: dict[str, list[str]] = {}
    for dimension in by:
        for column in columns:
            groups.setdefault(f"{dimension}:{getattr(column, dimension)}", []).append(column.name)
    return groups


def choice_values(feature: FeatureConfig, cat, choices: dict[str, list], metric=None) -> list[tuple]:
    """(name, value) per choice of a categorical; value None is the null category, added when
    the metric (or any of its metrics) imputes with null_category."""
    pairs = [(choice_name(c), c) for c in choices[cat.column]]
    metrics = [metric] if metric else cat.metrics
    if any(feature.imputation_for(m, cat.imputation, True).type == "null_category" for m in metrics):
        pairs.append(("_null", None))
    return pairs


def imputed(column: Feature) -> str:
    value, rule = f"a.{column.name}", column.imputation
    if rule.type in ("zero", "zero_noflag"):
        filled = f"COALESCE({value}, 0)"
    elif rule.type == "constant":
        filled = f"COALESCE({value}, {float(rule.value)!r})"
    elif rule.type == "mean":
        # The mean over the date's cohort members that have a value; 0 when nobody has one.
        filled = f"COALESCE({value}, AVG({value}) OVER (PARTITION BY c.as_of_date), 0)"
    elif rule.type == "null_category":
        filled = f"COALESCE({value}, {1 if column.null_choice else 0})"
    else:  # error: left NULL here; the asset refuses to write a range with any
        filled = value
    return f"CAST({filled} AS DOUBLE PRECISION) AS {column.name}"
