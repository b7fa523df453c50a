"""The feature engine: every as-of date of a range in one SQL statement, raw events read once.

The obvious way (Triage's) runs one query per as-of date, each re-reading every event before it;
joining events to all the dates at once does the same work in one statement. Here the dates and
their window starts become cut points on the time axis, and each event falls in the bucket between
two cut points. Events are reduced to one row per entity and bucket (counts, sums, minima, maxima,
hits per choice); running totals per entity then give each window as a difference of two totals,
looked up with equality joins only, so DuckDB and PostgreSQL both use hash joins. Minima and maxima
of a bounded window, which running totals cannot give, are taken over the buckets inside it.

Only knowledge dates strictly before the as-of date count: a row known on D is not used for D, and
none before the temporal section's feature_start_time (Triage's input_min_date, on every window).
The values are Triage's (collate's SQL): see the README's parity table and tests/test_feature_parity.py.
"""

import bisect
import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from prodline.config import FeatureConfig, Metric
from prodline.config.features import INTEGER_TYPES, SAMPLE_SPREAD
from prodline.pipeline.as_of.feature_columns import (
    SECTIONS,
    Feature,
    feature_columns,
    flag_sources,
    imputed,
    quoted,
)
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.sql import date_literal, string_literal

DOUBLE = "DOUBLE PRECISION"


@dataclass(frozen=True)
class Buckets:
    """The time axis cut at the as-of dates and the window starts: bucket b holds the knowledge
    dates cuts[b-1] <= kd < cuts[b]; bucket 0 those before the first cut (read only for `all`)."""

    dates: tuple[dt.date, ...]
    cuts: tuple[dt.date, ...]
    finite: tuple[int, ...]  # the intervals that are not `all`, by position in the config
    has_all: bool
    starts: dict  # (interval k, as-of date) -> the window's first day
    spelled: dict  # interval as spelled in the config -> k, None for `all`

    @property
    def count(self) -> int:
        return len(self.cuts)

    def last_before(self, day: dt.date) -> int:
        """The last bucket before a cut: a running total up to it counts every kd < day."""
        return self.cuts.index(day)

    def interval_of(self, spelled: str) -> int | None:
        return self.spelled[spelled]


def buckets_of(feature: FeatureConfig, dates: list[dt.date]) -> Buckets:
    intervals = feature.interval_list
    finite = tuple(k for k, i in enumerate(intervals) if not i.is_all)
    starts = {(k, d): intervals[k].before(d) for k in finite for d in dates}
    return Buckets(tuple(sorted(set(dates))), tuple(sorted(set(dates) | set(starts.values()))), finite,
                   len(finite) < len(intervals), starts,
                   {s: (None if i.is_all else k)
                    for k, (s, i) in enumerate(zip(feature.intervals, intervals, strict=True))})


def features_select(feature: FeatureConfig, choices: dict[str, list], cohort_table: str,
                    dates: list[dt.date], feature_start_time: dt.date | None = None) -> str:
    """SELECT as_of_date, entity_id, <features>, <_imp flags> for the cohort on every date."""
    buckets = buckets_of(feature, dates)
    finite, has_all, starts, cuts = buckets.finite, buckets.has_all, buckets.starts, list(buckets.cuts)
    position = {p: n + 1 for n, p in enumerate(cuts)}  # bucket b holds cuts[b-1] <= kd < cuts[b]
    # Triage's row for an entity exists when it has an event in the widest window ('all', or from the
    # earliest window start): its counts are 0 where it has none in a narrower window, NULL otherwise.
    roles = {f"w{k}": {d: starts[k, d] for d in dates} for k in finite}
    if not has_all:
        roles["p"] = {d: min(starts[k, d] for k in finite) for d in dates}
    extremes = finite if _needs_extremes(feature) else []
    parts = _partials(feature, choices)
    ctes = ["bucketed AS MATERIALIZED (\n" + _bucketed(feature, parts, cuts, has_all, feature_start_time)
            + "\n)",
            _cumulative(parts, len(cuts)),
            _lookups(dates, roles, position),
            "spans AS (SELECT DISTINCT b, b_next FROM cum)",
            "serves AS (SELECT s.b, s.b_next, l.as_of_date, l.role FROM spans AS s "
            "JOIN look AS l ON l.m >= s.b AND l.m < s.b_next)",
            "at_cut AS MATERIALIZED (SELECT v.as_of_date, v.role, c.* FROM cum AS c "
            "JOIN serves AS v ON v.b = c.b AND v.b_next = c.b_next)"]
    if extremes:
        ctes += _bounded_extremes(feature, extremes, dates, starts, position)
    joins = "".join(
        f"\nLEFT JOIN at_cut AS s_{r} ON s_{r}.role = '{r}' "
        f"AND s_{r}.as_of_date = d.as_of_date AND s_{r}.entity_id = d.entity_id" for r in roles)
    joins += "".join(f"\nLEFT JOIN x_{k} ON x_{k}.as_of_date = d.as_of_date "
                     f"AND x_{k}.entity_id = d.entity_id" for k in extremes)
    columns = feature_columns(feature, choices)
    metrics = _metrics(feature, choices, columns, has_all)
    aggregated = ("SELECT d.as_of_date, d.entity_id,\n       "
                  + ",\n       ".join(f"{sql} AS f{n}" for n, sql in enumerate(metrics))
                  + f"\nFROM at_cut AS d{joins}\nWHERE d.role = 'd'")
    return ("WITH " + ",\n".join(ctes) + f",\naggregated AS (\n{aggregated}\n)\n"
            + imputed_select(columns, cohort_table, "aggregated", dates))


