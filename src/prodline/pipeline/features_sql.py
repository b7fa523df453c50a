"""Set-based SQL for cohort, labels and feature aggregations over a whole range of as-of dates.

One statement computes every as-of date of a range. Events are first reduced to one row per entity
and knowledge date (counts, sums, sums of squares, min, max, matches per choice); each interval's
metrics are then combined from those partial aggregates, so raw events are scanned once, not once
per date. Only knowledge dates strictly before the as-of date count: a row known on D is not used
for D.

The SQL is plain enough to run unchanged on DuckDB and PostgreSQL.
"""

import datetime as dt
from dataclasses import dataclass

from prodline.config import FeatureConfig, Imputation, Interval, Metric
from prodline.config.features import choice_name

DATES = "_asof"  # alias of the as-of dates relation inside generated SQL


def date_literal(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def string_literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def dates_relation(dates: list[dt.date], intervals: list[Interval] = ()) -> str:
    """`(VALUES ...) AS _asof(as_of_date, start_<label>...)`: each date with its window starts."""
    finite = [i for i in intervals if not i.is_all]
    rows = ", ".join(
        "(" + ", ".join([date_literal(d)] + [date_literal(i.before(d)) for i in finite]) + ")"
        for d in dates
    )
    names = ", ".join(["as_of_date"] + [f"start_{i.label}" for i in finite])
    return f"(VALUES {rows}) AS {DATES}({names})"


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
    null_choice: bool = False  # the null category of a categorical: 1 when the window is empty

    @property
    def flag(self) -> str | None:
        return f"{self.name}_imp" if self.imputation.flags else None


@dataclass(frozen=True)
class _Partial:
    """A partial aggregate per (entity, knowledge date), and how metrics combine it."""

    name: str
    sql: str


def feature_columns(feature: FeatureConfig, choices: dict[str, list]) -> list[Feature]:
    columns = []
    for interval in feature.interval_list:
        for agg in feature.aggregates:
            for metric in agg.metrics:
                columns.append(Feature(f"{feature.prefix}_{interval.label}_{agg.name}_{metric}",
                                       feature.imputation_for(metric, agg.imputation, False),
                                       feature.prefix, interval.label, metric.value))
        for cat in feature.categoricals:
            for metric in cat.metrics:
                rule = feature.imputation_for(metric, cat.imputation, True)
                for choice, value in _choice_values(cat.column, choices, feature, cat, metric):
                    columns.append(Feature(f"{feature.prefix}_{interval.label}_{cat.column}_"
                                           f"{choice}_{metric}", rule, feature.prefix, interval.label,
                                           metric.value, null_choice=value is None))
    return columns


def feature_groups(columns: list[Feature], by: list[str]) -> dict[str, list[str]]:
    """Named groups of feature columns, one per value of each dimension in `by` (prefix,
    interval, metric): `prefix:reg`, `interval:1y`, ... Model grids choose among these groups."""
    groups: dict[str, list[str]] = {}
    for dimension in by:
        for column in columns:
            groups.setdefault(f"{dimension}:{getattr(column, dimension)}", []).append(column.name)
    return groups


def features_select(feature: FeatureConfig, choices: dict[str, list], cohort_table: str,
                    dates: list[dt.date]) -> str:
    """SELECT as_of_date, entity_id, <features>, <_imp flags> for the cohort on every date."""
    intervals = feature.interval_list
    schema, table = feature.source
    partials, metrics = _partials_and_metrics(feature, choices, intervals)
    kd = f"CAST(e.{feature.knowledge_date_column} AS DATE)"
    earliest = _earliest(intervals, dates)
    where = f"{kd} < {date_literal(max(dates))}" + (f" AND {kd} >= {date_literal(earliest)}"
                                                      if earliest else "")
    daily = (f"SELECT e.{feature.entity_column} AS entity_id, {kd} AS kd,\n       "
             + ",\n       ".join(f"{p.sql} AS {p.name}" for p in partials)
             + f"\nFROM {schema}.{table} AS e\nWHERE {where}\nGROUP BY 1, 2")
    aggregated = (f"SELECT {DATES}.as_of_date, d.entity_id,\n       "
                  + ",\n       ".join(f"{sql} AS {name}" for name, sql in metrics)
                  + f"\nFROM daily AS d JOIN {dates_relation(dates, intervals)}\n"
                  f"  ON d.kd < {DATES}.as_of_date"
                  + (f" AND d.kd >= {DATES}.start_{max(intervals, key=_span).label}"
                     if all(not i.is_all for i in intervals) else "")
                  + "\nGROUP BY 1, 2")
    columns = feature_columns(feature, choices)
    outer = ",\n       ".join(_imputed(c) for c in columns)
    flags = "".join(f",\n       CASE WHEN a.{c.name} IS NULL THEN 1 ELSE 0 END AS {c.flag}"
                    for c in columns if c.flag)
    return (f"WITH daily AS (\n{daily}\n),\naggregated AS (\n{aggregated}\n)\n"
            f"SELECT c.as_of_date, c.entity_id,\n       {outer}{flags}\n"
            f"FROM {cohort_table} AS c\n"
            f"LEFT JOIN aggregated AS a ON a.as_of_date = c.as_of_date AND a.entity_id = c.entity_id\n"
            f"WHERE c.as_of_date IN ({', '.join(date_literal(d) for d in dates)})")


def _span(interval: Interval) -> dt.timedelta:
    reference = dt.date(2000, 1, 1)
    return reference - interval.before(reference)


def _earliest(intervals: list[Interval], dates: list[dt.date]) -> dt.date | None:
    if any(i.is_all for i in intervals):
        return None
    return min(i.before(min(dates)) for i in intervals)


def _partials_and_metrics(feature: FeatureConfig, choices: dict[str, list],
                          intervals: list[Interval]) -> tuple[list[_Partial], list[tuple[str, str]]]:
    partials = [_Partial("n", "count(*)")]
    metrics: list[tuple[str, str]] = []
    for agg in feature.aggregates:
        q = f"CAST({_quantity(agg.expression)} AS DOUBLE PRECISION)"
        wanted = set(agg.metrics)
        partials.append(_Partial(f"{agg.name}__cnt", f"count({q})"))
        if wanted & {Metric.sum, Metric.avg, Metric.stddev, Metric.variance}:
            partials.append(_Partial(f"{agg.name}__sum", f"sum({q})"))
        if wanted & {Metric.stddev, Metric.variance}:
            partials.append(_Partial(f"{agg.name}__sq", f"sum({q} * {q})"))
        if Metric.min in wanted:
            partials.append(_Partial(f"{agg.name}__min", f"min({q})"))
        if Metric.max in wanted:
            partials.append(_Partial(f"{agg.name}__max", f"max({q})"))
    for cat in feature.categoricals:
        for choice, value in _choice_values(cat.column, choices, feature, cat):
            test = f"e.{cat.column} IS NULL" if value is None else f"e.{cat.column} = {string_literal(value)}"
            partials.append(_Partial(f"{cat.column}__{choice}", f"sum(CASE WHEN {test} THEN 1 ELSE 0 END)"))
    for interval in intervals:
        inside = ("" if interval.is_all else f"d.kd >= {DATES}.start_{interval.label}")
        for agg in feature.aggregates:
            for metric in agg.metrics:
                name = f"{feature.prefix}_{interval.label}_{agg.name}_{metric}"
                metrics.append((name, _combine(metric, agg.name, inside)))
        for cat in feature.categoricals:
            for metric in cat.metrics:
                for choice, _ in _choice_values(cat.column, choices, feature, cat, metric):
                    name = f"{feature.prefix}_{interval.label}_{cat.column}_{choice}_{metric}"
                    metrics.append((name, _combine_choice(metric, f"{cat.column}__{choice}", inside)))
    return partials, metrics


def _choice_values(column, choices, feature, cat, metric=None):
    """(name, value) per choice; value None is the null category."""
    pairs = [(choice_name(c), c) for c in choices[column]]
    metric_list = [metric] if metric else cat.metrics
    if any(feature.imputation_for(m, cat.imputation, True).type == "null_category" for m in metric_list):
        pairs.append(("_null", None))
    return pairs


def _quantity(expression: str) -> str:
    # A plain column is qualified with the events alias; an expression is the user's own SQL.
    return f"e.{expression}" if expression.isidentifier() else f"({expression})"


def _in(inside: str, value: str) -> str:
    return f"CASE WHEN {inside} THEN {value} END" if inside else value


def _combine(metric: Metric, name: str, inside: str) -> str:
    cnt, total, sq = f"{name}__cnt", f"{name}__sum", f"{name}__sq"
    n = f"sum({_in(inside, 'd.' + cnt)})"
    s = f"sum({_in(inside, 'd.' + total)})"
    if metric is Metric.count:
        return f"CAST({n} AS DOUBLE PRECISION)"
    if metric is Metric.sum:
        return s
    if metric is Metric.avg:
        return f"{s} / NULLIF({n}, 0)"
    if metric is Metric.min:
        return f"min({_in(inside, 'd.' + name + '__min')})"
    if metric is Metric.max:
        return f"max({_in(inside, 'd.' + name + '__max')})"
    q = f"sum({_in(inside, 'd.' + sq)})"
    return _spread(metric, n, s, q)


def _spread(metric: Metric, n: str, s: str, q: str) -> str:
    # Sample variance from sums, (sum x^2 - (sum x)^2 / n) / (n - 1), as stddev_samp: NULL below two
    # values, and never below 0 (rounding).
    variance = f"CASE WHEN {n} > 1 THEN GREATEST(({q} - {s} * {s} / {n}) / ({n} - 1), 0) END"
    return variance if metric is Metric.variance else f"SQRT({variance})"


def _combine_choice(metric: Metric, partial: str, inside: str) -> str:
    """Metrics of the 0/1 indicator `column = choice` over the window's events."""
    hits = f"sum({_in(inside, 'd.' + partial)})"
    n = f"sum({_in(inside, 'd.n')})"
    if metric in (Metric.count, Metric.sum):
        return f"CAST({hits} AS DOUBLE PRECISION)"
    if metric is Metric.avg:
        return f"CAST({hits} AS DOUBLE PRECISION) / NULLIF({n}, 0)"
    if metric is Metric.max:
        return f"CASE WHEN {hits} > 0 THEN 1.0 WHEN {n} > 0 THEN 0.0 END"
    if metric is Metric.min:
        return f"CASE WHEN {hits} = {n} AND {n} > 0 THEN 1.0 WHEN {n} > 0 THEN 0.0 END"
    # The indicator is 0 or 1, so the sum of its squares is the number of hits.
    hits = f"CAST({hits} AS DOUBLE PRECISION)"
    return _spread(metric, n, hits, hits)


def _imputed(column: Feature) -> str:
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
