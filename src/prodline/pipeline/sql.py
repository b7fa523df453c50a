"""SQL text the library builds from a user's per-date SQL, in the dialect DuckDB and PostgreSQL share.

A user's query names `{as_of_date}` (and `{label_timespan}`); bound to a relation of as-of dates
with a lateral join, one statement computes every date of a range.
"""

import datetime as dt

from prodline.config import Interval
from prodline.config.base import bind_as_of_date, bind_label_timespan

DATES = "_asof"  # alias of the as-of dates relation inside generated SQL


def date_literal(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def string_literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def dates_relation(dates: list[dt.date]) -> str:
    """`(VALUES ...) AS _asof(as_of_date)`: the as-of dates as a relation."""
    return f"(VALUES {', '.join(f'({date_literal(d)})' for d in dates)}) AS {DATES}(as_of_date)"


def per_date(sql: str, label_timespan: Interval | None = None) -> str:
    """A user's per-date SQL, with {as_of_date} bound to the as-of dates relation (Triage's quoted
    '{as_of_date}' too: see config.base.bind_as_of_date)."""
    sql = bind_as_of_date(sql, f"{DATES}.as_of_date")
    if label_timespan is not None:
        sql = bind_label_timespan(sql, str(label_timespan))
    return sql.strip().rstrip(";")


def per_date_select(sql: str, dates: list[dt.date]) -> str:
    """A user's per-date query run for each date in one statement, with the date as a column."""
    return (f"SELECT CAST({DATES}.as_of_date AS DATE) AS as_of_date, q.*\n"
            f"FROM {dates_relation(dates)}\n"
            f"CROSS JOIN LATERAL ({per_date(sql)}) AS q")
