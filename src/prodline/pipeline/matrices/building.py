"""What a split's matrices are made of, and building one from the warehouse into the matrix folder."""

import itertools
import json
from pathlib import Path

import pyarrow as pa

from prodline.config import ProjectConfig
from prodline.pipeline.matrices.files import KEYS, MatrixSpec, existing, matrix_selects, write_matrix
from prodline.pipeline.matrices.splits import Split, SplitError, make_splits
from prodline.pipeline.tables import ONE, Tables, entity_type, has_table


def matrix_specs(config: ProjectConfig, warehouse, splits: list[Split]) -> dict[str, tuple]:
    """Per split key, (training matrix, test matrices), with the feature columns the tables have now."""
    spec = spec_maker(config, warehouse)
    missing = config.label.missing
    return {
        split.key: (
            spec("train", split.train.as_of_dates, missing.train),
            [spec("test", t.as_of_dates, missing.test) for t in split.tests],
        )
        for split in splits
    }


def spec_maker(config: ProjectConfig, warehouse):
    """A function (kind, dates, missing) -> MatrixSpec over the feature columns the tables have now:
    what the splits' matrices are made of, and the one-date matrices that predictions score."""
    tables = tuple(
        (t, tuple(c for c in warehouse.columns(*t.split(".")) if c not in KEYS))
        for t in (config.tables.feature(f.prefix) for f in config.features)
    )
    label = config.label
    definition = json.dumps(
        {
            "cohort": config.cohort.sql(),
            "label": [label.sql(), label.name, label.timespan],
            "features": [f.model_dump(mode="json") for f in config.features],
        },
        sort_keys=True,
        default=str,
    )

    def spec(kind: str, dates, missing: str) -> MatrixSpec:
        return MatrixSpec(kind, tuple(dates), label.name, label.timespan, missing, tables, definition)

    return spec


def build_matrix(warehouse, folder: Path, spec: MatrixSpec, reuse: bool = True,
                 tables: Tables = ONE) -> tuple[dict, bool]:
    """(manifest, reused): the matrix with this definition if it exists (and `reuse`), else built."""
    if reuse and (manifest := existing(folder, spec)) is not None:
        return manifest, True
    entity = entity_type(warehouse, tables)
    rows = stream_matrix(warehouse, spec, entity, tables=tables)
    return write_matrix(rows, folder, spec, spec.schema(entity)), False


def missing_inputs(warehouse, config: ProjectConfig, splits: list[Split]) -> list[str]:
    """As-of partitions the splits need that are not in the warehouse yet, per split and table
    (one query per table for all the splits)."""
    wanted = {d for s in splits for d in s.as_of_dates}
    problems = []
    tables = config.tables
    for table in [tables.cohort, tables.labels, *(tables.feature(f.prefix) for f in config.features)]:
        have = set()
        if has_table(warehouse, table):
            found = warehouse.rows(
                f"SELECT DISTINCT as_of_date FROM {table} WHERE as_of_date BETWEEN :s AND :e",
                s=min(wanted),
                e=max(wanted),
            )
            have = {r["as_of_date"] for r in found}
        for split in splits:
            if lacking := sorted(set(split.as_of_dates) - have):
                problems.append(
                    f"split {split.key}: {table} has no rows for {len(lacking)} date(s): "
                    + ", ".join(map(str, lacking[:6]))
                    + (", ..." if len(lacking) > 6 else "")
                )
    return problems


def stream_matrix(warehouse, spec: MatrixSpec, entity: pa.DataType, batch_rows: int = 4_096,
                  tables: Tables = ONE):
    """The matrix's rows as Arrow batches, one as-of date after the other (see `matrix_selects`)."""
    schema = spec.schema(entity)
    return itertools.chain.from_iterable(
        warehouse.stream(q, schema, batch_rows) for q in matrix_selects(spec, tables.cohort, tables.labels)
    )


def current_splits(config: ProjectConfig, warehouse) -> list[Split]:
    """The splits the data allows now: those whose test labels have matured (open-ended configs),
    or the config's own. Production split times are anchored, so a split never changes once made."""
    temporal = config.temporal
    if not temporal.open_ended:
        return make_splits(temporal)
    labels = config.tables.labels
    newest = warehouse.scalar(f"SELECT max(as_of_date) FROM {labels}") \
        if has_table(warehouse, labels) else None
    if newest is None:
        return []
    try:
        return make_splits(temporal.ending(newest))
    except SplitError:
        return []  # not enough labelled history yet for a first split