def imputed_select(columns: list[Feature], cohort_table: str, aggregated: str,
                   dates: list[dt.date]) -> str:
    """The feature table's rows: every cohort member on every date, each feature imputed from the
    f<n> of `aggregated` (as_of_date, entity_id, f0..fN; no row where an entity has no events).
    feature_windows.imputed_batches imputes the same way in memory."""
    index = {c.name: n for n, c in enumerate(columns)}
    outer = ",\n       ".join(f"{imputed(c, f'a.f{n}')} AS {quoted(c.name)}" for n, c in enumerate(columns))
    flags = "".join(f",\n       CASE WHEN a.f{index[source]} IS NULL THEN 1 ELSE 0 END "
                    f"AS {quoted(flag)}" for flag, source in flag_sources(columns).items())
    return (f"SELECT c.as_of_date, c.entity_id,\n       {outer}{flags}\n"
            f"FROM {cohort_table} AS c\n"
            f"LEFT JOIN {aggregated} AS a ON a.as_of_date = c.as_of_date AND a.entity_id = c.entity_id\n"
            f"WHERE c.as_of_date IN ({', '.join(date_literal(d) for d in dates)})")


def partials_select(feature: FeatureConfig, choices: dict[str, list], buckets: Buckets,
                    feature_start_time: dt.date | None = None) -> str:
    """The one pass over the events for `feature_windows`: entity_id (BIGINT), bucket b and every
    partial, one row per entity and bucket, none NULL (sums 0, minima +inf, maxima -inf where
    SQL's are NULL: the counts say so), so that each row has the same width on the wire."""
    parts = {}
    for name, sql in _partials(feature, choices, counts="INTEGER").items():
        fill = "'Infinity'" if name.endswith("_min") else "'-Infinity'" if name.endswith("_max") else "0"
        parts[name] = sql if sql.startswith("CAST(count(") else f"COALESCE({sql}, CAST({fill} AS {DOUBLE}))"
    # In entity order, each block of entities is a stretch of each chunk, seen without a copy
    # (PostgreSQL then aggregates by sorting, as fast here as hashing; feature_windows gathers rows
    # in any order, at the cost of a copy).
    return _bucketed(feature, parts, list(buckets.cuts), buckets.has_all, feature_start_time,
                     entity=f"CAST(e.{feature.entity_column} AS BIGINT)") + "\nORDER BY 1"


SPREAD = SAMPLE_SPREAD | {"stddev_pop", "var_pop"}


def feature_start(config) -> dt.date | None:
    """The temporal section's feature_start_time, which bounds every window (as in Triage)."""
    temporal = getattr(config, "temporal", None)
    return temporal.feature_start_time if temporal is not None else None


def _needs_extremes(feature: FeatureConfig) -> bool:
    return any({Metric.min, Metric.max} & set(a.metrics) for a in feature.aggregates)


