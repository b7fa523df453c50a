"""Column types of raw tables, in Arrow, SQL and the text form they take in files."""

import pyarrow as pa
import sqlalchemy as sa

from prodline.config import ColumnType, SourceConfig

ARROW = {
    ColumnType.integer: pa.int64(),
    ColumnType.float: pa.float64(),
    ColumnType.string: pa.string(),
    ColumnType.boolean: pa.bool_(),
    ColumnType.date: pa.date32(),
    ColumnType.timestamp: pa.timestamp("us"),
}

SQL = {
    ColumnType.integer: sa.BigInteger,
    ColumnType.float: sa.Double,
    ColumnType.string: sa.String,
    ColumnType.boolean: sa.Boolean,
    ColumnType.date: sa.Date,
    ColumnType.timestamp: sa.DateTime,
}

# What a value must look like in a CSV file; checked before casting so that a bad value is found
# with its line instead of failing the whole cast.
TEXT_PATTERN = {
    ColumnType.integer: r"^\s*[+-]?\d+\s*$",
    ColumnType.float: r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^(nan|NaN|inf|-inf)$",
    ColumnType.boolean: r"^(true|false|True|False|TRUE|FALSE|1|0)$",
    ColumnType.date: r"^\d{4}-\d{2}-\d{2}$",
    ColumnType.timestamp: r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$",
}

TYPE_WORD = {
    ColumnType.integer: "an integer",
    ColumnType.float: "a number",
    ColumnType.boolean: "true or false",
    ColumnType.date: "a date (YYYY-MM-DD)",
    ColumnType.timestamp: "a timestamp (YYYY-MM-DD HH:MM:SS)",
}

# Columns prodline adds to every raw row: the partition it was loaded for, and where it came from.
LINEAGE = {"_datestamp": pa.date32(), "_source": pa.string()}


def arrow_schema(source: SourceConfig, lineage: bool = False) -> pa.Schema:
    fields = [pa.field(name, ARROW[col.type]) for name, col in source.columns.items()]
    if lineage:
        fields += [pa.field(name, kind, nullable=False) for name, kind in LINEAGE.items()]
    return pa.schema(fields)


def sql_columns(source: SourceConfig) -> list[sa.Column]:
    """SQLAlchemy columns of a raw table, lineage columns last."""
    cols = [
        sa.Column(name, SQL[col.type](), nullable=name not in source.required_columns)
        for name, col in source.columns.items()
    ]
    return [*cols, sa.Column("_datestamp", sa.Date(), nullable=False),
            sa.Column("_source", sa.String(), nullable=False)]


def type_of_sql(data_type: str) -> ColumnType | None:
    """The config type an information_schema data type (PostgreSQL or DuckDB) stands for."""
    prefixes = [
        (("bigint", "integer", "int", "smallint", "hugeint"), ColumnType.integer),
        (("double", "real", "float", "numeric", "decimal"), ColumnType.float),
        (("character varying", "varchar", "text", "character"), ColumnType.string),
        (("boolean",), ColumnType.boolean),
        (("timestamp",), ColumnType.timestamp),
        (("date",), ColumnType.date),
    ]
    name = data_type.lower()

    def spells(word: str) -> bool:  # the word itself, perhaps with a size or more words after it
        return name.startswith(word) and not name[len(word):len(word) + 1].isalpha()

    return next((ours for names, ours in prefixes if any(spells(n) for n in names)), None)
