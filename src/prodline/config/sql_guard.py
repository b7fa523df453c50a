"""Config SQL is read-only: each query is parsed (sqlglot) and refused unless it is one query that
reads, each quantity expression unless it is one expression.

Parsed, not matched: a word such as DELETE inside a string or a column name is no problem, and a
second statement hidden after a comment or a string is found. The warehouse is DuckDB or PostgreSQL
(its URL may come from the environment, unknown here), so the SQL is parsed in both dialects: it
passes when at least one parses it and no parse finds a write. This check is the first of two; the
warehouse runs the same SQL read-only as well (see `Warehouse.read`), for whatever a parser misses.
"""

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from prodline.config.base import Located, bind_as_of_date, bind_label_timespan

WAREHOUSE_DIALECTS = ("duckdb", "postgres")
# A source database may be any server SQLAlchemy reaches.
SOURCE_DIALECTS = (*WAREHOUSE_DIALECTS, "mysql", "tsql", "oracle", "sqlite")

# Harmless literals for the placeholders, so that the SQL parses as it will run.
_LITERALS = {"label_timespan": "INTERVAL '1 day'"}
_PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")
_TOKEN = re.compile(r"<Token token_type: TokenType\.\w+, text: (.*?), line: .*?>")

# Statements and clauses that write, lock or change the session; any of them, anywhere in the tree
# (a data-modifying CTE, SELECT ... INTO), refuses the query.
_WRITES = {
    exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
    exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.TruncateTable: "TRUNCATE",
    exp.Into: "SELECT ... INTO", exp.Lock: "a row lock (FOR UPDATE/SHARE)", exp.Copy: "COPY",
    exp.Commit: "COMMIT", exp.Rollback: "ROLLBACK", exp.Transaction: "BEGIN", exp.Set: "SET",
    exp.Attach: "ATTACH", exp.Detach: "DETACH", exp.Pragma: "PRAGMA", exp.Grant: "GRANT",
    exp.Use: "USE", exp.Install: "INSTALL", exp.Command: "a command",
}
# Functions that change state from inside a SELECT (sequences, settings, other sessions, files,
# other databases). A read-only transaction refuses some of them at run time, not all.
_STATEFUL = {"nextval", "setval", "set_config", "pg_terminate_backend", "pg_cancel_backend",
             "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal", "pg_notify", "lo_import",
             "lo_export", "lo_unlink", "lo_create", "lo_put", "dblink", "dblink_exec"}
_STATEFUL_PREFIXES = ("pg_advisory", "pg_try_advisory", "dblink_")

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # it warns on stderr for each fallback


def bind_placeholders(sql: str) -> str:
    """The SQL with each `{placeholder}` replaced by a literal of its kind (dates, else), in
    prodline's spelling or Triage's quoted one (`'{as_of_date}'`, `interval '{label_timespan}'`)."""
    sql = bind_label_timespan(bind_as_of_date(sql, "DATE '2000-01-01'"), "1 day")
    return _PLACEHOLDER.sub(lambda m: _LITERALS.get(m.group(1), "DATE '2000-01-01'"), sql)


def query_problem(sql: str, dialects: tuple[str, ...] = WAREHOUSE_DIALECTS) -> str | None:
    """Why `sql` is not one read-only query, or None."""
    return _judge(bind_placeholders(sql), dialects, _query_verdict)


def expression_problem(sql: str) -> str | None:
    """Why `sql` is not one read-only SQL expression (a feature's quantity), or None."""
    return _judge(f"SELECT ({bind_placeholders(sql)})", WAREHOUSE_DIALECTS, _expression_verdict)


def refuse_writes(sql: str, key: str, file=None, dialects: tuple[str, ...] = WAREHOUSE_DIALECTS) -> None:
    """Raise `Located` at `key` when `sql` (read from `file`, if given) is not one read-only query."""
    if (problem := query_problem(sql, dialects)) is not None:
        raise Located([((key,), f"{file.name}: {problem}" if file is not None else problem)])


