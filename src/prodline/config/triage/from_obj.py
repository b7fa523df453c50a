"""A feature aggregation's from_obj that does not parse, in Triage's terms: Triage pastes from_obj
after FROM (`SELECT ... FROM <from_obj>`), so it must be a table or a FROM clause; the parser's
message points into from_obj itself (line and column of what was written)."""

import re
from typing import Any

import sqlglot
from sqlglot.errors import ParseError, TokenError

from prodline.config.sql_guard import WAREHOUSE_DIALECTS, bind_placeholders


def from_obj_problem(from_obj: Any) -> str | None:
    """Why `from_obj` cannot follow FROM, or None when some warehouse dialect parses it."""
    if not isinstance(from_obj, str):
        return None  # the native section says what type it must be
    first = None
    for dialect in WAREHOUSE_DIALECTS:
        try:
            # from_obj on a line of its own: the parser's line and column are from_obj's own.
            sqlglot.parse(f"SELECT *\nFROM\n{bind_placeholders(from_obj)}", dialect=dialect)
            return None
        except (ParseError, TokenError) as err:
            first = first or err
    return ("Triage reads it as `SELECT ... FROM <from_obj>` (a table, a join or a subquery with an "
            f"alias), and there it does not parse: {_message(first)}")


_CLASS = re.compile(r"<class 'sqlglot\.[\w.]*\.(\w+)'>")


def _message(err: Exception) -> str:
    detail = (getattr(err, "errors", None) or [{}])[0]
    description = detail.get("description") or str(err).split("\n", 1)[0]
    # sqlglot names its node classes (<class 'sqlglot.expressions.query.Where'>): say WHERE.
    description = _CLASS.sub(lambda m: m[1].upper(), description)[:120]
    if not detail.get("line"):
        return description
    near = (detail.get("highlight") or "").strip()
    return (f"{description} at line {detail['line'] - 2}, column {detail['col']} of from_obj"
            + (f" (near {near!r})" if near else ""))
