"""Gather the daily batches of a partition range, all or nothing."""

import datetime as dt
from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from prodline.config import SourceConfig
from prodline.pipeline.raw.reading import BadInput, Batch, rows_with_repeated_keys
from prodline.pipeline.raw.schema import LINEAGE


class RangeRefused(Exception):
    """Some days of a range cannot be loaded; nothing of the range is."""

    def __init__(self, source: str, errors: list[BadInput]):
        self.source = source
        self.errors = errors
        listing = "\n".join(str(e) for e in errors)
        super().__init__(f"{source}: {len(errors)} input(s) refused, nothing loaded\n{listing}")


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def collect(
    days: Iterable[dt.date], read_one: Callable[[dt.date], Batch], source: SourceConfig
) -> tuple[list[Batch], list[BadInput]]:
    """Read every day; a day that fails, or repeats an earlier day's key, becomes an error."""
    batches, errors = [], []
    for day in days:
        try:
            batches.append(read_one(day))
        except BadInput as err:
            errors.append(err)
    clashes = _keys_seen_before(batches, source.primary_key)
    errors += [BadInput(batches[i].where, found) for i, found in sorted(clashes.items())]
    return [b for i, b in enumerate(batches) if i not in clashes], errors


def _keys_seen_before(batches: list[Batch], key: list[str]) -> dict[int, list[str]]:
    """Rows whose key an earlier batch of the range already has, by batch index (one pass)."""
    if len(batches) < 2:
        return {}
    keys = pa.concat_tables(
        b.table.select(key)
        .append_column("_batch", pa.repeat(pa.scalar(i, pa.int32()), len(b.table)))
        .append_column("_line", pa.array(b.lines, pa.int64()))
        for i, b in enumerate(batches)
    )
    repeated = rows_with_repeated_keys(keys, key)
    if repeated is None:
        return {}
    first = repeated.group_by(key).aggregate([("_batch", "min")])
    later = repeated.join(first, key, join_type="inner")
    later = later.filter(pc.greater(later["_batch"], later["_batch_min"])).sort_by(
        [("_batch", "ascending"), ("_line", "ascending")]
    )
    found: dict[int, list[str]] = {}
    label = ", ".join(key)
    for row in later.to_pylist():
        batch = batches[row["_batch"]]
        found.setdefault(row["_batch"], []).append(
            f"{batch.unit} {row['_line']}: {label} {', '.join(str(row[k]) for k in key)} was "
            "already loaded from an earlier day of this range"
        )
    return found


def combine(batches: list[Batch], schema: pa.Schema) -> pa.Table:
    """One table of all batches with lineage columns (_datestamp, _source)."""
    tables = []
    for b in batches:
        n = b.table.num_rows
        lineage = [
            pa.repeat(pa.scalar(b.datestamp, LINEAGE["_datestamp"]), n),
            pa.repeat(pa.scalar(b.where, LINEAGE["_source"]), n),
        ]
        tables.append(pa.Table.from_arrays([*b.table.columns, *lineage], schema=schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()
