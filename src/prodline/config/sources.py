"""Raw sources (tables that arrive per datestamp) and where data is stored."""

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from prodline.config.base import (
    ColumnType,
    Identifier,
    ProjectPath,
    Strict,
    env_name,
    resolve_file,
    sql_identifier,
)
from prodline.config.sql_guard import SOURCE_DIALECTS, refuse_writes

MAX_COLUMNS = 1000
SOURCE_URL_ENV = env_name(r"[A-Z][A-Z0-9_]*_URL", "a database URL",
                          "name one in capitals that ends with _URL, such as PRODLINE_SOURCE_URL")

# Columns prodline adds to every raw table; a source may not declare them.
RESERVED_COLUMNS = frozenset({"_datestamp", "_source"})


class Column(Strict):
    """A raw column. YAML shorthand: `age: integer`."""

    type: ColumnType
    required: bool = False
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


# prodline's own schemas in the warehouse: a team's table observed in place lives elsewhere.
OWN_SCHEMAS = ("raw", "transforms", "features", "results", "production")


def warehouse_table(value: Any) -> str:
    """`schema.name`, as a team's SQL names a table its own ETL fills."""
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2:
        raise ValueError(f"{value!r} is not schema.table (for example semantic.events)")
    for part in parts:
        sql_identifier(part)
    if parts[0] in OWN_SCHEMAS:
        raise ValueError(f"{value!r} is in prodline's own schema {parts[0]!r}: name the team's table")
    return value


class SourceConfig(Strict):
    """A raw table and how its rows arrive, one partition per datestamp.

    `arrival: files` and `query` copy each day's rows into raw.<source>. `arrival: warehouse`
    observes a table the team's own ETL already fills (`table: semantic.events`): nothing is
    copied; each day is the rows whose date_column falls on it, checked and fingerprinted so that a
    change flows downstream. Its columns and primary key are optional (declared ones are checked).
    """

    description: str = ""
    columns: dict[Identifier, Column] = Field({}, max_length=MAX_COLUMNS)
    primary_key: list[Identifier] = Field([], max_length=MAX_COLUMNS)
    date_column: Identifier
    late_days: int = Field(0, ge=0, le=3660, description="rows may be dated up to this many days early")
    rows_every_day: bool = False
    arrival: Literal["files", "query", "warehouse"] = "files"
    table: Annotated[str, AfterValidator(warehouse_table)] | None = None
    query: str | None = None
    query_file: Path | None = None

    @field_validator("columns")
    @classmethod
    def _no_reserved_columns(cls, columns: dict[str, Column]) -> dict[str, Column]:
        clash = sorted(RESERVED_COLUMNS & columns.keys())
        if clash:
            raise ValueError(f"{', '.join(clash)} are added by prodline; rename the column")
        return columns

    @field_validator("primary_key")
    @classmethod
    def _key_is_columns(cls, key: list[str], info: ValidationInfo) -> list[str]:
        columns = info.data.get("columns")
        if not columns:  # none declared (a warehouse table), or refused already
            return key
        missing = [k for k in key if k not in columns]
        if missing:
            raise ValueError(f"{', '.join(missing)} not among the source's columns")
        return key

    @field_validator("date_column")
    @classmethod
    def _date_is_column(cls, name: str, info: ValidationInfo) -> str:
        columns = info.data.get("columns")
        if not columns:
            return name
        if name not in columns:
            raise ValueError(f"{name!r} is not among the source's columns")
        if columns[name].type not in (ColumnType.date, ColumnType.timestamp):
            raise ValueError(f"{name!r} has type {columns[name].type}; it must be date or timestamp")
        return name

    _query_file = field_validator("query_file")(resolve_file)

    @model_validator(mode="after")
    def _query_matches_arrival(self) -> "SourceConfig":
        if self.arrival == "warehouse":
            return self._observed()
        if self.table is not None:
            raise ValueError("table is for arrival: warehouse (a table observed where it is)")
        if not self.columns:
            raise ValueError("columns: declare at least one (files and queries are checked against them)")
        if not self.primary_key:
            raise ValueError("primary_key: name the column(s) that identify a row")
        has_query = self.query is not None or self.query_file is not None
        if self.query is not None and self.query_file is not None:
            raise ValueError("give either query or query_file, not both")
        if self.arrival == "query" and not has_query:
            raise ValueError("arrival 'query' needs query or query_file")
        if self.arrival == "files" and has_query:
            raise ValueError("query/query_file are only used with arrival: query")
        if has_query:
            refuse_writes(self.query_text(), "query" if self.query is not None else "query_file",
                          self.query_file, SOURCE_DIALECTS)
        return self

    def _observed(self) -> "SourceConfig":
        if self.table is None:
            raise ValueError("arrival: warehouse needs table: the schema.table the team's ETL fills")
        if self.query is not None or self.query_file is not None:
            raise ValueError("query/query_file are only used with arrival: query")
        return self

    @property
    def observed(self) -> bool:
        """A table observed in place (arrival: warehouse), not copied into raw.<source>."""
        return self.arrival == "warehouse"

    @property
    def day(self) -> str:
        """The SQL expression that puts a row in its partition: the day it was loaded for, or for
        an observed table the day of its date column."""
        return f"CAST({self.date_column} AS DATE)" if self.observed else "_datestamp"

    @property
    def required_columns(self) -> list[str]:
        return [n for n, c in self.columns.items() if c.required or n in self.primary_key]

    def query_text(self) -> str:
        if self.query_file is not None:
            return self.query_file.read_text()
        assert self.query is not None, "query_text() on a files source"
        return self.query


class StorageConfig(Strict):
    """Where data lives. Unset means the embedded default under one home folder."""

    home: ProjectPath | None = None
    warehouse_url: str | None = None
    source_database_env: Annotated[str, SOURCE_URL_ENV] = "PRODLINE_SOURCE_URL"
    postgres_writers: int = Field(4, ge=1, le=64, description="pool limit for a PostgreSQL warehouse")