def _partials(feature: FeatureConfig, choices, counts: str = DOUBLE) -> dict[str, str]:
    """Partial aggregate per (entity, bucket), by name. Counts are `counts`: doubles for the SQL
    engine, whose running totals PostgreSQL would sum into slow numerics from bigints (doubles
    count exactly far beyond any table here); integers for `feature_windows`, half the bytes."""
    parts = {"n": f"CAST(count(*) AS {counts})"}
    for i, agg in enumerate(feature.aggregates):
        wanted = {m.value for m in agg.metrics}
        for j, (_, expression) in enumerate(agg.quantities):
            k, q = f"a{i}_{j}", _quantity(expression)
            parts[f"{k}_cnt"] = f"CAST(count({'*' if expression.strip() == '*' else q}) AS {counts})"
            if wanted & {"sum", "avg"}:
                parts[f"{k}_sum"] = f"sum({q})"
            if wanted & SPREAD:
                # Shifted by the table's median, so that large values with a small spread keep precision.
                y = f"({q} - sh.{k})"
                parts[f"{k}_ysum"] = f"sum({y})"
                parts[f"{k}_ysq"] = f"sum({y} * {y})"
            if "min" in wanted:
                parts[f"{k}_min"] = f"min({q})"
            if "max" in wanted:
                parts[f"{k}_max"] = f"max({q})"
    for section in SECTIONS:
        for i, cat in enumerate(getattr(feature, section)):
            k, column = f"{section[0]}{i}", f"e.{cat.column}"
            # collate's quantity is (column = choice)::INT: NULL where the column is, so those events
            # count for no choice's average, minimum or count, only for `__NULL`.
            parts[f"{k}_nn"] = f"CAST(count({column}) AS {counts})"
            for j, choice in enumerate(choices[f"{section}.{i}"]):
                test = (f"{column} @> ARRAY[{string_literal(str(choice))}::varchar]" if section[0] == "a"
                        else f"{column} = {_literal(choice)}")
                parts[f"{k}_{j}"] = f"CAST(count(CASE WHEN {test} THEN 1 END) AS {counts})"
            parts[f"{k}_null"] = f"CAST(count(CASE WHEN {column} IS NULL THEN 1 END) AS {counts})"
    return parts


def _literal(choice) -> str:
    # collate quotes text and leaves numbers as they are.
    if isinstance(choice, bool):
        return "TRUE" if choice else "FALSE"
    return repr(choice) if isinstance(choice, int | float) else string_literal(str(choice))


def _quantity(expression: str) -> str:
    # A plain column is qualified with the events alias; an expression is the user's own SQL.
    if expression.strip() == "*":
        return "1.0"
    inner = f"e.{expression}" if expression.isidentifier() else f"({expression})"
    return f"CAST({inner} AS {DOUBLE})"


def _bucketed(feature: FeatureConfig, parts: dict[str, str], cuts: list[dt.date], has_all: bool,
              feature_start_time: dt.date | None, entity: str | None = None) -> str:
    kd = f"CAST(e.{feature.knowledge_date_column} AS DATE)"
    where = f"{kd} < {date_literal(cuts[-1])}" + ("" if has_all else f" AND {kd} >= {date_literal(cuts[0])}")
    if feature_start_time is not None:
        where += f" AND {kd} >= {date_literal(feature_start_time)}"
    # A calendar maps each day between the first and last cut to its bucket by equality; days
    # before the first cut (only read for `all`) fall in bucket 0.
    days = (cuts[-1] - cuts[0]).days
    calendar = ", ".join(f"({date_literal(cuts[0] + dt.timedelta(days=i))}, {_bucket(cuts, i)})"
                         for i in range(days))
    spread = [(f"a{i}_{j}", e) for i, a in enumerate(feature.aggregates)
              if SPREAD & {m.value for m in a.metrics} for j, (_, e) in enumerate(a.quantities)]
    shift = ""
    if spread:
        # The median: a few extreme rows (a typo, a new row far out) cannot move it far.
        means = ", ".join(f"COALESCE(CAST(percentile_disc(0.5) WITHIN GROUP (ORDER BY {_quantity(e)}) "
                          f"AS {DOUBLE}), 0) AS {k}" for k, e in spread)
        shift = f"\nCROSS JOIN (SELECT {means} FROM {feature.from_sql} WHERE {where}) AS sh"
    # One cut (a single date, `all` only): every event is before it, in bucket 0; no calendar.
    bucket = "COALESCE(cal.b, 0)" if calendar else "0"
    join = f"LEFT JOIN (VALUES {calendar}) AS cal(day, b) ON cal.day = {kd}\n" if calendar else ""
    entity = entity or f"e.{feature.entity_column}"
    return (f"SELECT {entity} AS entity_id, {bucket} AS b,\n       "
            + ",\n       ".join(f"{sql} AS {name}" for name, sql in parts.items())
            + f"\nFROM {feature.from_sql}{shift}\n{join}"
            f"WHERE {where}\nGROUP BY 1, 2")


