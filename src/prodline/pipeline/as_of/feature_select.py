"""The feature engine: every as-of date of a range in one SQL statement, raw events read once.

The obvious way (Triage's) runs one query per as-of date, each re-reading every event before it;
joining events to all the dates at once does the same work in one statement. Here the dates and
their window starts become cut points on the time axis, and each event falls in the bucket between
two cut points. Events are reduced to one row per entity and bucket (counts, sums, minima, maxima,
hits per choice); running totals per entity then give each window as a difference of two totals,
looked up with equality joins only, so DuckDB and PostgreSQL both use hash joins. Minima and maxima
of a bounded window, which running totals cannot give, are taken over the buckets inside it.

Only knowledge dates strictly before the as-of date count: a row known on D is not used for D.
"""

import bisect
import datetime as dt

import sqlalchemy as sa

from prodline.config import FeatureConfig, Interval, Metric
from prodline.pipeline.as_of.feature_columns import Feature, choice_values, feature_columns, imputed
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.sql import date_literal, string_literal

DOUBLE = "DOUBLE PRECISION"


def features_select(feature: FeatureConfig, choices: dict[str, list], cohort_table: str,
                    dates: list[dt.date]) -> str:
    """SELECT as_of_date, entity_id, <features>, <_imp flags> for the cohort on every date."""
    intervals = feature.interval_list
    finite = [i for i in intervals if not i.is_all]
    cuts = sorted(set(dates) | {i.before(d) for i in finite for d in dates})
    position = {p: n + 1 for n, p in enumerate(cuts)}  # bucket b holds cuts[b-1] <= kd < cuts[b]
    extremes = finite if _needs_extremes(feature) else []
    parts = _partials(feature, choices)
    ctes = [_bucketed(feature, parts, cuts, any(i.is_all for i in intervals)),
            _cumulative(parts, len(cuts)),
            _lookups(dates, finite, position),
            "spans AS (SELECT DISTINCT b, b_next FROM cum)",
            "serves AS (SELECT s.b, s.b_next, l.as_of_date, l.role FROM spans AS s "
            "JOIN look AS l ON l.m >= s.b AND l.m < s.b_next)",
            "at_cut AS MATERIALIZED (SELECT v.as_of_date, v.role, c.* FROM cum AS c "
            "JOIN serves AS v ON v.b = c.b AND v.b_next = c.b_next)"]
    if extremes:
        ctes += _bounded_extremes(feature, extremes, dates, position)
    joins = "".join(
        f"\nLEFT JOIN at_cut AS s_{i.label} ON s_{i.label}.role = '{i.label}' "
        f"AND s_{i.label}.as_of_date = d.as_of_date AND s_{i.label}.entity_id = d.entity_id"
        for i in finite)
    joins += "".join(f"\nLEFT JOIN x_{i.label} ON x_{i.label}.as_of_date = d.as_of_date "
                     f"AND x_{i.label}.entity_id = d.entity_id" for i in extremes)
    metrics = _metrics(feature, choices, intervals)
    aggregated = ("SELECT d.as_of_date, d.entity_id,\n       "
                  + ",\n       ".join(f"{sql} AS {name}" for name, sql in metrics)
                  + f"\nFROM at_cut AS d{joins}\nWHERE d.role = 'd'")
    columns = feature_columns(feature, choices)
    outer = ",\n       ".join(imputed(c) for c in columns)
    flags = "".join(f",\n       CASE WHEN a.{c.name} IS NULL THEN 1 ELSE 0 END AS {c.flag}"
                    for c in columns if c.flag)
    return ("WITH " + ",\n".join(ctes) + f",\naggregated AS (\n{aggregated}\n)\n"
            f"SELECT c.as_of_date, c.entity_id,\n       {outer}{flags}\n"
            f"FROM {cohort_table} AS c\n"
            f"LEFT JOIN aggregated AS a ON a.as_of_date = c.as_of_date AND a.entity_id = c.entity_id\n"
            f"WHERE c.as_of_date IN ({', '.join(date_literal(d) for d in dates)})")


def _needs_extremes(feature: FeatureConfig) -> bool:
    return any({Metric.min, Metric.max} & set(a.metrics) for a in feature.aggregates)


