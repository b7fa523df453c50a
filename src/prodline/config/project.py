"""The project config: one YAML file describes a project, validated here.

Every problem is reported with its key path (and YAML line when known), all at once, so that a user
fixes a config in one pass instead of one error per run. Later stages (cohort, label, features,
temporal, grid, scoring, selection, promotion, serving, alerts) add their own sections to
`ProjectConfig`; until then those keys are refused like any other unknown key.
"""

import datetime as dt
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "unemployment" / "prodline.yaml"
CONFIG_ENV = "PRODLINE_CONFIG"
HOME_ENV = "PRODLINE_HOME"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Columns prodline adds to every raw table; a source may not declare them.
RESERVED_COLUMNS = frozenset({"_datestamp", "_source"})


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one line per problem."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in {path}:\n{listing}")


def _sql_identifier(name: str) -> str:
    # Table and column names are interpolated into SQL, so only plain lowercase names pass.
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not a safe SQL identifier: use lowercase letters, digits and "
            "underscores, starting with a letter or underscore"
        )
    if len(name) > 63:
        raise ValueError(f"{name!r} is longer than 63 characters (PostgreSQL's limit)")
    if name in RESERVED_WORDS:
        raise ValueError(f"{name!r} is a reserved SQL word: choose another name")
    return name


Identifier = Annotated[str, AfterValidator(_sql_identifier)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnType(StrEnum):
    integer = "integer"
    float = "float"
    string = "string"
    boolean = "boolean"
    date = "date"
    timestamp = "timestamp"


class Column(_Strict):
    """A raw column. YAML shorthand: `age: integer`."""

    type: ColumnType
    required: bool = False
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


class SourceConfig(_Strict):
    """A raw table and how its rows arrive, one partition per datestamp."""

    description: str = ""
    columns: dict[Identifier, Column] = Field(min_length=1)
    primary_key: list[Identifier] = Field(min_length=1)
    date_column: Identifier
    late_days: int = Field(0, ge=0, description="rows may be dated up to this many days early")
    rows_every_day: bool = False
    arrival: Literal["files", "query"] = "files"
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
        missing = [k for k in key if k not in info.data.get("columns", {k: None})]
        if missing:
            raise ValueError(f"{', '.join(missing)} not among the source's columns")
        return key

    @field_validator("date_column")
    @classmethod
    def _date_is_column(cls, name: str, info: ValidationInfo) -> str:
        columns = info.data.get("columns")
        if columns is None:
            return name
        if name not in columns:
            raise ValueError(f"{name!r} is not among the source's columns")
        if columns[name].type not in (ColumnType.date, ColumnType.timestamp):
            raise ValueError(f"{name!r} has type {columns[name].type}; it must be date or timestamp")
        return name

    @field_validator("query_file")
    @classmethod
    def _query_file_exists(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return None
        base = (info.context or {}).get("base_dir", Path.cwd())
        full = (base / path).resolve()
        if not full.is_file():
            raise ValueError(f"file not found: {full}")
        return full

    @model_validator(mode="after")
    def _query_matches_arrival(self) -> "SourceConfig":
        has_query = self.query is not None or self.query_file is not None
        if self.query is not None and self.query_file is not None:
            raise ValueError("give either query or query_file, not both")
        if self.arrival == "query" and not has_query:
            raise ValueError("arrival 'query' needs query or query_file")
        if self.arrival == "files" and has_query:
            raise ValueError("query/query_file are only used with arrival: query")
        return self

    @property
    def required_columns(self) -> list[str]:
        return [n for n, c in self.columns.items() if c.required or n in self.primary_key]

    def query_text(self) -> str:
        if self.query_file is not None:
            return self.query_file.read_text()
        assert self.query is not None, "query_text() on a files source"
        return self.query


class StorageConfig(_Strict):
    """Where data lives. Unset means the embedded default under one home folder."""

    home: Path | None = None
    warehouse_url: str | None = None
    source_database_env: str = "PRODLINE_SOURCE_URL"
    postgres_writers: int = Field(4, ge=1, description="pool limit for a PostgreSQL warehouse")


class ProjectConfig(_Strict):
    name: Identifier
    start_date: dt.date
    end_date: dt.date | None = None
    storage: StorageConfig = StorageConfig()
    sources: dict[Identifier, SourceConfig] = Field(min_length=1)
    # Where the file was read from: relative paths in it are relative to this folder.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @model_validator(mode="after")
    def _dates_in_order(self) -> "ProjectConfig":
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The config to use: an explicit path, else $PRODLINE_CONFIG, else the demo's."""
    chosen = explicit or os.environ.get(CONFIG_ENV) or DEMO_CONFIG
    return Path(chosen)


def load_config(path: str | os.PathLike | None = None) -> ProjectConfig:
    """Read and validate a project config; raise ConfigError listing every problem."""
    path = config_path(path).resolve()
    if not path.is_file():
        raise ConfigError(path, [f"config file not found: {path}"])
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(path, [f"{where}not valid YAML: {getattr(err, 'problem', err)}"]) from err
    if not isinstance(raw, dict):
        raise ConfigError(path, ["the file must hold a mapping of keys (name, sources, ...)"])
    raw.pop("base_dir", None)
    try:
        return ProjectConfig.model_validate(
            {**raw, "base_dir": path.parent}, context={"base_dir": path.parent}
        )
    except ValidationError as err:
        raise ConfigError(path, [_describe(e, lines) for e in err.errors()]) from None


def _describe(error: Any, lines: dict[tuple, int]) -> str:
    loc = tuple(p for p in error["loc"] if p != "[key]")
    where = ".".join(str(p) for p in loc) or "(top level)"
    line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
    if line is not None:
        where += f" (line {line})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    return f"{where}: {message}"


def _key_lines(node: yaml.Node | None, prefix: tuple = ()) -> dict[tuple, int]:
    """Map each key path in a YAML document to the line it starts on."""
    found: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, key.value)
            found[path] = key.start_mark.line + 1
            found.update(_key_lines(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found[(*prefix, i)] = item.start_mark.line + 1
            found.update(_key_lines(item, (*prefix, i)))
    return found