def _bucket(cuts: list[dt.date], offset: int) -> int:
    return bisect.bisect_right(cuts, cuts[0] + dt.timedelta(days=offset))


def _cumulative(parts: dict[str, str], buckets: int) -> str:
    """Running totals per entity (running min/max too, for `all`), and the next bucket it has."""
    window = "(PARTITION BY entity_id ORDER BY b ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    running = []
    for name in parts:
        kind = "min" if name.endswith("_min") else "max" if name.endswith("_max") else "sum"
        running.append(f"{kind}({name}) OVER {window} AS {name}")
    return ("cum AS (\nSELECT entity_id, b, "
            f"LEAD(b, 1, {buckets + 1}) OVER (PARTITION BY entity_id ORDER BY b) AS b_next,\n       "
            + ",\n       ".join(running) + "\nFROM bucketed\n)")


def _lookups(dates: list[dt.date], roles: dict[str, dict], position: dict) -> str:
    """The bucket whose running total to read: for D, the last before D ('d'); for a window
    starting at S, the last before S (role w<k> for interval k, p for the widest window)."""
    rows = [(d, "d", position[d] - 1) for d in dates]
    rows += [(d, role, position[start] - 1)
             for role, by_date in roles.items() for d, start in by_date.items()]
    values = ", ".join(f"({date_literal(d)}, '{role}', {m})" for d, role, m in rows)
    return f"look(as_of_date, role, m) AS (VALUES {values})"


def _bounded_extremes(feature: FeatureConfig, finite: list[int], dates, starts, position) -> list[str]:
    """Min and max over the buckets inside each bounded window, from an equality join on the
    bucket: each bucket meets the windows (of one interval) that contain it."""
    ctes = []
    for k in finite:
        members = [(position[starts[k, d]] + n, d) for d in dates
                   for n in range(position[d] - position[starts[k, d]])]
        values = ", ".join(f"({b}, {date_literal(d)})" for b, d in members) or "(-1, DATE '1900-01-01')"
        columns = [f"{kind}(x.a{i}_{j}_{kind}) AS a{i}_{j}_{kind}"
                   for i, agg in enumerate(feature.aggregates) for j in range(len(agg.quantities))
                   for kind in ("min", "max") if Metric(kind) in agg.metrics]
        ctes.append(f"x_{k} AS (SELECT w.as_of_date, x.entity_id, " + ", ".join(columns)
                    + f"\nFROM bucketed AS x JOIN (VALUES {values}) AS w(b, as_of_date) ON w.b = x.b"
                    "\nGROUP BY 1, 2)")
    return ctes


def _metrics(feature: FeatureConfig, choices, columns: list[Feature], has_all: bool) -> list[str]:
    """SQL per feature, from the window's partials (`d` minus `s_w<k>`)."""
    by_spelling = {s: (None if i.is_all else k)
                   for k, (s, i) in enumerate(zip(feature.intervals, feature.interval_list, strict=True))}
    presence = ("d.n" if has_all else "(d.n - COALESCE(s_p.n, 0))") + " > 0"
    metrics = []
    for column in columns:
        k = by_spelling[column.interval]

        def window(part: str, k=k) -> str:
            return f"d.{part}" if k is None else f"(d.{part} - COALESCE(s_w{k}.{part}, 0))"

        def extreme(part: str, k=k) -> str:
            return f"d.{part}" if k is None else f"x_{k}.{part}"

        metric = column.metric
        if column.categorical:
            section = "categoricals" if column.source[0] == "c" else "array_categoricals"
            if column.null_choice:
                hits, events = window(f"{column.source}_null"), window("n")
            else:
                j = choices[f"{section}.{column.source[1:]}"].index(column.choice)
                hits, events = window(f"{column.source}_{j}"), window(f"{column.source}_nn")
            sql = _combine_choice(metric, hits, events, presence)
        else:
            sql = _combine(metric, column.source, window, extreme, presence)
        metrics.append(_cast(sql, column.coltype))
    return metrics


