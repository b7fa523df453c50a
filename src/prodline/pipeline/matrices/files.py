"""Training and test matrices: cohort x features x label at a split's as-of dates, as Parquet files
named by a hash of their definition and of the data versions of every partition they read, each
with a JSON manifest.

A matrix is streamed from the warehouse batch by batch into its file, so memory holds one batch,
not the matrix. A matrix whose file and manifest exist is reused: its definition (dates, label,
missing-label rule, feature tables and columns, and the SQL and config behind them) is the same,
and so is every partition it reads (cohort, labels and each features table on each of its dates,
by their data versions, `pipeline.data_versions`): a corrected partition makes a new matrix.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodline.pipeline.sql import date_literal

KEYS = ("entity_id", "as_of_date")
LABEL = "label"


@dataclass(frozen=True)
class MatrixSpec:
    kind: str  # "train" or "test"
    as_of_dates: tuple[dt.date, ...]
    label_name: str
    label_timespan: str
    missing: str  # a cohort member without a label: "exclude", "zero", "one" or "null"
    tables: tuple[tuple[str, tuple[str, ...]], ...]  # (features.<prefix>, its feature columns)
    definition: str  # what produced the rows: cohort, label and feature SQL and config
    # the rows read: (table, as-of date, data version) for each table and date
    data_versions: tuple[tuple[str, str, str], ...] = ()

    @property
    def features(self) -> list[str]:
        return [c for _, columns in self.tables for c in columns]

    def versions_by_table(self) -> dict[str, dict[str, str]]:
        """{table: {as-of date: data version}} of the partitions the matrix reads."""
        found: dict[str, dict[str, str]] = {}
        for table, day, version in self.data_versions:
            found.setdefault(table, {})[day] = version
        return found

    @property
    def uuid(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def schema(self, entity_type: pa.DataType) -> pa.Schema:
        return pa.schema(
            [
                ("entity_id", entity_type),
                ("as_of_date", pa.date32()),
                *((f, pa.float64()) for f in self.features),
                (LABEL, pa.float64()),
            ]
        )


def matrix_select(spec: MatrixSpec, cohort_table: str, labels_table: str, day: dt.date | None = None) -> str:
    """The matrix's rows in the warehouse: every cohort member of each date (or only of `day`), its
    features and label, by date and entity."""
    label = f"l.{spec.label_name}"
    value = {"zero": f"COALESCE({label}, 0)", "one": f"COALESCE({label}, 1)"}.get(spec.missing, label)
    columns = [
        # Quoted: feature names are Triage's (`kind__NULL`, `homeless::INT`, `1 year`).
        f'CAST(t{i}."{c}" AS DOUBLE PRECISION) AS "{c}"' for i, (_, cs) in enumerate(spec.tables) for c in cs
    ]
    dates = f"IN ({', '.join(date_literal(d) for d in ([day] if day else spec.as_of_dates))})"
    # Every table is filtered to the dates itself: the engines do not carry the cohort's filter across
    # the joins, and would otherwise build hash tables over every date of every feature table.
    joins = "".join(
        f"\nJOIN (SELECT * FROM {table} WHERE as_of_date {dates}) AS t{i}"
        f" ON t{i}.as_of_date = c.as_of_date AND t{i}.entity_id = c.entity_id"
        for i, (table, _) in enumerate(spec.tables)
    )
    where = f"c.as_of_date {dates}"
    if spec.missing == "exclude":
        where += f" AND {label} IS NOT NULL"
    return (
        f"SELECT c.entity_id, c.as_of_date, {', '.join(columns)},"
        f" CAST({value} AS DOUBLE PRECISION) AS {LABEL}"
        f"\nFROM {cohort_table} AS c{joins}"
        f"\nLEFT JOIN (SELECT * FROM {labels_table} WHERE as_of_date {dates}) AS l"
        " ON l.as_of_date = c.as_of_date AND l.entity_id = c.entity_id"
        f"\nWHERE {where}\nORDER BY c.as_of_date, c.entity_id"
    )


def matrix_selects(spec: MatrixSpec, cohort_table: str, labels_table: str) -> list[str]:
    """One query per as-of date, in date order: together the matrix's rows in order, while the engine
    joins one date at a time (a quarter of the memory for a four-date matrix)."""
    return [matrix_select(spec, cohort_table, labels_table, d) for d in sorted(spec.as_of_dates)]


def paths(folder: Path, uuid: str) -> tuple[Path, Path]:
    return folder / f"{uuid}.parquet", folder / f"{uuid}.json"


def read_manifest(folder: Path, uuid: str) -> dict:
    return json.loads(paths(folder, uuid)[1].read_text())


def existing(folder: Path, spec: MatrixSpec) -> dict | None:
    """The manifest of this definition's matrix, if it was built before (and its file is there)."""
    data, manifest = paths(folder, spec.uuid)
    return read_manifest(folder, spec.uuid) if data.exists() and manifest.exists() else None


