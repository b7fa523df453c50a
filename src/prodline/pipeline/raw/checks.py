"""Checks on a raw table after a load: what the next stage relies on, with the evidence.

Each check reads the warehouse through `rows(sql, **params)` and `columns(schema, table)`, so the
same code runs on DuckDB and PostgreSQL.
"""

import datetime as dt

from prodline.config import SourceConfig
from prodline.pipeline.protocols import Queryable
from prodline.pipeline.raw.batches import days_between
from prodline.pipeline.raw.schema import LINEAGE, type_of_sql
from prodline.pipeline.verdict import Verdict

SAMPLE = 10  # offending rows shown as evidence


CHECKS = {
    "columns_match_config": "The table has the configured columns with their types.",
    "primary_key_unique": "No primary key appears twice, within the loaded days or against "
                          "earlier ones.",
    "dates_inside_partition": "Every row's date column falls inside the partition it was "
                              "loaded for.",
    "required_columns_not_null": "Required columns (and the primary key) have no nulls.",
    "rows_every_day": "Every day of the partition range has rows.",
}


def check_names(source: SourceConfig) -> list[str]:
    """The checks a source gets. An observed table (arrival: warehouse) is checked on what it
    declares: its partitions are its own dates, so no row can fall outside one."""
    skip = {"rows_every_day"} if not source.rows_every_day else set()
    if source.observed:
        skip |= {"dates_inside_partition"} | ({"columns_match_config"} if not source.columns else set())
        skip |= {"primary_key_unique"} if not source.primary_key else set()
        skip |= {"required_columns_not_null"} if not source.required_columns else set()
    return [n for n in CHECKS if n not in skip]


def run_checks(db: Queryable, table: str, source: SourceConfig,
               start: dt.date, end: dt.date) -> list[Verdict]:
    runners = {
        "columns_match_config": _columns_match_config,
        "primary_key_unique": _primary_key_unique,
        "dates_inside_partition": _dates_inside_partition,
        "required_columns_not_null": _required_columns_not_null,
        "rows_every_day": _rows_every_day,
    }
    return [runners[n](db, table, source, start, end) for n in check_names(source)]


def _columns_match_config(db, table, source, start, end) -> Verdict:
    schema, name = table.split(".")
    actual = db.columns(schema, name)
    expected = {c: col.type.value for c, col in source.columns.items()}
    if not source.observed:
        expected |= {c: "date" if c == "_datestamp" else "string" for c in LINEAGE}
    problems = []
    for col, kind in expected.items():
        if col not in actual:
            problems.append(f"{col} is missing")
        elif (found := type_of_sql(actual[col])) is None or found.value != kind:
            problems.append(f"{col} is {actual[col]}, expected {kind}")
    # A team's own table may hold more than the pipeline reads; a copied one holds only the config's.
    if not source.observed:
        problems += [f"{col} is not in the config" for col in actual if col not in expected]
    return Verdict("columns_match_config", not problems, "ERROR",
                   "; ".join(problems) or f"{len(expected)} columns as configured",
                   {"expected": expected, "actual": actual, "problems": problems})


def _primary_key_unique(db, table, source, start, end) -> Verdict:
    key, day = ", ".join(source.primary_key), source.day
    repeated = (f"SELECT {key} FROM {table} "
                f"JOIN (SELECT DISTINCT {key} FROM {table} WHERE {day} BETWEEN :start AND :end) "
                f"AS loaded USING ({key}) GROUP BY {key} HAVING count(*) > 1")
    dupes = db.rows(f"SELECT {key}, count(*) AS copies FROM {table} JOIN ({repeated}) AS r "
                    f"USING ({key}) GROUP BY {key} ORDER BY {key}", start=start, end=end)
    days = db.rows(f"SELECT DISTINCT {day} AS day FROM {table} JOIN ({repeated}) AS r USING ({key}) "
                   f"WHERE {day} BETWEEN :start AND :end", start=start, end=end) if dupes else []
    return Verdict("primary_key_unique", not dupes, "ERROR",
                   f"{len(dupes)} duplicated key(s) of ({key})" if dupes else f"({key}) unique",
                   {"duplicated_keys": len(dupes), "sample": jsonable(dupes[:SAMPLE]),
                    **failed_days(r["day"] for r in days)})


def _dates_inside_partition(db, table, source, start, end) -> Verdict:
    col, late = source.date_column, source.late_days
    outside = db.rows(
        f"SELECT _datestamp, {col}, _source FROM {table} "
        f"WHERE _datestamp BETWEEN :start AND :end AND (_datestamp - CAST({col} AS DATE) < 0 "
        f"OR _datestamp - CAST({col} AS DATE) > {int(late)}) ORDER BY _datestamp",
        start=start, end=end)
    return Verdict("dates_inside_partition", not outside, "ERROR",
                   f"{len(outside)} row(s) dated outside their partition" if outside
                   else f"all {col} inside their partition (late_days={late})",
                   {"rows_outside": len(outside), "sample": jsonable(outside[:SAMPLE]),
                    **failed_days(r["_datestamp"] for r in outside)})


def _required_columns_not_null(db, table, source, start, end) -> Verdict:
    required = source.required_columns
    counts = ", ".join(f"sum(CASE WHEN {c} IS NULL THEN 1 ELSE 0 END) AS {c}" for c in required)
    row = db.rows(f"SELECT {counts} FROM {table} WHERE {source.day} BETWEEN :start AND :end",
                  start=start, end=end)[0]
    nulls = {c: int(row[c] or 0) for c in required}
    bad = {c: n for c, n in nulls.items() if n}
    days = db.rows(f"SELECT DISTINCT {source.day} AS day FROM {table} WHERE {source.day} BETWEEN "
                   f":start AND :end AND ({' OR '.join(f'{c} IS NULL' for c in bad)})",
                   start=start, end=end) if bad else []
    return Verdict("required_columns_not_null", not bad, "ERROR",
                   ", ".join(f"{c}: {n} null(s)" for c, n in bad.items())
                   or f"{len(required)} required columns have no nulls",
                   {"nulls": nulls, **failed_days(r["day"] for r in days)})


def _rows_every_day(db, table, source, start, end) -> Verdict:
    day = source.day
    found = db.rows(f"SELECT DISTINCT {day} AS day FROM {table} WHERE {day} BETWEEN :start AND :end",
                    start=start, end=end)
    have = {r["day"] for r in found}
    empty = [d.isoformat() for d in days_between(start, end) if d not in have]
    return Verdict("rows_every_day", not empty, "ERROR",
                   f"{len(empty)} day(s) without rows" if empty else "rows on every day",
                   {"days_without_rows": empty[:100], "count": len(empty), **failed_days(empty)})


def failed_days(days) -> dict:
    """The days a failed check found at fault, every one of them (`failed_days`: the completeness
    rule holds back only these days when the check ran over a range of them)."""
    found = sorted({str(d)[:10] for d in days})
    return {"failed_days": found} if found else {}


def failed_by_day(verdicts: list[Verdict]) -> tuple[list[str], dict[str, list[str]]]:
    """Which checks a range failed on which day: (the failed checks that name no day, so fail
    every day of the range; {day: the checks that failed on it} for each day a check names)."""
    failed = [v for v in verdicts if not v.passed]
    everywhere = [v.check for v in failed if "failed_days" not in v.evidence]
    named = sorted({day for v in failed for day in v.evidence.get("failed_days", [])})
    return everywhere, {day: [v.check for v in failed if day in v.evidence.get("failed_days", [day])]
                        for day in named}


def jsonable(rows: list[dict]) -> list[dict]:
    return [{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in r.items()} for r in rows]
