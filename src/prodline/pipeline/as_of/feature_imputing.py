"""The feature table's rows from the windows computed in memory: each feature imputed by its rule
(`feature_columns.fill_of`, which `imputed` renders in SQL for the single statement) and Triage's
`_imp` flags. A mean is over the whole date's cohort, so every block is computed before the first
row is written: then the rows are held once, as the warehouse would hold them in a temporary
table; without such a rule, each block is written as it is computed."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from prodline.pipeline.as_of.feature_columns import Feature, fill_of, flag_sources
from prodline.pipeline.as_of.feature_select import refuse_missing


@dataclass(frozen=True)
class Computed:
    """A block of cohort rows and their features before imputation: NaN where SQL gives NULL."""

    day: np.ndarray  # int32, days since 1970-01-01
    entity: np.ndarray  # int64
    values: list[np.ndarray]  # float64, one per column
    no_entity: bool = False  # the cohort's rows whose entity is NULL (all values NaN)


def imputed_batches(columns: list[Feature], computed: Iterable[Computed]) -> Iterator[pa.RecordBatch]:
    """(as_of_date, entity_id, <features by name>, <flags>) for each block computed. An `error`
    column with a value missing is refused, naming it, before anything is yielded. Where no rule
    needs the whole date (a mean) or every row (`error`), each block is yielded as it comes, so
    that the warehouse writes one while the next is computed."""
    fills = [fill_of(c) for c in columns]
    if any(kind != "value" for kind, _ in fills):
        computed = list(computed)
        missing = {c.name: sum(int(np.isnan(b.values[n]).sum()) for b in computed)
                   for n, (c, (kind, _)) in enumerate(zip(columns, fills, strict=True)) if kind == "none"}
        refuse_missing({name: count for name, count in missing.items() if count})
    means = _means(fills, computed)
    index = {c.name: n for n, c in enumerate(columns)}
    flags = {flag: index[source] for flag, source in flag_sources(columns).items()}
    names = ["as_of_date", "entity_id", *(c.name for c in columns), *flags]
    for block in computed:  # filled in place: each block's values are its own, used once
        flagged = dict.fromkeys(flags.values())
        arrays = [pa.array(block.day, pa.int32()).cast(pa.date32()),
                  pa.nulls(len(block.day), pa.int64()) if block.no_entity else pa.array(block.entity)]
        for n, (kind, fill) in enumerate(fills):
            raw = block.values[n]
            if n in flagged:
                flagged[n] = np.isnan(raw).astype(np.int32)
            if kind == "value":
                np.copyto(raw, fill, where=np.isnan(raw))
            elif kind != "none":
                mean = means[n][1].take(np.searchsorted(means[n][0], block.day))
                np.copyto(raw, (mean > 0.5) if kind == "binary_mode" else mean, where=np.isnan(raw))
            arrays.append(pa.array(raw, pa.float64()))
        arrays += [pa.array(flagged[n]) for n in flags.values()]
        yield pa.RecordBatch.from_arrays(arrays, names=names)


def _means(fills, computed: Iterable[Computed]) -> dict:
    """For each column whose rule needs it, the dates (days since 1970) and each one's mean over
    the cohort members with a value (0 where nobody has one, as COALESCE(AVG(..), 0) gives)."""
    wanted = [n for n, (kind, _) in enumerate(fills) if kind in ("mean", "binary_mode")]
    if not wanted:
        return {}
    every = np.unique(np.concatenate([b.day for b in computed])) if computed else np.empty(0, np.int32)
    sums = {n: np.zeros(len(every)) for n in wanted}
    counts = {n: np.zeros(len(every)) for n in wanted}
    for block in computed:
        at = np.searchsorted(every, block.day)
        for n in wanted:
            known = ~np.isnan(block.values[n])
            sums[n] += np.bincount(at[known], block.values[n][known], minlength=len(every))
            counts[n] += np.bincount(at[known], minlength=len(every))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {n: (every, np.where(counts[n] > 0, sums[n] / counts[n], 0.0)) for n in wanted}