def _cast(sql: str, coltype: str | None) -> str:
    """Triage's `::coltype` on the aggregate: integers round half away from zero (a numeric's cast),
    `real` keeps single precision."""
    if coltype in INTEGER_TYPES:
        return f"SIGN({sql}) * FLOOR(ABS({sql}) + 0.5)"
    if coltype in ("real", "float4"):
        return f"CAST(CAST({sql} AS REAL) AS {DOUBLE})"
    return sql


def _combine(metric: str, name: str, window, extreme, presence: str) -> str:
    cnt = window(f"{name}_cnt")
    if metric == "count":
        return f"CASE WHEN {presence} THEN {cnt} END"
    if metric == "sum":
        return f"CASE WHEN {cnt} > 0 THEN {window(name + '_sum')} END"
    if metric == "avg":
        return f"CASE WHEN {cnt} > 0 THEN {window(name + '_sum')} / {cnt} END"
    if metric in ("min", "max"):
        return f"CASE WHEN {cnt} > 0 THEN {extreme(f'{name}_{metric}')} END"
    return _spread(metric, cnt, window(f"{name}_ysum"), window(f"{name}_ysq"))


def _spread(metric: str, n: str, s: str, q: str) -> str:
    # Variance from sums, (sum y^2 - (sum y)^2 / n) / (n - 1) for a sample (NULL below two values),
    # / n for a population (NULL without values); never below 0 (rounding).
    if metric in SAMPLE_SPREAD:
        variance = f"CASE WHEN {n} > 1 THEN GREATEST(({q} - {s} * {s} / {n}) / ({n} - 1), 0) END"
    else:
        # One value has no spread; the window's sums, differences of running totals, may not say so.
        variance = (f"CASE WHEN {n} = 1 THEN 0 WHEN {n} > 1 THEN "
                    f"GREATEST(({q} - {s} * {s} / {n}) / {n}, 0) END")
    return variance if metric.startswith("var") else f"SQRT({variance})"


def _combine_choice(metric: str, hits: str, events: str, presence: str) -> str:
    """Metrics of collate's indicator `(column = choice)::INT` over the window: `events` are those
    where it is not NULL, `hits` those where it is 1."""
    if metric == "count":
        return f"CASE WHEN {presence} THEN {events} END"
    if metric == "sum":
        return f"CASE WHEN {events} > 0 THEN {hits} END"
    if metric == "avg":
        return f"CASE WHEN {events} > 0 THEN {hits} / {events} END"
    if metric == "max":
        return f"CASE WHEN {hits} > 0 THEN 1.0 WHEN {events} > 0 THEN 0.0 END"
    if metric == "min":
        return f"CASE WHEN {hits} >= {events} AND {events} > 0 THEN 1.0 WHEN {events} > 0 THEN 0.0 END"
    # The indicator is 0 or 1, so the sum of its squares is the number of hits.
    return _spread(metric, events, hits, hits)


def refuse_nulls(conn: sa.Connection, table: str, columns: list[Feature], dates: list[dt.date]) -> None:
    """Imputation `error`: a NULL left in such a column fails the write, naming column and count."""
    strict = [c.name for c in columns if c.imputation.type == "error"]
    if not strict:
        return
    counts = ", ".join(f"sum(CASE WHEN {quoted(c)} IS NULL THEN 1 ELSE 0 END) AS n{i}"
                       for i, c in enumerate(strict))
    row = conn.execute(sa.text(f"SELECT {counts} FROM {table} WHERE as_of_date BETWEEN :s AND :e"),
                       {"s": min(dates), "e": max(dates)}).mappings().one()
    refuse_missing({c: int(row[f"n{i}"]) for i, c in enumerate(strict) if row[f"n{i}"]})


def refuse_missing(bad: dict[str, int]) -> None:
    """Imputation `error`, by column, the cohort members left without a value."""
    if bad:
        raise StepRefused(
            "imputation rule 'error': cohort members without a value in "
            + ", ".join(f"{c} ({n})" for c, n in bad.items()) + "; nothing was written")
