"""Which feature columns a matrix holds, and in which order: Triage's.

Triage builds an aggregation's imputed table once for all of an experiment's as-of dates and adds an
imputation flag only for a column that had a NULL there; collate orders the table's columns by name,
each flag right after the first column (by name) whose NULLs it records, and the matrix takes the
tables in the order its feature groups are merged. prodline's feature tables keep every flag (one
schema for every partition), so a matrix leaves out the flags that no row of its scope sets: they
carry nothing a model could use, and a seeded forest then samples the same columns as Triage's.
"""

from collections.abc import Sequence

from prodline.config import FeatureConfig, ProjectConfig
from prodline.config.features import feature_table
from prodline.pipeline.as_of.feature_columns import SECTIONS, feature_columns, flag_sources, quoted
from prodline.pipeline.matrices.feature_groups import merged, subsets
from prodline.pipeline.matrices.files import KEYS
from prodline.pipeline.matrices.splits import Split, make_splits
from prodline.pipeline.sql import date_literal

Tables = tuple[tuple[str, tuple[str, ...]], ...]  # (features.<prefix>, its columns in the matrix)


def flags_of(feature: FeatureConfig) -> dict[str, str]:
    """Each imputation flag of an aggregation and the column whose NULLs it records. Categoricals
    have no flags, so their choices (which may need a query) do not matter here."""
    no_choices = {f"{s}.{i}": [] for s in SECTIONS for i in range(len(getattr(feature, s)))}
    return flag_sources(feature_columns(feature, no_choices))


def triage_order(columns: Sequence[str], sources: dict[str, str]) -> list[str]:
    """A feature table's columns as collate's imputed table orders them: the other columns by name
    (Python's sort, as collate's), each flag of `columns` right after its column (`sources`)."""
    flags = {sources[f]: f for f in columns if f in sources}
    ordered = []
    for column in sorted(c for c in columns if c not in sources):
        ordered += [column, *([flags[column]] if column in flags else [])]
    # A flag whose column is not in the table (an older schema) is kept, at the end.
    placed = set(ordered)
    return ordered + [c for c in columns if c not in placed]


def unset_flags(warehouse, table: str, flags: list[str], dates: Sequence) -> set[str]:
    """The flags that are 0 (or NULL) in every row of `table` on `dates`."""
    if not flags:
        return set()
    highest = ", ".join(f"MAX({quoted(f)}) AS f{i}" for i, f in enumerate(flags))
    listed = ", ".join(date_literal(d) for d in sorted(dates))
    [row] = warehouse.rows(f"SELECT {highest} FROM {table} WHERE as_of_date IN ({listed})")
    return {f for i, f in enumerate(flags) if not row[f"f{i}"]}


def flag_scope(config: ProjectConfig, split: Split) -> tuple:
    """The as-of dates whose rows decide which flags a split's matrices keep. Where the temporal
    config fixes the splits, every date of every split: Triage's imputed tables span all of an
    experiment's as-of dates, so every split's matrices have the same columns. Where splits follow
    the data (`open_ended`), the split's own dates: later dates are not known yet, and a split's
    matrices must not change when they come."""
    if config.temporal.open_ended:
        return tuple(sorted(split.as_of_dates))
    return tuple(sorted({d for s in make_splits(config.temporal) for d in s.as_of_dates}))


def table_order(config: ProjectConfig, tables: dict[str, list[str]]) -> list[str]:
    """Feature tables (`features.<prefix>` -> columns) in the order Triage's matrix of all feature
    groups takes them (groups merged in their order); a table no group names comes last."""
    definition = config.grid.feature_group_definition if config.grid else {"all": [True]}
    named = {feature_table(f.prefix): config.tables.feature(f.prefix) for f in config.features
             if config.tables.feature(f.prefix) in tables}
    mixed = merged(subsets(definition, {n: tables[t] for n, t in named.items()}))
    ordered = [named[n] for n, _ in mixed.tables]
    return ordered + [t for t in tables if t not in ordered]


def triage_layout(config: ProjectConfig) -> bool:
    """Whether the project's matrices are laid out as Triage's (a Triage experiment's are)."""
    return config.grid is not None and config.grid.matrix_layout == "triage"


def matrix_tables(config: ProjectConfig, warehouse, scope: Sequence | None) -> Tables:
    """Each feature table and the columns a matrix takes from it, in Triage's order; with `scope` (as-of
    dates) without the flags no row of those dates sets. Without it, every column: what scoring
    needs, since a model picks its columns by name."""
    tables = {}
    for feature in config.features:
        table = config.tables.feature(feature.prefix)
        columns = [c for c in warehouse.columns(*table.split(".")) if c not in KEYS]
        sources = {f: s for f, s in flags_of(feature).items() if f in columns}
        if scope is not None:
            unset = unset_flags(warehouse, table, list(sources), scope)
            columns = [c for c in columns if c not in unset]
        tables[table] = triage_order(columns, sources) if triage_layout(config) else columns
    order = table_order(config, tables) if triage_layout(config) else list(tables)
    return tuple((t, tuple(tables[t])) for t in order)
