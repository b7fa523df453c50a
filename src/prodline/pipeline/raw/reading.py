"""Turn a landing file (or a query result) into a typed batch, or say exactly what is wrong.

CSV files are parsed as text first, so that a bad value is reported with its line instead of
failing a whole cast; row-level rules then run vectorised on the Arrow table.
"""

import contextlib
import csv
import datetime as dt
import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from prodline.config import ColumnType, SourceConfig
from prodline.pipeline.raw.landing import NotRegular, open_regular
from prodline.pipeline.raw.schema import ARROW, TEXT_PATTERN, TYPE_WORD, arrow_schema

MAX_LISTED = 20  # problems listed per file; the rest are counted


@dataclass(frozen=True)
class Batch:
    """Rows for one datestamp, typed as the config says, with where each row came from."""

    where: str
    datestamp: dt.date
    table: pa.Table
    lines: np.ndarray  # line in the file (CSV) or row number (Parquet, query), per row
    unit: str = "line"


class BadInput(Exception):
    """Input that must not be loaded; `problems` says what and where, one line each, and
    `unlisted` counts further problems found but not spelled out (the warehouse lists only the
    first few keys it already holds)."""

    def __init__(self, where: str, problems: list[str], unlisted: int = 0):
        self.where = where
        self.problems = problems
        listed = problems[:MAX_LISTED]
        more = len(problems) - len(listed) + unlisted
        listing = "\n".join(f"  {p}" for p in listed) + (f"\n  ... and {more} more" if more else "")
        super().__init__(f"{where}:\n{listing}")


def read_file(path: Path, source: SourceConfig, datestamp: dt.date, where: str,
              row_rules: bool = True) -> Batch:
    """A day's file as a typed batch, or BadInput. `row_rules=False` leaves the row rules to the
    caller (`prodline.pipeline.raw.batches.collect` applies them to a whole range at once)."""
    try:
        with open_regular(path) as handle:
            data = handle.read()
    except NotRegular as err:
        raise BadInput(where, [str(err)]) from None
    if path.suffix == ".parquet":
        batch = _read_parquet(data, source, datestamp, where)
    else:
        batch = _read_csv(data, source, datestamp, where)
    return check_rows(batch, source) if row_rules else batch


