"""The feature table's rows from the windows computed in memory: each feature imputed by its rule
(`feature_columns.fill_of`, which `imputed` renders in SQL for the single statement) and Triage's
`_imp` flags. A mean is over the whole date's cohort, so every block is computed before the first
row is written: the rows are held once, as the warehouse would hold them in a temporary table."""

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from prodline.pipeline.as_of.feature_columns import Feature, fill_of, flag_sources
from prodline.pipeline.as_of.feature_select import refuse_missing


def imputed_batches(columns: list[Feature], computed: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(as_of_date, entity_id, <features by name>, <flags>) for each batch of (as_of_date,
    entity_id, f0..fN), NULL where SQL's aggregate is NULL. An `error` column with a NULL left
    is refused, naming it, before anything is yielded."""
    fills = [fill_of(c) for c in columns]
    days = [b.column(0).cast(pa.int32()).to_numpy() for b in computed]
    means = _means(fills, computed, days)
    missing = {c.name: sum(b.column(n + 2).null_count for b in computed)
               for n, (c, (kind, _)) in enumerate(zip(columns, fills, strict=True)) if kind == "none"}
    refuse_missing({name: count for name, count in missing.items() if count})
    index = {c.name: n for n, c in enumerate(columns)}
    flags = {flag: index[source] for flag, source in flag_sources(columns).items()}
    names = ["as_of_date", "entity_id", *(c.name for c in columns), *flags]
    for batch, day in zip(computed, days, strict=True):
        arrays = [batch.column(0), batch.column(1)]
        for n, (kind, fill) in enumerate(fills):
            raw = batch.column(n + 2)
            if kind == "none" or not raw.null_count:
                arrays.append(raw)
                continue
            values = raw.to_numpy(zero_copy_only=False)
            if kind == "value":
                filled = np.where(np.isnan(values), fill, values)
            else:
                mean = means[n][1].take(np.searchsorted(means[n][0], day))
                filled = np.where(np.isnan(values), (mean > 0.5) if kind == "binary_mode" else mean, values)
            arrays.append(pa.array(filled.astype(np.float64)))
        arrays += [pa.array(np.asarray(batch.column(n + 2).is_null()).astype(np.int32))
                   for n in flags.values()]
        yield pa.RecordBatch.from_arrays(arrays, names=names)


def _means(fills, computed: list[pa.RecordBatch], days: list[np.ndarray]) -> dict:
    """For each column whose rule needs it, the dates (days since 1970) and each one's mean over
    the cohort members with a value (0 where nobody has one, as COALESCE(AVG(..), 0) gives)."""
    wanted = [n for n, (kind, _) in enumerate(fills) if kind in ("mean", "binary_mode")]
    if not wanted:
        return {}
    every = np.unique(np.concatenate(days)) if days else np.empty(0, np.int32)
    sums = {n: np.zeros(len(every)) for n in wanted}
    counts = {n: np.zeros(len(every)) for n in wanted}
    for batch, day in zip(computed, days, strict=True):
        at = np.searchsorted(every, day)
        for n in wanted:
            values = batch.column(n + 2).to_numpy(zero_copy_only=False)
            known = ~np.isnan(values)
            sums[n] += np.bincount(at[known], values[known], minlength=len(every))
            counts[n] += np.bincount(at[known], minlength=len(every))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {n: (every, np.where(counts[n] > 0, sums[n] / counts[n], 0.0)) for n in wanted}
