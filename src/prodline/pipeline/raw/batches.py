"""Gather the daily batches of a partition range, all or nothing."""

import datetime as dt
from collections.abc import Callable, Iterable

import pyarrow as pa

from prodline.config import SourceConfig
from prodline.pipeline.raw.key_clashes import HeldKeys, held_elsewhere, merged, repeated_in_range
from prodline.pipeline.raw.reading import BadInput, Batch, all_pass, check_rows
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
    days: Iterable[dt.date], read_one: Callable[[dt.date], Batch], source: SourceConfig,
    held: HeldKeys | None = None,
) -> tuple[list[Batch], list[BadInput]]:
    """Read every day; a day that fails becomes an error, and so does a day that breaks a row rule
    (`check_rows`), repeats a key of an earlier day of the range or, if `held` is given, of a day
    already loaded outside it. The row rules and the range's own keys are looked at over the whole
    range first; day by day, for the lines to name, only when that look finds something."""
    read: list[Batch | BadInput] = []
    for day in days:
        try:
            read.append(read_one(day))
        except BadInput as err:
            read.append(err)
    clean = all_pass([r for r in read if isinstance(r, Batch)], source)
    if not clean:
        read = [_checked(r, source) if isinstance(r, Batch) else r for r in read]
    batches = [r for r in read if isinstance(r, Batch)]
    errors = [r for r in read if isinstance(r, BadInput)]
    key = source.primary_key
    clashes = merged({} if clean else repeated_in_range(batches, key),
                     held_elsewhere(batches, key, held) if held is not None else {})
    errors += [BadInput(batches[i].where, lines, more) for i, (lines, more) in sorted(clashes.items())]
    return [b for i, b in enumerate(batches) if i not in clashes], errors


def _checked(batch: Batch, source: SourceConfig) -> Batch | BadInput:
    try:
        return check_rows(batch, source)
    except BadInput as err:
        return err


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
