"""The feature engine's windows, in memory: from each entity's partial aggregates per bucket (the
one pass over the events, which the warehouse does: `feature_select.partials_select`) to each
feature's value for each cohort member and as-of date.

The warehouse reduces the events to one row per entity and bucket (the buckets are cut at the
as-of dates and window starts, as in `feature_select`). Here those rows are laid out densely, a
block of entities at a time, one row per bucket and one column per entity: a running total down
the buckets gives every window as a difference of two totals (the same running totals, in the same
order, as the SQL engine's window functions), and the minimum or maximum of a window is reduced over
the buckets inside it. Each block's values are yielded as an Arrow batch (as_of_date, entity_id,
f0..fN, NULL where SQL gives NULL; a NaN is NULL too, see the README); `feature_imputing` makes
the feature table's rows of them, which the warehouse writes. Memory: the partials (one row per
entity and bucket) and the rows computed.
"""

import datetime as dt
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from prodline.config import FeatureConfig
from prodline.config.features import INTEGER_TYPES, SAMPLE_SPREAD
from prodline.pipeline.as_of.feature_columns import Feature, feature_columns
from prodline.pipeline.as_of.feature_imputing import Computed, imputed_batches
from prodline.pipeline.as_of.feature_select import Buckets, buckets_of, partials_select
from prodline.pipeline.sql import date_literal

BLOCK = 10_000  # entities per block: 10,000 x 37 buckets x 8 bytes = 3 MB per partial
EPOCH = dt.date(1970, 1, 1)
THREADS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Computation:
    """What the warehouse runs (`replace_window_computed`): the SELECTs it reads (config SQL, run
    read-only), and the step in memory that turns their rows into the rows it writes."""

    reads: dict[str, str]
    compute: Callable[[dict[str, pa.Table]], Iterator[pa.RecordBatch]]


def feature_computation(feature: FeatureConfig, choices: dict[str, list], cohort_table: str,
                        dates: list[dt.date], feature_start_time: dt.date | None = None) -> Computation:
    """The features of `feature` for the cohort on `dates`: the rows `features_select` gives."""
    buckets, columns = buckets_of(feature, dates), feature_columns(feature, choices)
    # A cohort row without an entity (the cohort query's NULL) gets every feature imputed.
    cohort = (f"SELECT CAST(as_of_date AS DATE) AS as_of_date, "
              f"CAST(COALESCE(entity_id, 0) AS BIGINT) AS entity_id, "
              f"CAST(CASE WHEN entity_id IS NULL THEN 1 ELSE 0 END AS INTEGER) AS no_entity "
              f"FROM {cohort_table} WHERE as_of_date IN ({', '.join(date_literal(d) for d in dates)})")

    def compute(tables: dict[str, pa.Table]) -> Iterator[pa.RecordBatch]:
        return imputed_batches(columns, window_blocks(columns, buckets, Partials.of(tables.pop("partials")),
                                                      tables.pop("cohort")))

    return Computation({"partials": partials_select(feature, choices, buckets, feature_start_time),
                        "cohort": cohort}, compute)


@dataclass(frozen=True)
class Partials:
    """The warehouse's reduction, as its chunks came: entity_id (int64), bucket b (int32) and each
    partial, one row per entity and bucket, in any order. Sums are 0 and minima/maxima +/-inf
    where SQL's would be NULL (their counts say so). numpy sees each chunk without a copy, and a
    block takes its rows from every chunk: the whole (17 columns of 3M rows in bench/features.py)
    is not copied once more into memory touched for the first time, which on these machines cost
    more than the copy itself (0.3 s to 0.7 s, page faults, before the first block)."""

    chunks: list[dict[str, np.ndarray]]

    @classmethod
    def of(cls, table: pa.Table) -> "Partials":
        batches = [b for b in table.to_batches() if b.num_rows]
        return cls([{n: b.column(n).to_numpy() for n in table.column_names} for b in batches]
                   or [{n: table.column(n).to_numpy() for n in table.column_names}])  # no rows


