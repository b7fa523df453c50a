"""The cohort and the labels of a range of as-of dates in one statement each, and when labels mature."""

import datetime as dt

from prodline.config import Cadence, Interval
from prodline.pipeline.sql import DATES, date_literal, dates_relation, per_date
from prodline.pipeline.tables import ONE, Tables, has_table


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


def newest_cohort_date(warehouse, tables: Tables = ONE) -> dt.date | None:
    if not has_table(warehouse, tables.cohort):
        return None
    return warehouse.scalar(f"SELECT max(as_of_date) FROM {tables.cohort}")


def labels_need_through(span: Interval, day: dt.date) -> dt.date:
    """Labels for D need every table the label reads loaded through D + timespan - 1 day."""
    return span.after(day) - dt.timedelta(days=1)


Dated = dict[str, tuple[str, str]]  # table as named -> (table that holds it, the column that dates rows)


def loaded_through(warehouse, reads: Dated) -> dict[str, dt.date | None]:
    """The newest day of each table (an observed table's newest date_column day)."""
    return {t: warehouse.scalar(f"SELECT max({day}) FROM {table}") for t, (table, day) in reads.items()}


def unripe_labels(warehouse, reads: Dated, span: Interval, dates: list[dt.date]) -> str | None:
    """Why some dates cannot be labelled yet judging by the data alone, or None (`prodline preview`
    says it; the assets judge by the partitions Dagster recorded: assets/completeness.py)."""
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


def periods_in(cadence: Cadence, start: dt.date, span: Interval) -> int:
    """How many as-of periods of `cadence` from `start` cover `span` (rounded up)."""
    step = {Cadence.daily: Interval.parse("1 day"), Cadence.weekly: Interval.parse("1 week"),
            Cadence.monthly: Interval.parse("1 month")}[cadence]
    goal, day, count = span.after(start), start, 0
    while day < goal:
        day, count = step.after(day), count + 1
    return count