def _partials(feature: FeatureConfig, choices) -> dict[str, str]:
    """Partial aggregate per (entity, bucket), by name. Doubles throughout: PostgreSQL sums
    bigints into numerics, which is slow, and doubles count exactly far beyond any table here."""
    parts = {"n": f"CAST(count(*) AS {DOUBLE})"}
    for agg in feature.aggregates:
        q, wanted = _quantity(agg.expression), set(agg.metrics)
        parts[f"{agg.name}__cnt"] = f"CAST(count({q}) AS {DOUBLE})"
        if wanted & {Metric.sum, Metric.avg}:
            parts[f"{agg.name}__sum"] = f"sum({q})"
        if wanted & {Metric.stddev, Metric.variance}:
            # Shifted by the table's median, so that large values with a small spread keep precision.
            y = f"({q} - sh.{agg.name})"
            parts[f"{agg.name}__ysum"] = f"sum({y})"
            parts[f"{agg.name}__ysq"] = f"sum({y} * {y})"
        if Metric.min in wanted:
            parts[f"{agg.name}__min"] = f"min({q})"
        if Metric.max in wanted:
            parts[f"{agg.name}__max"] = f"max({q})"
    for cat in feature.categoricals:
        for choice, value in choice_values(feature, cat, choices):
            test = f"e.{cat.column} IS NULL" if value is None else f"e.{cat.column} = {string_literal(value)}"
            parts[f"{cat.column}__{choice}"] = f"sum(CASE WHEN {test} THEN 1.0 ELSE 0.0 END)"
    return parts


def _quantity(expression: str) -> str:
    # A plain column is qualified with the events alias; an expression is the user's own SQL.
    inner = f"e.{expression}" if expression.isidentifier() else f"({expression})"
    return f"CAST({inner} AS {DOUBLE})"


def _bucketed(feature: FeatureConfig, parts: dict[str, str], cuts: list[dt.date], has_all: bool) -> str:
    schema, table = feature.source
    kd = f"CAST(e.{feature.knowledge_date_column} AS DATE)"
    where = f"{kd} < {date_literal(cuts[-1])}" + ("" if has_all else f" AND {kd} >= {date_literal(cuts[0])}")
    # A calendar maps each day between the first and last cut to its bucket by equality; days
    # before the first cut (only read for `all`) fall in bucket 0.
    days = (cuts[-1] - cuts[0]).days
    calendar = ", ".join(f"({date_literal(cuts[0] + dt.timedelta(days=i))}, {_bucket(cuts, i)})"
                         for i in range(days))
    spread = [a for a in feature.aggregates if {Metric.stddev, Metric.variance} & set(a.metrics)]
    shift = ""
    if spread:
        # The median: a few extreme rows (a typo, a new row far out) cannot move it far.
        means = ", ".join(f"CAST(percentile_disc(0.5) WITHIN GROUP (ORDER BY {_quantity(a.expression)}) "
                          f"AS {DOUBLE}) AS {a.name}" for a in spread)
        shift = f"\nCROSS JOIN (SELECT {means} FROM {schema}.{table} AS e WHERE {where}) AS sh"
    return (f"bucketed AS MATERIALIZED (\nSELECT e.{feature.entity_column} AS entity_id, "
        "COALESCE(cal.b, 0) AS b,\n       "
        + ",\n       ".join(f"{sql} AS {name}" for name, sql in parts.items())
        + f"\nFROM {schema}.{table} AS e{shift}\n"
        f"LEFT JOIN (VALUES {calendar}) AS cal(day, b) ON cal.day = {kd}\n"
        f"WHERE {where}\nGROUP BY 1, 2\n)")


def _bucket(cuts: list[dt.date], offset: int) -> int:
    return bisect.bisect_right(cuts, cuts[0] + dt.timedelta(days=offset))


def _cumulative(parts: dict[str, str], buckets: int) -> str:
    """Running totals per entity (running min/max too, for `all`), and the next bucket it has."""
    window = "(PARTITION BY entity_id ORDER BY b ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    running = []
    for name in parts:
        kind = "min" if name.endswith("__min") else "max" if name.endswith("__max") else "sum"
        running.append(f"{kind}({name}) OVER {window} AS {name}")
    return ("cum AS (\nSELECT entity_id, b, "
            f"LEAD(b, 1, {buckets + 1}) OVER (PARTITION BY entity_id ORDER BY b) AS b_next,\n       "
            + ",\n       ".join(running) + "\nFROM bucketed\n)")


def _lookups(dates: list[dt.date], finite: list[Interval], position: dict) -> str:
    """The bucket whose running total to read: for D, the last before D ('d'); for a window
    starting at S = D - interval, the last before S (role = the interval's label)."""
    rows = [(d, "d", position[d] - 1) for d in dates]
    rows += [(d, i.label, position[i.before(d)] - 1) for i in finite for d in dates]
    values = ", ".join(f"({date_literal(d)}, '{role}', {m})" for d, role, m in rows)
    return f"look(as_of_date, role, m) AS (VALUES {values})"


