"""Keys that the days of a range repeat from one another or from days already loaded.

A key must identify one row of a raw table across all its days. A day that repeats a key is refused
before anything is written, with the line, the key and the day that has it first: found in memory
among the days of the range, and in the warehouse (`HeldKeys`, one query per range) among the days
loaded before, outside the range. The range's own days are left out of that look-up, since loading
replaces them: loading a day again with the same file is no clash.
"""

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from prodline.pipeline.raw.reading import Batch, rows_with_repeated_keys, shown

# Given a range's keys (`keys_of`): those a day outside the range already holds, the first
# MAX_LISTED of each batch, each with its `_batch`, `_line`, `_held_on` (that day) and `_hits` (how
# many rows of its batch are held in all). `prodline.stores.warehouse.Warehouse.keys_elsewhere`.
HeldKeys = Callable[[pa.Table], list[dict]]

# Batch index -> (one line per clash listed, how many more clashes were found but not listed).
Clashes = dict[int, tuple[list[str], int]]


def keys_of(batches: list[Batch], key: list[str]) -> pa.Table:
    """The key columns of every batch, with the batch's index (`_batch`) and each row's `_line`."""
    return pa.concat_tables(
        b.table.select(key)
        .append_column("_batch", pa.repeat(pa.scalar(i, pa.int32()), len(b.table)))
        .append_column("_line", pa.array(b.lines, pa.int64()))
        for i, b in enumerate(batches)
    )


def repeated_in_range(batches: list[Batch], key: list[str]) -> Clashes:
    """Rows whose key an earlier batch of the range already has (one pass, in memory)."""
    if len(batches) < 2 or not key:
        return {}
    repeated = rows_with_repeated_keys(keys_of(batches, key), key)
    if repeated is None:
        return {}
    first = repeated.group_by(key).aggregate([("_batch", "min")])
    later = repeated.join(first, key, join_type="inner")
    later = later.filter(pc.greater(later["_batch"], later["_batch_min"])).sort_by(
        [("_batch", "ascending"), ("_line", "ascending")]
    )
    found: Clashes = {}
    for row in later.to_pylist():
        found.setdefault(row["_batch"], ([], 0))[0].append(
            _described(batches[row["_batch"]], row, key, "from an earlier day of this range"))
    return found


def held_elsewhere(batches: list[Batch], key: list[str], held: HeldKeys) -> Clashes:
    """Rows whose key `held` finds on a day already loaded outside the range: the first few of
    each batch, and how many more there are."""
    if not batches or not key:  # a source without a primary key is not checked
        return {}
    found: Clashes = {}
    for row in held(keys_of(batches, key)):
        batch = batches[row["_batch"]]
        side = "an earlier day" if row["_held_on"] < batch.datestamp else "a later day"
        lines, _ = found.get(row["_batch"], ([], 0))
        lines.append(_described(batch, row, key, f"on {row['_held_on']}, {side}"))
        found[row["_batch"]] = (lines, row["_hits"] - len(lines))
    return found


def merged(*found: Clashes) -> Clashes:
    """The clashes of each batch, all kinds together."""
    out: Clashes = {}
    for clashes in found:
        for i, (lines, more) in clashes.items():
            have, more_before = out.get(i, ([], 0))
            out[i] = (have + lines, more_before + more)
    return out


def _described(batch: Batch, row: dict, key: list[str], where: str) -> str:
    """One problem line: `line 7: person_id 1234 was already loaded <where>`."""
    values = ", ".join(shown(row[k]) for k in key)
    return f"{batch.unit} {row['_line']}: {', '.join(key)} {values} was already loaded {where}"
