"""What a split's matrices are made of, and building one from the warehouse into the matrix folder."""

import itertools
import json
from pathlib import Path

import pyarrow as pa

from prodline.config import ProjectConfig
from prodline.pipeline.data_versions import versions_read
from prodline.pipeline.matrices.columns import flag_scope, matrix_tables, triage_layout
from prodline.pipeline.matrices.files import MatrixSpec, existing, matrix_selects, write_matrix
from prodline.pipeline.matrices.splits import Split, SplitError, make_splits
from prodline.pipeline.tables import ONE, Tables, entity_type, has_table


def matrix_specs(config: ProjectConfig, warehouse, splits: list[Split]) -> dict[str, tuple]:
    """Per split key, (training matrix, test matrices), with the feature columns the tables have now,
    in Triage's order and without the imputation flags nothing set in the split's `flag_scope`."""
    makers: dict[tuple, object] = {}
    missing = config.label.missing
    specs = {}
    # the data versions of every partition the splits read: one query per table for all of them
    versions = versions_read(warehouse, read_tables(config), {d for s in splits for d in s.as_of_dates})
    for split in splits:
        scope = flag_scope(config, split) if triage_layout(config) else None
        if scope not in makers:
            makers[scope] = spec_maker(config, warehouse, scope, versions)
        spec = makers[scope]
        specs[split.key] = (spec("train", split.train.as_of_dates, missing.train),
                            [spec("test", t.as_of_dates, missing.test) for t in split.tests])
    return specs


def read_tables(config: ProjectConfig) -> list[str]:
    """The tables a matrix reads: cohort, labels and every features table."""
    tables = config.tables
    return [tables.cohort, tables.labels, *(tables.feature(f.prefix) for f in config.features)]


def spec_maker(config: ProjectConfig, warehouse, scope=None, versions: dict | None = None):
    """A function (kind, dates, missing) -> MatrixSpec over the feature columns the tables have now
    (see `matrix_tables`: with `scope`, the flags set on those dates only): what the splits' matrices
    are made of, and (every column) the one-date matrices that predictions score. Each spec carries
    the data version of every partition it reads, from `versions` ({table: {date: version}}) or else
    asked of the warehouse for its own dates."""
    tables = matrix_tables(config, warehouse, scope)
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
        found = versions if versions is not None else versions_read(warehouse, read_tables(config), dates)
        read = tuple((t, d.isoformat(), found[t][d]) for t in read_tables(config) for d in sorted(dates))
        return MatrixSpec(kind, tuple(dates), label.name, label.timespan, missing, tables, definition, read)

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
    (one query per table for all the splits); then the feature partitions of the flag scope
    (`flag_scope`: every split's dates for a fixed temporal config) the splits lack beyond their own."""
    wanted = {d for s in splits for d in s.as_of_dates}
    scope = {d for s in splits for d in flag_scope(config, s)} if triage_layout(config) else set()
    problems, beyond, tables = [], [], config.tables
    for table in [tables.cohort, tables.labels, *(tables.feature(f.prefix) for f in config.features)]:
        have = set()
        if has_table(warehouse, table):
            found = warehouse.rows(
                f"SELECT DISTINCT as_of_date FROM {table} WHERE as_of_date BETWEEN :s AND :e",
                s=min(wanted | scope),
                e=max(wanted | scope),
            )
            have = {r["as_of_date"] for r in found}
        for split in splits:
            if lacking := sorted(set(split.as_of_dates) - have):
                problems.append(f"split {split.key}: {table} has no rows for {len(lacking)} date(s): "
                                + _listed(lacking))
        if table not in (tables.cohort, tables.labels) and (lacking := sorted(scope - wanted - have)):
            beyond.append(f"{table} has no rows for {len(lacking)} date(s) of the other splits, whose "
                          "rows decide which imputation flags the matrices keep: " + _listed(lacking))
    return problems + beyond


def _listed(dates: list) -> str:
    return ", ".join(map(str, dates[:6])) + (", ..." if len(dates) > 6 else "")


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
