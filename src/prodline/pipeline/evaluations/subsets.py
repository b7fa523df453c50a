"""Triage's `subsets`: the rows of a test matrix that belong to each subset of the cohort, found by
the subset's query on each of the matrix's as-of dates. The metrics are then computed on those rows
alone, so a cutoff (the top 5%) is applied again inside the subset, as Triage does."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prodline.pipeline.matrices.files import KEYS, paths
from prodline.pipeline.sql import per_date_select


def matrix_keys(folder, uuid: str) -> pd.DataFrame:
    """The (entity_id, as_of_date) of each row of a written matrix, in its order."""
    return pq.read_table(paths(folder, uuid)[0], columns=list(KEYS)).to_pandas()


def subset_masks(warehouse, keys: pd.DataFrame, subsets) -> dict[str, np.ndarray]:
    """For each subset (name and query), which rows of a matrix with these keys belong to it."""
    dates = sorted(set(pd.to_datetime(keys["as_of_date"]).dt.date))
    masks = {}
    for subset in subsets:
        found = warehouse.read(per_date_select(subset.sql, dates))
        if found and "entity_id" not in found[0]:
            raise ValueError(f"subset {subset.name!r}: the query returns no entity_id column")
        members = {(r["entity_id"], pd.Timestamp(r["as_of_date"]).date()) for r in found}
        rows = zip(keys["entity_id"].tolist(), pd.to_datetime(keys["as_of_date"]).dt.date, strict=True)
        masks[subset.name] = np.fromiter((r in members for r in rows), dtype=bool, count=len(keys))
    return masks