def _bounded_extremes(feature: FeatureConfig, finite: list[Interval], dates, position) -> list[str]:
    """Min and max over the buckets inside each bounded window, from an equality join on the
    bucket: each bucket meets the windows (of one interval) that contain it."""
    ctes = []
    for i in finite:
        members = [(position[i.before(d)] + k, d) for d in dates
                   for k in range(position[d] - position[i.before(d)])]
        values = ", ".join(f"({b}, {date_literal(d)})" for b, d in members)
        columns = [f"{kind}(x.{agg.name}__{kind}) AS {agg.name}__{kind}"
                   for agg in feature.aggregates for kind in ("min", "max") if Metric(kind) in agg.metrics]
        ctes.append(f"x_{i.label} AS (SELECT w.as_of_date, x.entity_id, " + ", ".join(columns)
                    + f"\nFROM bucketed AS x JOIN (VALUES {values}) AS w(b, as_of_date) ON w.b = x.b"
                    "\nGROUP BY 1, 2)")
    return ctes


def _metrics(feature: FeatureConfig, choices, intervals: list[Interval]) -> list[tuple[str, str]]:
    """(column, SQL) per feature, from the window's partials (`d` minus `s_<interval>`)."""
    by_label = {i.label: i for i in intervals}
    metrics = []
    for column in feature_columns(feature, choices):
        interval = by_label[column.interval]

        def window(part: str, i: Interval = interval) -> str:
            return f"d.{part}" if i.is_all else f"(d.{part} - COALESCE(s_{i.label}.{part}, 0))"

        def extreme(name: str, kind: str, i: Interval = interval) -> str:
            return f"d.{name}__{kind}" if i.is_all else f"x_{i.label}.{name}__{kind}"

        metric = Metric(column.metric)
        sql = (_combine_choice(metric, window(column.partial), window("n")) if column.categorical
               else _combine(metric, column.partial, window, extreme))
        metrics.append((column.name, sql))
    return metrics


def _combine(metric: Metric, name: str, window, extreme) -> str:
    n, cnt = window("n"), window(f"{name}__cnt")
    if metric is Metric.count:
        return f"CASE WHEN {n} > 0 THEN {cnt} END"
    if metric is Metric.sum:
        return f"CASE WHEN {cnt} > 0 THEN {window(name + '__sum')} END"
    if metric is Metric.avg:
        return f"CASE WHEN {cnt} > 0 THEN {window(name + '__sum')} / {cnt} END"
    if metric in (Metric.min, Metric.max):
        return f"CASE WHEN {cnt} > 0 THEN {extreme(name, metric.value)} END"
    return _spread(metric, cnt, window(f"{name}__ysum"), window(f"{name}__ysq"))


def _spread(metric: Metric, n: str, s: str, q: str) -> str:
    # Sample variance from sums, (sum y^2 - (sum y)^2 / n) / (n - 1), as stddev_samp: NULL below two
    # values, and never below 0 (rounding).
    variance = f"CASE WHEN {n} > 1 THEN GREATEST(({q} - {s} * {s} / {n}) / ({n} - 1), 0) END"
    return variance if metric is Metric.variance else f"SQRT({variance})"


def _combine_choice(metric: Metric, hits: str, n: str) -> str:
    """Metrics of the 0/1 indicator `column = choice` over the window's events."""
    if metric in (Metric.count, Metric.sum):
        return f"CASE WHEN {n} > 0 THEN {hits} END"
    if metric is Metric.avg:
        return f"CASE WHEN {n} > 0 THEN {hits} / {n} END"
    if metric is Metric.max:
        return f"CASE WHEN {hits} > 0 THEN 1.0 WHEN {n} > 0 THEN 0.0 END"
    if metric is Metric.min:
        return f"CASE WHEN {hits} >= {n} AND {n} > 0 THEN 1.0 WHEN {n} > 0 THEN 0.0 END"
    # The indicator is 0 or 1, so the sum of its squares is the number of hits.
    return _spread(metric, n, hits, hits)


def refuse_nulls(conn: sa.Connection, table: str, columns: list[Feature], dates: list[dt.date]) -> None:
    """Imputation `error`: a NULL left in such a column fails the write, naming column and count."""
    strict = [c.name for c in columns if c.imputation.type == "error"]
    if not strict:
        return
    counts = ", ".join(f"sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END) AS {c}" for c in strict)
    row = conn.execute(sa.text(f"SELECT {counts} FROM {table} WHERE as_of_date BETWEEN :s AND :e"),
                       {"s": min(dates), "e": max(dates)}).mappings().one()
    bad = {c: int(n) for c, n in row.items() if n}
    if bad:
        raise StepRefused(
            "imputation rule 'error': cohort members without a value in "
            + ", ".join(f"{c} ({n})" for c, n in bad.items()) + "; nothing was written")