def _read_csv(data: bytes, source: SourceConfig, datestamp: dt.date, where: str) -> Batch:
    if not data.strip():
        raise BadInput(
            where, ["line 1: the file is empty; expected a header line with " + ", ".join(source.columns)]
        )
    first_line = _header_text(data.split(b"\n", 1)[0], where)
    header = [h.strip() for h in next(csv.reader([first_line]))]
    _check_header(header, source, where)
    # Fast path: let Arrow parse the declared types directly. Anything it refuses is read again
    # as text, slowly, to say which line is wrong and why.
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            parse_options=_PARSE,
            convert_options=pacsv.ConvertOptions(
                column_types={n: ARROW[c.type] for n, c in source.columns.items()},
                include_columns=list(source.columns),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return _diagnose_csv(data, source, datestamp, where)
    lines = _line_numbers(data, table.num_rows)
    # With only text columns no type error gives a repeated header away: look for it.
    all_text = all(c.type is ColumnType.string for c in source.columns.values())
    if all_text and (problems := _repeated_header(table, lines)):
        raise BadInput(where, problems)
    return Batch(where, datestamp, table.cast(arrow_schema(source)), lines)


_PARSE = pacsv.ParseOptions(newlines_in_values=True)


_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")  # never in a CSV header; UTF-8 keeps them single bytes


def _header_text(line: bytes, where: str) -> str:
    """The header line as text; a binary file (an image, a zip, Parquet named .csv) is said to be
    one, and none of its bytes is echoed as a column name."""
    line = line.removeprefix(b"\xef\xbb\xbf").removesuffix(b"\r")  # a BOM, a CRLF ending
    bad = [found.start()] if (found := _CONTROL.search(line)) else []
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        bad.append(err.start)
    if not bad:
        return text
    at = min(bad)
    raise BadInput(where, [f"line 1: the header is not text (byte 0x{line[at]:02x} at position {at + 1}); "
                           "is it a CSV file saved as UTF-8?"])


def _diagnose_csv(data: bytes, source: SourceConfig, datestamp: dt.date, where: str) -> Batch:
    """Read a file Arrow refused as text, to name each bad line (raises BadInput)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise BadInput(
            where,
            [
                f"line {line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at "
                f"column {column}); save the file as UTF-8"
            ],
        ) from None
    header = [h.strip() for h in next(csv.reader([text.split("\n", 1)[0]]))]
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode()),
            parse_options=_PARSE,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as err:
        raise BadInput(where, _ragged_lines(text, len(header)) or [str(err)]) from None
    table = table.rename_columns(header).select(list(source.columns))
    lines = _line_numbers(data, table.num_rows)
    problems = _repeated_header(table, lines)
    if problems:  # a repeated header is one problem: its values are not also type errors
        keep = pc.invert(_repeats_header(table))
        table, lines = table.filter(pc.fill_null(keep, True)), lines[_mask(keep)]
    typed, type_problems = _typed(table, source, lines)
    if problems or type_problems:
        raise BadInput(where, problems + type_problems)
    return Batch(where, datestamp, typed, lines)


def _check_header(names: list[str], source: SourceConfig, where: str) -> None:
    problems = []
    seen = set()
    for name in names:
        if name in seen:
            problems.append(f"line 1: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in source.columns if c not in seen]
    extra = [c for c in names if c not in source.columns]
    if missing:
        problems.append(f"line 1: header lacks column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"line 1: header has unexpected column(s) {', '.join(map(shown, extra))}")
    if problems:
        raise BadInput(where, problems)


def shown(value: object) -> str:
    """A value from a file as a message shows it: escaped if it holds anything unprintable (a
    terminal's control sequence, say)."""
    text = str(value)
    return text if text.isprintable() else repr(text)


def _ragged_lines(text: str, width: int) -> list[str]:
    # newline="": a lone carriage return ends a line, as it does for Arrow, instead of failing
    reader = csv.reader(io.StringIO(text, newline=""))
    problems = []
    try:
        with _any_field_size():
            for row in reader:
                if row and len(row) != width:
                    problems.append(f"line {reader.line_num}: expected {width} fields, found {len(row)}")
    except csv.Error as err:
        problems.append(f"line {reader.line_num}: {err}")
    return problems


@contextlib.contextmanager
def _any_field_size():
    """The csv module refuses fields over 128 KiB, which Arrow reads: lift its limit meanwhile."""
    before = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _line_numbers(data: bytes, rows: int) -> np.ndarray:
    # One row per line unless a quoted value spans lines; then ask the csv module.
    if data.count(b"\n") - (0 if data.endswith(b"\n") else -1) == rows + 1:
        return np.arange(2, rows + 2)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    starts = []
    with _any_field_size():
        next(reader)
        line = reader.line_num
        for _ in reader:
            starts.append(line + 1)
            line = reader.line_num
    return np.array(starts[:rows])


def _repeats_header(table: pa.Table) -> pa.ChunkedArray:
    return functools.reduce(pc.and_kleene, [pc.equal(table[n], n) for n in table.column_names])


def _mask(flags: pa.ChunkedArray) -> np.ndarray:
    return flags.to_numpy(zero_copy_only=False) != False  # noqa: E712 (nulls count as kept)


def _repeated_header(table: pa.Table, lines: np.ndarray) -> list[str]:
    rows = np.flatnonzero(_repeats_header(table).to_numpy(zero_copy_only=False) == True)  # noqa: E712
    return [f"line {lines[i]}: repeats the header" for i in rows]


def _typed(table: pa.Table, source: SourceConfig, lines: np.ndarray) -> tuple[pa.Table, list]:
    problems, columns = [], []
    for name, col in source.columns.items():
        values = table[name]
        if col.type is not ColumnType.string:
            ok = pc.match_substring_regex(values, TEXT_PATTERN[col.type])
            bad = np.flatnonzero(pc.fill_null(pc.invert(ok), False).to_numpy())
            problems += [
                f"line {lines[i]}: {name}: {values[int(i)].as_py()!r} is not {TYPE_WORD[col.type]}"
                for i in bad
            ]
            if len(bad):
                columns.append(pa.nulls(len(table), ARROW[col.type]))
                continue
            try:
                values = pc.cast(
                    pc.utf8_trim_whitespace(values) if col.type is ColumnType.integer else values,
                    ARROW[col.type],
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                problems += _bad_values(table[name], col.type, name, lines)
                values = pa.nulls(len(table), ARROW[col.type])
        columns.append(values)
    return pa.table(columns, schema=arrow_schema(source)), problems


def _bad_values(values: pa.ChunkedArray, kind: ColumnType, name: str, lines: np.ndarray) -> list:
    # Values that look right but do not exist, such as 2024-02-30: find them one by one.
    found = []
    for i, value in enumerate(values.to_pylist()):
        try:
            pc.cast(pa.array([value]), ARROW[kind])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            found.append(f"line {lines[i]}: {name}: {value!r} is not {TYPE_WORD[kind]}")
    return found


def _read_parquet(data: bytes, source: SourceConfig, datestamp: dt.date, where: str) -> Batch:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as err:
        raise BadInput(where, [f"not a readable Parquet file: {err}"]) from None
    _check_header(table.column_names, source, where)
    return batch_from_table(table, source, datestamp, where, row_rules=False)


def batch_from_table(table: pa.Table, source: SourceConfig, datestamp: dt.date, where: str,
                     row_rules: bool = True) -> Batch:
    """A batch from typed rows (Parquet, a query); types must cast safely to the config's.
    `row_rules` as for `read_file`."""
    problems, columns = [], []
    for name, col in source.columns.items():
        if name not in table.column_names:
            problems.append(f"column {name!r} is missing")
            continue
        try:
            columns.append(pc.cast(table[name], ARROW[col.type]))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            problems.append(f"column {name!r} has type {table[name].type}; expected {col.type}")
    if problems:
        raise BadInput(where, problems)
    typed = pa.table(columns, schema=arrow_schema(source))
    batch = Batch(where, datestamp, typed, np.arange(1, len(typed) + 1), "row")
    return check_rows(batch, source) if row_rules else batch


def check_rows(batch: Batch, source: SourceConfig) -> Batch:
    """Row rules: required values present, dates inside the partition, keys unique. A clean batch
    (the usual case) is passed on the whole-column looks of `all_pass` (null counts, the dates
    against the partition, the number of distinct keys); only a batch that fails one is gone
    through row by row, for the lines to name."""
    if all_pass([batch], source):
        return batch
    table, lines, unit = batch.table, batch.lines, batch.unit
    problems = []
    if source.rows_every_day and not table.num_rows:
        problems.append("no rows, but this source must have rows every day (rows_every_day: true)")
    for name in source.required_columns:
        for i in np.flatnonzero(table[name].is_null().to_numpy(zero_copy_only=False)):
            problems.append(f"{unit} {lines[i]}: {name} is required but empty")
    dates = pc.cast(table[source.date_column], pa.date32())
    earliest = batch.datestamp - dt.timedelta(days=source.late_days)
    outside = pc.or_(pc.less(dates, pa.scalar(earliest)), pc.greater(dates, batch.datestamp))
    window = f"{earliest} to {batch.datestamp}" if source.late_days else str(batch.datestamp)
    for i in np.flatnonzero(pc.fill_null(outside, False).to_numpy(zero_copy_only=False)):
        problems.append(
            f"{unit} {lines[i]}: {source.date_column} {dates[int(i)]} is outside the partition ({window})"
        )
    problems += _duplicate_keys(table, source.primary_key, lines, unit)
    if problems:
        raise BadInput(batch.where, problems)
    return batch


def all_pass(batches: list[Batch], source: SourceConfig) -> bool:
    """Whether every batch of a range surely passes the row rules and no key appears twice in the
    range, found with whole-column looks over all of them at once: what a clean range costs."""
    if not batches:
        return True
    if source.rows_every_day and any(not b.table.num_rows for b in batches):
        return False
    table = pa.concat_tables(b.table for b in batches)  # the same schema: no copy
    if any(table[name].null_count for name in source.required_columns):
        return False
    days = pc.cast(pc.cast(table[source.date_column], pa.date32()), pa.int32()).to_numpy(zero_copy_only=False)
    stamps = np.repeat([(b.datestamp - EPOCH).days for b in batches], [b.table.num_rows for b in batches])
    if np.any((days < stamps - source.late_days) | (days > stamps)):  # a null date (NaN) is neither
        return False
    key = source.primary_key
    return not key or rows_with_repeated_keys(table.select(key), key) is None


EPOCH = dt.date(1970, 1, 1)


def rows_with_repeated_keys(rows: pa.Table, key: list[str]) -> pa.Table | None:
    """The rows (all their columns) whose key appears more than once, or None if none does."""
    if rows.num_rows < 2:
        return None
    if len(key) == 1 and _all_distinct(rows[key[0]]):
        return None  # the usual case, without a group-by
    counts = rows.select(key).group_by(key).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts["count_all"], 1))
    if not repeated.num_rows:
        return None
    return rows.join(repeated.select(key), key, join_type="inner")


def _all_distinct(values: pa.ChunkedArray) -> bool:
    """No value twice (a null counts as a value). Integers without nulls are sorted: over a range's
    keys that takes a fifth of the time of Arrow's hashing when the process first does it."""
    if pa.types.is_integer(values.type) and not values.null_count:
        ordered = np.sort(values.to_numpy())
        return not (ordered[1:] == ordered[:-1]).any()
    return len(pc.unique(values)) == len(values)


def _duplicate_keys(table: pa.Table, key: list[str], lines: np.ndarray, unit: str) -> list[str]:
    if not key:  # an observed table may declare none
        return []
    keyed = table.select(key).append_column("_line", pa.array(lines))
    hits = rows_with_repeated_keys(keyed, key)
    if hits is None:
        return []
    grouped: dict[tuple, list[int]] = {}
    for row in hits.sort_by("_line").to_pylist():
        grouped.setdefault(tuple(row[k] for k in key), []).append(row["_line"])
    label = ", ".join(key)
    return [
        f"{unit}s {', '.join(map(str, at))}: share {label} {', '.join(map(shown, k))}"
        for k, at in grouped.items()
    ]