def write_matrix(
    batches: Iterable[pa.RecordBatch], folder: Path, spec: MatrixSpec, schema: pa.Schema
) -> dict:
    """Write the batches to the matrix's Parquet file, then its manifest; both appear only when
    complete (written aside, then renamed), so a failed build leaves nothing to reuse."""
    folder.mkdir(parents=True, exist_ok=True)
    data, manifest = paths(folder, spec.uuid)
    partial = data.with_suffix(".parquet.partial")
    rows, labels, per_date, largest = 0, {"positive": 0, "negative": 0, "missing": 0}, {}, 0
    with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
            largest = max(largest, batch.nbytes)
            label = batch.column(LABEL)
            positives = int(pc.sum(pc.equal(label, 1.0)).as_py() or 0)
            labels["positive"] += positives
            labels["missing"] += label.null_count
            labels["negative"] += batch.num_rows - label.null_count - positives
            for date, count in zip(
                *np.unique(batch.column("as_of_date").to_numpy(zero_copy_only=False), return_counts=True),
                strict=True,
            ):
                per_date[str(date)] = per_date.get(str(date), 0) + int(count)
    partial.rename(data)
    document = {
        "uuid": spec.uuid,
        "kind": spec.kind,
        "as_of_dates": [str(d) for d in spec.as_of_dates],
        "label_name": spec.label_name,
        "label_timespan": spec.label_timespan,
        "missing": spec.missing,
        "features": spec.features,
        "rows": rows,
        "labels": labels,
        "rows_per_date": per_date,
        "definition_hash": hashlib.sha256(spec.definition.encode()).hexdigest()[:20],
        "data_versions": spec.versions_by_table(),
        "file_bytes": data.stat().st_size,
        "matrix_bytes": rows * (len(spec.features) + 2) * 8,
        "largest_batch_bytes": largest,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    manifest.with_suffix(".json.partial").write_text(json.dumps(document, indent=1))
    manifest.with_suffix(".json.partial").rename(manifest)
    return document


def read_matrix(folder: Path, uuid: str) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """(keys, features as a float array, labels with NaN for missing) of a written matrix."""
    return arrays(pq.read_table(paths(folder, uuid)[0]))


def arrays(table: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """(keys, features as a float array, labels with NaN for missing) of a matrix's rows."""
    features = [n for n in table.column_names if n not in (*KEYS, LABEL)]
    X = (
        np.column_stack([table.column(f).to_numpy(zero_copy_only=False) for f in features])
        if features
        else np.empty((table.num_rows, 0))
    )
    y = table.column(LABEL).to_numpy(zero_copy_only=False).astype(float)
    return table.select(list(KEYS)), X, y


def training_order(keys: pa.Table) -> np.ndarray:
    """Row positions in the order of Triage's matrices: by the entity id as text, then as-of date
    (its builder pastes per-table CSV files sorted with `sort -k 1,2`, which in the C locale puts
    entity 10 before 100, 1000 and 101). A file holds its rows by date (built one date at a time);
    a model that samples rows by position, as a seeded forest's bootstrap does, draws Triage's rows
    only in Triage's order. (Under a locale that ignores punctuation, Triage's own order differs.)"""
    text = pa.table({"entity": pc.cast(keys.column("entity_id"), pa.string()),
                     "as_of_date": keys.column("as_of_date")})
    order = pc.sort_indices(text, sort_keys=[("entity", "ascending"), ("as_of_date", "ascending")])
    return order.to_numpy()


def read_labels(folder: Path, uuid: str) -> np.ndarray:
    """Only the label column of a written matrix (NaN for missing): what scoring stored scores needs."""
    column = pq.read_table(paths(folder, uuid)[0], columns=[LABEL]).column(LABEL)
    return column.to_numpy(zero_copy_only=False).astype(float)


@dataclass(frozen=True)
class Matrix:
    """One matrix read back: its keys (entity_id, as_of_date), features, labels and feature names."""

    uuid: str
    keys: pa.Table
    X: np.ndarray
    y: np.ndarray
    features: list[str]

    @property
    def entities(self) -> np.ndarray:
        return self.keys.column("entity_id").to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class SplitMatrices:
    """A split's matrices as arrays: the training matrix (rows in `training_order`), its feature
    names, and each test matrix (rows as in its file, as its stored scores are)."""

    X: np.ndarray
    y: np.ndarray
    features: list[str]
    tests: list[tuple[str, np.ndarray, np.ndarray]]  # (uuid, X, y)
    index: dict  # {"train": uuid, "tests": [uuid, ...]}
