"""The tables a Triage config reads, declared as sources observed in the warehouse
(`arrival: warehouse`): one per table, named after it, dated by the knowledge date its feature
aggregations use, with columns and primary key when the database was read."""

from dataclasses import dataclass

from prodline.config.base import sql_identifier
from prodline.config.sources import OWN_SCHEMAS
from prodline.importing.catalog import TableShape, column_type
from prodline.importing.report import Row

# Names a dating column often has, in the order they are preferred.
DATE_NAMES = ("start_time", "date", "knowledge_date", "knowledge_date_column", "event_date")
DATE_TYPES = ("date", "timestamp without time zone", "timestamp with time zone")

Table = tuple[str, str]  # (schema, name)


@dataclass
class Reads:
    """What the config's SQL reads: each table with the keys that read it, and the knowledge date
    column each aggregation (or the bias audit) reads a table by."""

    tables: dict[Table, list[str]]
    # table -> [(key, column, whether the key reads this table alone)]: an aggregation over a join
    # dates its rows by a column of one of the tables, known only from the database.
    knowledge: dict[Table, list[tuple[str, str, bool]]]


def declare(reads: Reads, shapes: dict[Table, TableShape | None] | None) -> tuple[dict[str, dict], list[Row]]:
    """(the sources section, one report row per source)."""
    names = _names(list(reads.tables))
    sources, rows = {}, []
    for table, keys in reads.tables.items():
        qualified = ".".join(table) if table[0] else table[1]
        row = Row(key=f"(table) {qualified}", became="")
        rows.append(row)
        if not table[0]:
            row.refused.append(f"{qualified}: read by {', '.join(keys)} without a schema; prodline observes "
                               "schema.table: name its schema in the SQL (public.x) and import again")
            continue
        if table[0] in OWN_SCHEMAS:
            row.refused.append(f"{qualified}: in prodline's own schema {table[0]!r}, which prodline writes; "
                               "the team's table must live in a schema of its own")
            continue
        name = names[table]
        row.key = f"sources.{name}"
        row.became = f"observes {qualified} (arrival: warehouse), read by {', '.join(keys)}"
        shape = None if shapes is None else shapes.get(table)
        if shapes is not None and shape is None:
            row.refused.append(f"{qualified} is not in the database given with --db: columns and primary "
                               "key not declared")
        entry = {"description": f"{qualified}, filled by the team's ETL; read by {', '.join(keys)}",
                 "arrival": "warehouse", "table": qualified}
        date, how = _date_column(table, reads.knowledge.get(table, []), shape)
        if date is None:
            row.refused.append(f"sources.{name}.date_column: {how}")
        else:
            entry["date_column"] = date
            row.notes.append(f"date_column {date}: {how}")
        if shape is not None:
            columns, key, notes = _columns(shape)
            entry["primary_key"] = key
            entry["columns"] = columns
            row.notes += notes
            if not key:
                row.notes.append("no primary key in the database: primary_key not declared")
        elif shapes is None:
            row.notes.append("columns and primary_key not declared (no --db): both are optional for "
                             "arrival: warehouse; import with --db to declare them")
        if not entry.get("primary_key"):
            entry.pop("primary_key", None)
        sources[name] = entry
    return sources, rows


def _names(tables: list[Table]) -> dict[Table, str]:
    """A table's name, or schema_name where two schemas hold the same name or the name is not a safe
    identifier (a reserved word, say)."""
    counts: dict[str, int] = {}
    for _, name in tables:
        counts[name] = counts.get(name, 0) + 1
    named = {}
    for schema, name in tables:
        named[(schema, name)] = name if counts[name] == 1 and _safe(name) else f"{schema}_{name}"
    return named


def _safe(name: str) -> bool:
    try:
        sql_identifier(name)
    except ValueError:
        return False
    return True


def _date_column(table: Table, knowledge: list[tuple[str, str, bool]], shape: TableShape | None):
    """(the column, how it was chosen), or (None, what to write)."""
    columns = shape.columns if shape is not None else None
    usable = [(k, c) for k, c, alone in knowledge
              if (columns is None and alone) or (columns is not None and columns.get(c) in DATE_TYPES)]
    if usable:
        chosen = usable[0][1]
        readers = ", ".join(k for k, c in usable if c == chosen)
        others = sorted({c for _, c in usable} - {chosen})
        return chosen, f"the knowledge_date_column of {readers}" + (
            f" (others read it by {', '.join(others)})" if others else "")
    if columns is not None:
        dated = [c for c, t in columns.items() if t in DATE_TYPES]
        preferred = [c for n in DATE_NAMES for c in dated if c == n]
        if preferred or dated:
            chosen = (preferred or dated)[0]
            return chosen, f"the database's first date column ({columns[chosen]})"
        return None, (f"{'.'.join(table)} has no date or timestamp column: prodline partitions an observed "
                      "table by the day of a date column; write one (a view that adds it, say)")
    return None, (f"no feature aggregation reads {'.'.join(table)} with a knowledge_date_column: write the "
                  "date or timestamp column that dates its rows, or import with --db to pick one")


def _columns(shape: TableShape) -> tuple[dict[str, str], list[str], list[str]]:
    columns, notes = {}, []
    for name, pg_type in shape.columns.items():
        if not _safe(name):
            notes.append(f"column {name!r} left out: not a plain lowercase SQL name prodline can declare")
            continue
        kind = column_type(pg_type)
        if kind is None:  # declared as string, the blocking columns check would refuse the table
            notes.append(f"column {name} ({pg_type}) left out: prodline has no type for {pg_type}, and "
                         "a declared column is checked (as string it would fail); it is read as it is")
            continue
        columns[name] = kind.value
    key = shape.primary_key if all(k in columns for k in shape.primary_key) else []
    if shape.primary_key and not key:
        notes.append(f"primary key ({', '.join(shape.primary_key)}) not declared: a column of it is left out")
    return columns, key, notes
