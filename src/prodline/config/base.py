"""Types every config section shares: safe SQL names, column types, SQL text, time intervals."""

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
MAX_SQL_FILE = 1_000_000
MAX_IDENTIFIER = 63  # PostgreSQL silently truncates longer names; we refuse them instead


def sql_identifier(name: str) -> str:
    # Table and column names are interpolated into SQL, so only plain lowercase names pass.
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not a safe SQL identifier: use lowercase letters, digits and "
            "underscores, starting with a letter or underscore"
        )
    if len(name) > MAX_IDENTIFIER:
        raise ValueError(f"{name!r} is longer than {MAX_IDENTIFIER} characters (PostgreSQL's limit)")
    if name in RESERVED_WORDS:
        raise ValueError(f"{name!r} is a reserved SQL word: choose another name")
    return name


Identifier = Annotated[str, AfterValidator(sql_identifier)]


class Strict(BaseModel):
    # `.inf` and `.nan` are YAML floats; no setting of prodline means either.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ColumnType(StrEnum):
    integer = "integer"
    float = "float"
    string = "string"
    boolean = "boolean"
    date = "date"
    timestamp = "timestamp"


def inside_project(path: Path | None) -> Path | None:
    """A relative path stays inside the config's folder; an absolute one is an explicit choice.

    `../../..` in a shared config would put data (or read SQL) wherever the file happens to be run
    from; a place outside the project has to be written out in full."""
    if path is not None and not path.is_absolute() and os.path.normpath(path).split(os.sep)[0] == "..":
        raise ValueError(f"{str(path)!r} climbs out of the project's folder (the config's): give a "
                         "path inside it, or an absolute path for a place outside on purpose")
    return path


ProjectPath = Annotated[Path, AfterValidator(inside_project)]


def env_name(pattern: str, meant_for: str, rule: str) -> AfterValidator:
    """An environment variable's name that says what it holds, so that a system variable (PATH,
    HOME) or another tool's secret (GITHUB_TOKEN) is never read as prodline's."""

    def check(name: str) -> str:
        if not re.fullmatch(pattern, name):
            raise ValueError(f"{name!r} is not a variable meant for {meant_for}: {rule}")
        return name

    return AfterValidator(check)


ApiTokenEnv = Annotated[str, env_name(
    r"[A-Z0-9_]*(PRODLINE[A-Z0-9_]*|_API)_TOKEN", "the API's token",
    "name one in capitals that ends with _TOKEN and says whose it is, such as PRODLINE_API_TOKEN "
    "or RISK_LIST_API_TOKEN")]


def resolve_file(path: Path | None, info: ValidationInfo) -> Path | None:
    """A path relative to the config's folder, which must exist."""
    if path is None:
        return None
    inside_project(path)
    base = (info.context or {}).get("base_dir", Path.cwd())
    full = (base / path).resolve()
    if full.exists() and not full.is_file():  # a folder or a pipe (reading one would wait)
        raise ValueError(f"not a regular file: {full}")
    if not full.is_file():
        raise ValueError(f"file not found: {full}")
    if full.stat().st_size > MAX_SQL_FILE:
        raise ValueError(f"{full} is larger than {MAX_SQL_FILE:,} bytes; SQL needs far less")
    return full


def one_of(model: Any, *names: str) -> list[str]:
    """The names of the given fields that are set; used to demand exactly one of them."""
    return [n for n in names if getattr(model, n) is not None]


_PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")


def check_placeholders(sql: str, required: set[str], allowed: set[str]) -> str:
    found = set(_PLACEHOLDER.findall(sql))
    if unknown := sorted(found - allowed):
        raise ValueError(f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                         f"use {', '.join('{' + a + '}' for a in sorted(allowed))}")
    if missing := sorted(required - found):
        raise ValueError(f"the SQL must use {', '.join('{' + m + '}' for m in missing)}")
    return sql


# Triage's spelling: the placeholder inside quotes, filled in as text by Python's str.format (the
# date as '2015-01-01', the timespan as '6month'), e.g. `'{as_of_date}'::date`,
# `interval '{label_timespan}'`. A typed literal (`date '{as_of_date}'`) becomes a cast.
_TYPED_DATE = re.compile(r"\b(date|timestamp)\s+'\{as_of_date\}'", re.IGNORECASE)


def bind_as_of_date(sql: str, value: str) -> str:
    """`sql` with its as-of date placeholders bound to the SQL date expression `value`, in either
    spelling: prodline's `{as_of_date}` (a date value) or Triage's `'{as_of_date}'` (quoted)."""
    sql = _TYPED_DATE.sub(lambda m: f"CAST({value} AS {m[1].upper()})", sql)
    return sql.replace("'{as_of_date}'", value).replace("{as_of_date}", value)


def bind_label_timespan(sql: str, span: str) -> str:
    """`sql` with its label timespan bound: Triage's `'{label_timespan}'` becomes the interval's text
    (`'6 months'`, as Triage's `interval '{label_timespan}'` reads it), prodline's unquoted
    `{label_timespan}` an interval value."""
    text = "'" + span.replace("'", "''") + "'"
    return sql.replace("'{label_timespan}'", text).replace("{label_timespan}", f"INTERVAL {text}")


class Located(ValueError):
    """Problems found by a check across sections, each with its own key path."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))
