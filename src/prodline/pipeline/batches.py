"""Gather the daily batches of a partition range, all or nothing."""

import datetime as dt
from collections.abc import Callable, Iterable

import pyarrow as pa

from prodline.config import SourceConfig
from prodline.pipeline.reading import BadInput, Batch
from prodline.pipeline.schema import LINEAGE


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
    kept, seen = [], None
    for batch in batches:
        clash = _keys_seen_before(batch, seen, source.primary_key)
        if clash:
            errors.append(BadInput(batch.where, clash))
            continue
        kept.append(batch)
        keys = batch.table.select(source.primary_key)
        seen = keys if seen is None else pa.concat_tables([seen, keys])
    return kept, errors


def _keys_seen_before(batch: Batch, seen: pa.Table | None, key: list[str]) -> list[str]:
    if seen is None or not batch.table.num_rows:
        return []
    mine = batch.table.select(key).append_column("_line", pa.array(batch.lines))
    both = mine.join(seen.group_by(key).aggregate([]), key, join_type="inner")
    if not both.num_rows:
        return []
    both = both.sort_by("_line")
    label = ", ".join(key)
    return [f"{batch.unit} {row['_line']}: {label} {', '.join(str(row[k]) for k in key)} was "
            "already loaded from an earlier day of this range" for row in both.to_pylist()]


def combine(batches: list[Batch], schema: pa.Schema) -> pa.Table:
    """One table of all batches with lineage columns (_datestamp, _source)."""
    tables = []
    for b in batches:
        n = b.table.num_rows
        lineage = [pa.repeat(pa.scalar(b.datestamp, LINEAGE["_datestamp"]), n),
                   pa.repeat(pa.scalar(b.where, LINEAGE["_source"]), n)]
        tables.append(pa.Table.from_arrays([*b.table.columns, *lineage], schema=schema))
    # One chunk per column: pyarrow 26's CSV writer emits zero bytes for tables whose columns
    # are chunked differently (header-only files give empty string chunks).
    return pa.concat_tables(tables).combine_chunks() if tables else schema.empty_table()