def _judge(sql: str, dialects, verdict) -> str | None:
    parse_error, problems = None, []
    for dialect in dialects:
        try:
            statements = [s for s in sqlglot.parse(sql, dialect=dialect) if s is not None]
        except (ParseError, sqlglot.errors.TokenError) as err:
            parse_error = parse_error or _parse_message(err)
            continue
        problems.append(verdict(statements))
    if not problems:
        return f"cannot be parsed as SQL: {parse_error}"
    return next((p for p in problems if p is not None), None)


def _query_verdict(statements: list[exp.Expression]) -> str | None:
    if not statements:
        return "is empty: give one SELECT"
    if len(statements) > 1:
        return (f"must be one read-only query; found {len(statements)} statements "
                f"({', '.join(_kind(s) for s in statements)})")
    statement = statements[0]
    if not isinstance(statement, (exp.Query, exp.Values, exp.Pivot)):  # DuckDB's PIVOT reads too
        return f"must be one read-only query; found {_kind(statement)}"
    return _writes_in(statement, "must be one read-only query")


def _expression_verdict(statements: list[exp.Expression]) -> str | None:
    if len(statements) > 1:
        return (f"must be one SQL expression; found {len(statements)} statements "
                f"({', '.join(_kind(s) for s in statements)})")
    select = statements[0]
    extra = [k for k, v in select.args.items() if k != "expressions" and v]
    if not isinstance(select, exp.Select) or len(select.expressions) != 1 or extra:
        return "must be one SQL expression (such as a column, CASE ... END or a * b), not a query"
    return _writes_in(select, "must be one read-only SQL expression")


def _writes_in(tree: exp.Expression, must: str) -> str | None:
    for node in tree.walk():
        for kind, name in _WRITES.items():
            if isinstance(node, kind):
                found = node.name.upper() if kind is exp.Command else name
                return f"{must}; found {found}"
        if isinstance(node, (exp.Anonymous, exp.Func)):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _STATEFUL or name.startswith(_STATEFUL_PREFIXES):
                return f"{must}; found {name}(), which changes the database's state"
    return None


def _kind(statement: exp.Expression) -> str:
    """What a statement is, as its first keyword: SELECT, DELETE, COMMIT, ..."""
    if isinstance(statement, (exp.Query, exp.Pivot)):
        return "SELECT"
    for kind, name in _WRITES.items():
        if isinstance(statement, kind):
            return statement.name.upper() if kind is exp.Command else name
    return statement.sql().split(" ", 1)[0].upper() or type(statement).__name__


def _parse_message(err: Exception) -> str:
    details = getattr(err, "errors", None) or [{}]
    first = details[0]
    description = first.get("description") or str(err).split("\n", 1)[0]
    description = _TOKEN.sub(lambda m: repr(m.group(1)) if m.group(1) != "SENTINEL" else "the end",
                             description)
    description = description if len(description) <= 80 else description[:77] + "..."
    near = (first.get("highlight") or "").strip()
    where = f" at line {first['line']}, column {first['col']} of the SQL" if first.get("line") else ""
    return f"{description}{where}" + (f" (near {near!r})" if near else "")


def tables_read(sql: str) -> list[str]:
    """Every schema-qualified table a read-only query names (lowercase, in the parser's order; a
    CTE's name is unqualified, so it is not among them). The project maps them to the assets that
    write or observe them (ProjectConfig.tables_read)."""
    return [f"{schema}.{name}" for schema, name in named_tables(sql) or [] if schema]


def named_tables(sql: str) -> list[tuple[str, str]] | None:
    """(schema, name) of every table `sql` reads, lowercase, in the parser's order ('' for no
    schema); a CTE's own name is not a table. None when no warehouse dialect parses it."""
    for dialect in WAREHOUSE_DIALECTS:
        try:
            statements = [s for s in sqlglot.parse(bind_placeholders(sql), dialect=dialect) if s is not None]
        except (ParseError, sqlglot.errors.TokenError):
            continue
        ctes = {c.alias_or_name.lower() for s in statements for c in s.find_all(exp.CTE)}
        found = [(t.db.lower(), t.name.lower()) for s in statements for t in s.find_all(exp.Table)
                 if t.name and not (not t.db and t.name.lower() in ctes)]
        return list(dict.fromkeys(found))
    return None
