"""Data versions of as-of partitions: what a partition's rows are, as a short text that changes
when any of them changes (`Warehouse.day_fingerprints`, the same on DuckDB and PostgreSQL).

The as-of assets record each partition's version when they write it; a matrix is named by its
definition and the versions of every partition it reads; a prediction row keeps the versions of
the partitions it was scored on. All of them ask the warehouse, through `partition_versions`.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable

from prodline.pipeline.tables import has_table

EMPTY = "empty"  # the version of a partition without rows


def version_of(fingerprint: str) -> str:
    """A partition's version: a short hash of its fingerprint (row count and sum of row hashes)."""
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


def partitions(warehouse, table: str, dates: Iterable[dt.date]) -> dict[dt.date, tuple[str, int]]:
    """(version, row count) of each date's rows in `table` (EMPTY and 0 for a date without rows),
    in one query."""
    dates = sorted(set(dates))
    if not dates:
        return {}
    found = warehouse.day_fingerprints(table, "as_of_date", dates[0], dates[-1], portable=True) \
        if has_table(warehouse, table) else {}
    return {d: (version_of(found[d]), int(found[d].split(":")[0])) if d in found else (EMPTY, 0)
            for d in dates}


def partition_versions(warehouse, table: str, dates: Iterable[dt.date]) -> dict[dt.date, str]:
    """The version of each date's rows in `table`."""
    return {d: version for d, (version, _) in partitions(warehouse, table, dates).items()}


def versions_read(warehouse, tables: Iterable[str],
                  dates: Iterable[dt.date]) -> dict[str, dict[dt.date, str]]:
    """Per table, the version of each date: one query per table."""
    dates = sorted(set(dates))
    return {t: partition_versions(warehouse, t, dates) for t in tables}


def combined(versions: dict) -> str:
    """One version for several (a split's matrices, a run's partitions): a hash of them all."""
    text = json.dumps(versions, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
