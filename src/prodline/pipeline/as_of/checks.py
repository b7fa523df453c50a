"""Checks on the as-of tables (cohort, labels, features) after a range is written.

Like the raw checks, each reads the warehouse through `rows(sql, **params)` and runs unchanged on
DuckDB and PostgreSQL; each returns a Verdict with its evidence.
"""

import datetime as dt

from prodline.pipeline.protocols import Queryable
from prodline.pipeline.raw.checks import SAMPLE, jsonable
from prodline.pipeline.verdict import Verdict

COHORT_CHECKS = {
    "cohort_not_empty": "Every as-of date of the range has someone in the cohort.",
    "one_row_per_entity": "No entity appears twice on the same as-of date.",
}
LABEL_CHECKS = {
    "labels_match_cohort": "One label row per cohort member and date, none for anyone else.",
    "outcome_is_binary": "Every outcome is 0, 1 or (for members without a label) NULL.",
}
FEATURE_CHECKS = {
    "rows_match_cohort": "One row per cohort member and date, none for anyone else.",
    "no_column_all_null": "No feature column is entirely NULL, or entirely imputed, on any date.",
    "imputation_applied": "No feature value is NULL after imputation.",
}


def _window(start: dt.date, end: dt.date) -> dict:
    return {"start": start, "end": end}


def cohort_checks(db: Queryable, table: str, dates: list[dt.date]) -> list[Verdict]:
    start, end = min(dates), max(dates)
    sizes = {r["as_of_date"]: r["n"] for r in db.rows(
        f"SELECT as_of_date, count(*) AS n FROM {table} WHERE as_of_date BETWEEN :start AND :end "
        "GROUP BY as_of_date", **_window(start, end))}
    empty = [d.isoformat() for d in dates if not sizes.get(d)]
    twice = _repeated(db, table, start, end)
    return [
        Verdict("cohort_not_empty", not empty, "ERROR",
                f"{len(empty)} as-of date(s) with an empty cohort" if empty
                else f"{min(sizes.values())} to {max(sizes.values())} members per date",
                {"empty_dates": empty, "sizes": {d.isoformat(): n for d, n in sorted(sizes.items())}}),
        Verdict("one_row_per_entity", not twice, "ERROR",
                f"{len(twice)} entity-date(s) repeated" if twice else "no entity repeated",
                {"repeated": len(twice), "sample": jsonable(twice[:SAMPLE])}),
    ]


def _repeated(db: Queryable, table: str, start, end) -> list[dict]:
    """(as_of_date, entity_id, copies) of entities that appear more than once on a date."""
    return db.rows(
        f"SELECT as_of_date, entity_id, count(*) AS copies FROM {table} "
        "WHERE as_of_date BETWEEN :start AND :end GROUP BY as_of_date, entity_id "
        "HAVING count(*) > 1 ORDER BY as_of_date, entity_id", **_window(start, end))


def _against_cohort(db: Queryable, table: str, cohort: str, start, end) -> tuple[list, list, list]:
    window = "BETWEEN :start AND :end"
    missing = db.rows(
        f"SELECT c.as_of_date, c.entity_id FROM {cohort} c LEFT JOIN {table} t "
        "ON t.as_of_date = c.as_of_date AND t.entity_id = c.entity_id "
        f"WHERE c.as_of_date {window} AND t.entity_id IS NULL ORDER BY 1, 2", **_window(start, end))
    outside = db.rows(
        f"SELECT t.as_of_date, t.entity_id FROM {table} t LEFT JOIN {cohort} c "
        "ON t.as_of_date = c.as_of_date AND t.entity_id = c.entity_id "
        f"WHERE t.as_of_date {window} AND c.entity_id IS NULL ORDER BY 1, 2", **_window(start, end))
    return missing, outside, _repeated(db, table, start, end)


def _matches_cohort(name: str, db, table, cohort, start, end) -> Verdict:
    missing, outside, twice = _against_cohort(db, table, cohort, start, end)
    problems = [f"{len(rows)} {what}" for rows, what in
                ((missing, "cohort member-date(s) missing"), (outside, "row(s) for non-members"),
                 (twice, "member-date(s) repeated")) if rows]
    return Verdict(name, not problems, "ERROR", "; ".join(problems) or "one row per cohort member and date",
                   {"missing": len(missing), "outside_cohort": len(outside), "repeated": len(twice),
                    "sample_missing": jsonable(missing[:SAMPLE]),
                    "sample_outside": jsonable(outside[:SAMPLE])})


def label_checks(db: Queryable, table: str, cohort: str, name: str,
                 dates: list[dt.date]) -> list[Verdict]:
    start, end = min(dates), max(dates)
    counts = db.rows(f"SELECT {name} AS value, count(*) AS n FROM {table} WHERE as_of_date BETWEEN "
                     f":start AND :end GROUP BY {name} ORDER BY {name}", **_window(start, end))
    odd = [r for r in counts if r["value"] not in (0, 1, None)]
    return [
        _matches_cohort("labels_match_cohort", db, table, cohort, start, end),
        Verdict("outcome_is_binary", not odd, "ERROR",
                f"{sum(r['n'] for r in odd)} outcome(s) not 0/1" if odd else "outcomes are 0, 1 or NULL",
                {"counts": {str(r["value"]): r["n"] for r in counts}, "odd": jsonable(odd)}),
    ]


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def feature_checks(db: Queryable, table: str, cohort: str, features: list[str], flags: list[str],
                   dates: list[dt.date]) -> list[Verdict]:
    """`flags` are the `_imp` columns: a column imputed for every member is as empty as NULL."""
    start, end = min(dates), max(dates)
    # Quoted: Triage's feature names hold spaces, `::` and capitals.
    nulls = [f"sum(CASE WHEN {quoted(f)} IS NULL THEN 1 ELSE 0 END) AS {quoted(f)}" for f in features]
    imputed = [f"sum({quoted(f)}) AS {quoted(f)}" for f in flags]
    per_date = db.rows(f"SELECT as_of_date, count(*) AS _rows, {', '.join(nulls + imputed)} "
                       f"FROM {table} WHERE as_of_date BETWEEN :start AND :end "
                       "GROUP BY as_of_date ORDER BY 1", **_window(start, end))

    def for_everyone(names: list[str]) -> list[str]:
        return sorted({f"{f.removesuffix('_imp')} on {r['as_of_date']}" for r in per_date
                       for f in names if r["_rows"] and r[f] == r["_rows"]})

    null, imputed_for_all = for_everyone(features), for_everyone(flags)
    with_nulls = {f: sum(int(r[f] or 0) for r in per_date) for f in features}
    with_nulls = {f: n for f, n in with_nulls.items() if n}
    return [
        _matches_cohort("rows_match_cohort", db, table, cohort, start, end),
        # Entirely NULL blocks; entirely imputed (no history yet, say) is a warning.
        Verdict("no_column_all_null", not null and not imputed_for_all, "WARN" if not null else "ERROR",
                f"{len(null)} column-date(s) entirely NULL" if null
                else f"{len(imputed_for_all)} column-date(s) imputed for every member" if imputed_for_all
                else f"{len(features)} columns have values on every date",
                {"entirely_null": null[:50], "entirely_imputed": imputed_for_all[:50]}),
        Verdict("imputation_applied", not with_nulls, "ERROR",
                f"{len(with_nulls)} column(s) with NULLs left" if with_nulls
                else "no NULL left after imputation",
                {"nulls_by_column": dict(list(with_nulls.items())[:50])}),
    ]
