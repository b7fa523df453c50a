"""The team's own ETL steps: SQL files or shell commands between the raw tables and the features."""

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from prodline.config.base import Strict, check_placeholders, one_of, resolve_file, sql_identifier
from prodline.config.sql_guard import refuse_writes


def table_reference(value: str) -> str:
    """`raw.<source>` or `transforms.<name>`: the only tables a step may read by name."""
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or parts[0] not in ("raw", "transforms"):
        raise ValueError(f"{value!r} is not a table: write raw.<source> or transforms.<name>")
    sql_identifier(parts[1])
    return value


class TransformConfig(Strict):
    """A step that writes `transforms.<name>`, partitioned by datestamp like its inputs.

    SQL steps give one SELECT of the rows for the datestamps `{start}`..`{end}` (date values), with
    a `_datestamp` column; prodline deletes that window and inserts the result in one transaction
    (SQL that writes itself is refused: prodline does the writing).
    Shell steps get the window and the warehouse URL in their environment (PRODLINE_START,
    PRODLINE_END, PRODLINE_WAREHOUSE_URL) and run through Dagster Pipes; they must replace the
    window themselves.
    """

    inputs: list[str] = Field(min_length=1)
    sql: str | None = None
    sql_file: Path | None = None
    command: list[str] | None = None
    description: str = ""

    _sql_file = field_validator("sql_file")(resolve_file)

    @field_validator("inputs")
    @classmethod
    def _tables(cls, values: list[str]) -> list[str]:
        return [table_reference(v) for v in values]

    @model_validator(mode="after")
    def _exactly_one(self) -> "TransformConfig":
        if len(one_of(self, "sql", "sql_file", "command")) != 1:
            raise ValueError("give one of sql, sql_file or command")
        if self.kind == "sql":
            check_placeholders(self.sql_text(), {"start", "end"}, {"start", "end"})
            refuse_writes(self.sql_text(), "sql" if self.sql is not None else "sql_file", self.sql_file)
        return self

    @property
    def kind(self) -> str:
        return "shell" if self.command is not None else "sql"

    def sql_text(self) -> str:
        return self.sql_file.read_text() if self.sql_file is not None else self.sql