@dataclass(frozen=True)
class _Placed:
    """Rows by block: each row's entity as a row of the dense layout, and the rows of block n: a
    stretch where the rows are in entity order (partials_select asks for it), else gathered by a
    stable sort of small integers (a radix sort). A row of an entity outside the cohort is placed
    where that entity would sort, so that the order holds, and left out of its block."""

    row: np.ndarray
    order: np.ndarray | None
    edges: np.ndarray
    member: np.ndarray | None  # None: every row's entity is in the cohort

    @classmethod
    def of(cls, entities: np.ndarray, entity: np.ndarray, blocks: int) -> "_Placed":
        row, member = _rows(entities, entity)
        block = (row // BLOCK).astype(np.int16 if blocks < 2 ** 15 else np.int64)
        member = None if member.all() else member
        if (block[1:] >= block[:-1]).all():
            return cls(row, None, np.searchsorted(block, np.arange(blocks + 1)), member)
        order = np.argsort(block, kind="stable")
        return cls(row, order, np.searchsorted(block.take(order), np.arange(blocks + 1)), member)

    def at(self, n: int) -> slice | np.ndarray:
        """Block n's rows: a slice (a view, no copy) or their positions."""
        lo, hi = self.edges[n], self.edges[n + 1]
        rows = slice(lo, hi) if self.order is None else self.order[lo:hi]
        if self.member is None or (inside := self.member[rows]).all():
            return rows
        return np.flatnonzero(inside) + lo if self.order is None else rows[inside]


def window_blocks(columns: list[Feature], buckets: Buckets, partials: Partials,
                  cohort: pa.Table) -> Iterator[Computed]:
    """The values of `columns` for every row of `cohort` (as_of_date, entity_id and no_entity, 1
    where the entity is NULL), a block of entities at a time."""
    if "no_entity" in cohort.column_names:
        missing = cohort.column("no_entity").to_numpy().astype(bool)
        if missing.any():
            day = _days(cohort.column("as_of_date").filter(missing))
            yield Computed(day, np.zeros(len(day), np.int64),
                           [np.full(len(day), np.nan) for _ in columns], no_entity=True)
            cohort = cohort.filter(~missing)
    dates = sorted(buckets.dates)
    days = np.array([(d - EPOCH).days for d in dates], np.int32)
    want_day = _days(cohort.column("as_of_date"))
    want_entity = cohort.column("entity_id").to_numpy().astype(np.int64, copy=False)
    date_index = _date_index(days, want_day)
    entities = _distinct(want_entity)
    blocks = (len(entities) + BLOCK - 1) // BLOCK
    if not blocks:  # nobody in the cohort: no rows, but their shape for the table
        yield Computed(want_day, want_entity, [np.zeros(0) for _ in columns])
        return
    pool = ThreadPoolExecutor(max_workers=THREADS) if THREADS > 1 and blocks > 1 else None
    with pool or nullcontext():
        # numpy lets go of the GIL in its loops: the rows are placed, and blocks computed, on
        # every core, a few blocks ahead at most.
        want, *placed = (pool.map if pool else map)(
            lambda ids: _Placed.of(entities, ids, blocks),
            [want_entity, *(chunk["entity_id"] for chunk in partials.chunks)])
        names = [n for n in partials.chunks[0] if n != "entity_id"]

        def compute(n: int) -> Computed:
            first, size = n * BLOCK, min(BLOCK, len(entities) - n * BLOCK)
            mine = [(chunk, p.row, p.at(n)) for chunk, p in zip(partials.chunks, placed, strict=True)]
            taken = {k: _joined([chunk[k][at] for chunk, _, at in mine]) for k in names}
            block = _Block(buckets, size, _joined([row[at] for _, row, at in mine]) - first,
                           taken.pop("b"), taken)
            wanted = want.at(n)
            at = date_index[wanted].astype(np.int64) * size + (want.row[wanted] - first)
            # Every member on every date, in date then entity order: the values are the layout.
            whole = len(at) == len(dates) * size and (np.diff(at) == 1).all()
            return Computed(want_day[wanted], want_entity[wanted],
                            [block.column(c).ravel() if whole else block.column(c).ravel().take(at)
                             for c in columns])

        if pool is None:
            yield from map(compute, range(blocks))
            return
        pending = deque(pool.submit(compute, n) for n in range(min(THREADS, blocks)))
        for n in range(THREADS, blocks + THREADS):
            done = pending.popleft().result()
            if n < blocks:
                pending.append(pool.submit(compute, n))
            yield done


def _date_index(days: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Each of `want` as a position in `days` (sorted): by a lookup table over their span (twice
    as fast as a binary search here, on 2.4M rows)."""
    if not len(want):
        return np.zeros(0, np.int32)
    if not len(days) or want.min() < days[0] or want.max() > days[-1]:
        raise ValueError("cohort rows outside the as-of dates computed")
    lookup = np.full(int(days[-1] - days[0]) + 1, -1, np.int32)
    lookup[days - days[0]] = np.arange(len(days))
    index = lookup.take(want - days[0])
    if (index < 0).any():
        raise ValueError("cohort rows outside the as-of dates computed")
    return index


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The parts end to end: the one part itself (a view) where the others are empty."""
    kept = [p for p in parts if len(p)]
    return kept[0] if len(kept) == 1 else np.concatenate(kept or parts[:1])


def _distinct(ids: np.ndarray) -> np.ndarray:
    """The ids, sorted and once each: by marking them in a table where they are small non-negative
    integers (the usual case, ten times faster than sorting), else np.unique."""
    if len(ids) and ids.min() >= 0 and ids.max() < 4 * len(ids) + 1_000_000:
        seen = np.zeros(int(ids.max()) + 1, bool)
        seen[ids] = True
        return np.flatnonzero(seen)
    return np.unique(ids)


def _rows(entities: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each id's position in `entities` (sorted, unique), or where it would go, and whether it is
    there: by tables over the ids where they are small non-negative integers (the usual case),
    else a binary search."""
    if len(entities) and entities[0] >= 0 and entities[-1] < 4 * len(entities) + 1_000_000:
        seen = np.zeros(int(entities[-1]) + 2, bool)
        seen[entities] = True
        below = np.cumsum(seen) - seen  # how many entities sort before each id
        at = np.clip(ids, 0, len(seen) - 1)  # beyond the last: the last, not an entity
        member = seen.take(at) & (ids >= 0)
        return np.where(ids < 0, 0, below.take(at)), member
    row = np.searchsorted(entities, ids)
    return row, (row < len(entities)) & (entities.take(np.minimum(row, len(entities) - 1)) == ids)


def _days(dates: pa.ChunkedArray) -> np.ndarray:
    return dates.cast(pa.date32()).cast(pa.int32()).to_numpy()


class _Block:
    """A block of entities' partials laid out densely: bucket x entity, per partial."""

    def __init__(self, buckets: Buckets, size: int, row: np.ndarray, bucket: np.ndarray,
                 values: dict[str, np.ndarray]):
        self.buckets, self.size, self.values = buckets, size, values
        self.cell = bucket.astype(np.int64) * size + row  # each partial row's place in the dense layout
        self.dates = sorted(buckets.dates)
        # For each date, the bucket a running total is read at: D itself, and each window's start.
        self.upto = [buckets.last_before(d) for d in self.dates]
        self.since = {k: [buckets.last_before(buckets.starts[k, d]) for d in self.dates]
                      for k in buckets.finite}
        self._totals: dict[tuple, np.ndarray] = {}
        self._presence: np.ndarray | None = None

    def dense(self, name: str, fill: float) -> np.ndarray:
        """bucket x entity: bucket-major, so that running totals add whole rows."""
        out = np.zeros(self.buckets.count * self.size) if fill == 0 else \
            np.full(self.buckets.count * self.size, fill)
        out[self.cell] = self.values[name]
        return out.reshape(self.buckets.count, self.size)

    def total(self, name: str, k: int | None) -> np.ndarray:
        """date x entity: the window's sum (interval k; None is `all`), from running totals."""
        if (name, None) not in self._totals:
            cum = _running(np.add, self.dense(name, 0.0))
            self._totals[name, None] = cum[self.upto]
            for j in self.since:
                self._totals[name, j] = self._totals[name, None] - cum[self.since[j]]
        return self._totals[name, k]

    def extreme(self, name: str, kind: str, k: int | None) -> np.ndarray:
        reduce, fill = (np.minimum, np.inf) if kind == "min" else (np.maximum, -np.inf)
        dense = self.dense(name, fill)
        if k is None:
            return _running(reduce, dense)[self.upto]
        out = np.empty((len(self.dates), self.size))
        for n, (first, last) in enumerate(zip(self.since[k], self.upto, strict=True)):
            out[n] = reduce.reduce(dense[first + 1:last + 1], axis=0, initial=fill)
        return out

    def presence(self) -> np.ndarray:
        """Triage's row exists: an event in the widest window (`all`, or the earliest start)."""
        if self._presence is None:
            if self.buckets.has_all:
                self._presence = self.total("n", None) > 0
            else:
                widest = min(self.since, key=lambda k: min(self.since[k]))
                self._presence = self.total("n", widest) > 0
        return self._presence

    def column(self, column: Feature) -> np.ndarray:
        k = self.buckets.interval_of(column.interval)
        if column.categorical:
            hit, event = ((f"{column.source}_null", "n") if column.null_choice
                          else (f"{column.source}_{column.choice_index}", f"{column.source}_nn"))
            value = _combine_choice(column.metric, self.total(hit, k), self.total(event, k),
                                    self.known(event, k), self.presence)
        else:
            value = self._combine(column.metric, column.source, k)
        return _cast(value, column.coltype)

    def known(self, name: str, k: int | None) -> np.ndarray:
        """Where the window has a value (a count above 0), once per count and interval."""
        if (name, k, ">0") not in self._totals:
            self._totals[name, k, ">0"] = self.total(name, k) > 0
        return self._totals[name, k, ">0"]

    def _combine(self, metric: str, name: str, k: int | None) -> np.ndarray:
        cnt, has = self.total(f"{name}_cnt", k), self.known(f"{name}_cnt", k)
        if metric == "count":
            return np.where(self.presence(), cnt, np.nan)
        if metric in ("min", "max"):
            return np.where(has, self.extreme(f"{name}_{metric}", metric, k), np.nan)
        if metric in ("sum", "avg"):
            total = self.total(f"{name}_sum", k)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(has, total if metric == "sum" else total / cnt, np.nan)
        return _spread(metric, cnt, self.total(f"{name}_ysum", k), self.total(f"{name}_ysq", k))


def _running(ufunc: np.ufunc, dense: np.ndarray) -> np.ndarray:
    """Running totals (or minima, maxima) down the buckets, in place: one whole row at a time,
    which numpy's accumulate along the first axis does column by column, ten times slower."""
    for b in range(1, len(dense)):
        ufunc(dense[b - 1], dense[b], out=dense[b])
    return dense


def _spread(metric: str, n: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """feature_select._spread's variance from sums, NULL (NaN) where it gives NULL."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric in SAMPLE_SPREAD:
            variance = np.where(n > 1, np.maximum((q - s * s / n) / (n - 1), 0), np.nan)
        else:
            variance = np.where(n == 1, 0.0, np.where(n > 1, np.maximum((q - s * s / n) / n, 0), np.nan))
    return variance if metric.startswith("var") else np.sqrt(variance)


def _combine_choice(metric: str, hits: np.ndarray, events: np.ndarray, has: np.ndarray,
                    presence) -> np.ndarray:
    """feature_select._combine_choice: the indicator (column = choice)::INT over the window;
    `has` is where `events` is above 0."""
    if metric == "count":
        return np.where(presence(), events, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "sum":
            return np.where(has, hits, np.nan)
        if metric == "avg":
            return np.where(has, hits / events, np.nan)
    if metric == "max":
        return np.where(hits > 0, 1.0, np.where(has, 0.0, np.nan))
    if metric == "min":
        return np.where((hits >= events) & has, 1.0, np.where(has, 0.0, np.nan))
    return _spread(metric, events, hits, hits)


def _cast(value: np.ndarray, coltype: str | None) -> np.ndarray:
    if coltype in INTEGER_TYPES:
        return np.sign(value) * np.floor(np.abs(value) + 0.5)
    if coltype in ("real", "float4"):
        return value.astype(np.float32).astype(np.float64)
    return value


