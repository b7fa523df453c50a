"""Config SQL is read-only, enforced twice: `prodline validate` refuses every SQL key that is not one
read-only query (with its key path and line), and the warehouse runs config SQL read-only, so that
SQL which slips past validation still cannot write (DuckDB and PostgreSQL)."""

import copy
import datetime as dt
import re

import duckdb
import pyarrow as pa
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from conftest import GRID, PROMOTION, SELECTION, SERVING, TEMPORAL, demo_sections, write_config
from prodline.cli import app
from prodline.config import DEMO_CONFIG, FeatureConfig, load_config
from prodline.config.features import Categorical
from prodline.config.sql_guard import query_problem
from prodline.pipeline.as_of.feature_columns import resolve_choices
from prodline.pipeline.as_of.preview import preview
from prodline.resources import warehouse_of
from prodline.stores.warehouse import Warehouse, WriteRefused

# Each probe, with `{w}` where the key's placeholders go, and what the refusal says it found.
PROBES = [
    ("DELETE FROM raw.registrations WHERE {w}", "DELETE"),
    ("DROP TABLE raw.registrations -- {w}", "DROP"),
    ("SELECT person_id AS entity_id FROM raw.registrations WHERE {w}; SELECT 1",
     "2 statements (SELECT, SELECT)"),
    ("COMMIT; DELETE FROM raw.interventions; SELECT 'x' AS kind -- {w}",
     "3 statements (COMMIT, DELETE, SELECT)"),
    ("WITH gone AS (DELETE FROM raw.registrations WHERE {w} RETURNING person_id) "
     "SELECT person_id AS entity_id FROM gone", "DELETE"),
    ("SELECT person_id AS entity_id INTO kept FROM raw.registrations WHERE {w}", "SELECT ... INTO"),
    ("ATTACH 'other.duckdb' AS other -- {w}", "ATTACH"),
    ("COPY raw.registrations TO 'out.csv' -- {w}", "COPY"),
    ("PRAGMA enable_profiling -- {w}", "PRAGMA"),
]
AS_OF = "registered_on < {as_of_date}"
# Every SQL key of a config: its path, and what its placeholders must be.
SQL_KEYS = [
    (("cohort", "query"), AS_OF),
    (("label", "query"), AS_OF),
    (("features", 0, "categoricals", 1, "choice_query"), "region IS NOT NULL"),
    (("transforms", "spell_ends", "sql"), "registered_on BETWEEN {start} AND {end}"),
    (("promotion", "fairness", "query"), AS_OF),
    (("serving", "attributes", "query"), AS_OF),
    (("sources", "exits", "query"), "registered_on = :datestamp"),
]


def full_sections() -> dict:
    """The demo's sections with every section that holds SQL (fairness, attributes, a source read
    by query), as plain data to put a probe into."""
    sections = demo_sections(temporal=TEMPORAL, grid=GRID, selection=SELECTION, promotion=PROMOTION,
                             serving=SERVING, scoring={"top_n": [10], "percentiles": [10, 50]})
    sections["transforms"] = {"spell_ends": {"inputs": ["raw.exits", "raw.registrations"],
                                             "sql": "SELECT * FROM raw.exits WHERE _datestamp "
                                                    "BETWEEN {start} AND {end}"}}
    sources = yaml.safe_load(DEMO_CONFIG.read_text())["sources"]
    sources["exits"].update(arrival="query", query="SELECT * FROM exits WHERE exited_on = :datestamp")
    return copy.deepcopy({**sections, "sources": sources})  # a probe must not reach conftest's dicts


def write_with(folder, path: tuple, sql: str):
    sections = full_sections()
    node = sections
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = sql
    return write_config(folder, end_date="2024-12-31", **sections)


def line_of(file, path: tuple) -> int:
    """The line the key `path` is on in the YAML file (read with the YAML library's own nodes)."""
    node = yaml.compose(file.read_text())
    line = None
    for part in path:
        if isinstance(part, int):
            node = node.value[part]
            continue
        key, node = next((k, v) for k, v in node.value if k.value == part)
        line = key.start_mark.line + 1
    return line


def test_the_config_with_every_sql_key_validates(tmp_path):
    path = write_config(tmp_path, end_date="2024-12-31", **full_sections())
    result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("key", "where"), SQL_KEYS, ids=[".".join(map(str, k)) for k, _ in SQL_KEYS])
def test_validate_refuses_every_probe_in_every_sql_key(tmp_path, key, where):
    shown = ".".join(map(str, key))
    for probe, found in PROBES:
        path = write_with(tmp_path, key, probe.replace("{w}", where))
        result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "300"})
        assert result.exit_code == 1, (probe, result.output)
        expected = f"{shown} (line {line_of(path, key)}): must be one read-only query; found {found}"
        assert expected in result.output, (probe, result.output)
        assert "1 problem(s)" in result.output and "Traceback" not in result.output


def test_quantity_expressions_are_one_read_only_expression(tmp_path):
    key = ("features", 0, "aggregates", 2, "quantity", "benefit")
    cases = [
        ("1) FROM raw.registrations; DELETE FROM raw.registrations; SELECT (1",
         "must be one SQL expression; found 3 statements (SELECT, DELETE, SELECT)"),
        ("age) FROM raw.registrations --",
         "must be one SQL expression (such as a column, CASE ... END or a * b), not a query"),
        ("(WITH gone AS (DELETE FROM raw.registrations RETURNING age) SELECT max(age) FROM gone)",
         "must be one read-only SQL expression; found DELETE"),
        ("nextval('people')",
         "must be one read-only SQL expression; found nextval(), which changes the database's state"),
    ]
    for expression, message in cases:
        path = write_with(tmp_path, key[:-1], {"benefit": expression})
        result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "300"})
        assert result.exit_code == 1, result.output
        assert f"{'.'.join(map(str, key))} (line {line_of(path, key)}): {message}" in result.output


def test_sql_files_are_refused_by_their_key_and_name(tmp_path):
    (tmp_path / "cohort.sql").write_text("SELECT 1 AS entity_id -- {as_of_date}\n;\nTRUNCATE raw.exits")
    path = write_with(tmp_path, ("cohort",), {"query_file": "cohort.sql"})
    result = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert (f"cohort.query_file (line {line_of(path, ('cohort', 'query_file'))}): cohort.sql: must be "
            "one read-only query; found 2 statements (SELECT, TRUNCATE)") in result.output


def test_sql_that_only_reads_passes_whatever_words_it_holds():
    for sql in ["SELECT 'DELETE FROM x; DROP TABLE y' AS kind",
                "WITH a AS (SELECT 1 AS n) SELECT n FROM a UNION ALL SELECT 2",
                "SELECT deleted, updated FROM raw.t WHERE d < {as_of_date} + {label_timespan};",
                "SELECT DISTINCT ON (a) a FROM t -- DROP TABLE t", "FROM t SELECT a",
                "PIVOT t ON a USING sum(b)", "SELECT a::date, j->>'k' FROM t WHERE a ~ 'x'"]:
        assert query_problem(sql) is None, sql
    assert query_problem("SELECT 1 FROM (") == ("cannot be parsed as SQL: Expected table name but got "
                                                "the end at line 1, column 15 of the SQL (near '(')")
    assert query_problem("") == "is empty: give one SELECT"
    for sql, found in [("INSERT INTO t VALUES (1)", "INSERT"), ("UPDATE t SET a = 1", "UPDATE"),
                       ("TRUNCATE t", "TRUNCATE"), ("CREATE TABLE t AS SELECT 1", "CREATE"),
                       ("SET threads = 1", "SET"), ("CALL f()", "CALL"),
                       ("GRANT ALL ON t TO u", "GRANT"), ("SELECT * FROM t FOR UPDATE",
                                                          "a row lock (FOR UPDATE/SHARE)"),
                       ("SELECT pg_terminate_backend(1)", "pg_terminate_backend(), which changes "
                                                          "the database's state")]:
        assert query_problem(sql) == f"must be one read-only query; found {found}", sql


# --- the second guard: the warehouse runs config SQL read-only ---------------------------------

DAY = dt.date(2024, 1, 1)
HOSTILE_CHOICES = "COMMIT; DELETE FROM raw.interventions; SELECT 'x' AS kind"


def hostile_feature() -> FeatureConfig:
    """A feature whose choice_query was never validated (model_construct skips every check)."""
    cat = Categorical.model_construct(column="kind", choices=None, choice_query=HOSTILE_CHOICES,
                                      metrics=[], imputation={})
    return FeatureConfig.model_construct(prefix="itv", categoricals=[cat])


def seeded(url: str) -> Warehouse:
    warehouse = Warehouse(url=url)
    warehouse.ensure_layers()
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE raw.interventions AS SELECT 1 AS id, 'training' AS kind "
                             "UNION ALL SELECT 2, 'counselling'"))
        conn.execute(sa.text("CREATE SEQUENCE raw.ids"))
    return warehouse


def count(warehouse: Warehouse) -> int:
    return warehouse.scalar("SELECT count(*) FROM raw.interventions")


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        return seeded(f"duckdb:///{tmp_path}/w.duckdb")
    return seeded(request.getfixturevalue("pg_url"))


# Config SQL that validation would refuse, as the warehouse answers it on each backend.
READS = [
    ("DELETE FROM raw.interventions",
     {"duckdb": "must be one SELECT; DuckDB finds 1 statement(s): DELETE. Nothing was run.",
      "postgresql": "cannot execute DELETE in a read-only transaction"}),
    ("WITH gone AS (DELETE FROM raw.interventions RETURNING id) SELECT id FROM gone",
     {"duckdb": "transaction is launched in read-only mode",
      "postgresql": "cannot execute SELECT in a read-only transaction"}),
    ("SELECT nextval('raw.ids') AS n",
     {"duckdb": "transaction is launched in read-only mode",
      "postgresql": "cannot execute nextval() in a read-only transaction"}),
]
# SELECTs whose result replace_window_from writes, each trying to write itself. The last breaks out
# of prodline's parentheses (as sqlglot would not let it) to run a DELETE after a COMMIT: each
# backend's own way to close prodline's statement (PostgreSQL's is CREATE ... WITH NO DATA).
BREAK_OUT = "SELECT DATE '2024-01-01' AS day, 1 AS id, 'x' AS kind) AS q{end}; COMMIT; " \
            "DELETE FROM raw.interventions; {next} SELECT * FROM (SELECT 1 AS day"
SMUGGLED = {"duckdb": BREAK_OUT.format(end="", next=""),
            "postgresql": BREAK_OUT.format(end=" WITH NO DATA", next="CREATE TEMPORARY TABLE z AS")}
BOTH = ("duckdb", "postgresql")
WRITES = [  # (SQL on each backend, what each backend answers)
    (dict.fromkeys(BOTH, "SELECT DATE '2024-01-01' AS day, nextval('raw.ids') AS id, 'x' AS kind"),
     {"duckdb": "transaction is launched in read-only mode",
      "postgresql": "cannot execute nextval() in a read-only transaction"}),
    (dict.fromkeys(BOTH, "SELECT * FROM (WITH gone AS (DELETE FROM raw.interventions RETURNING id) "
                         "SELECT DATE '2024-01-01' AS day, id, 'x' AS kind FROM gone) AS g"),
     dict.fromkeys(BOTH, "WITH clause containing a data-modifying statement must be at the top level")),
    (SMUGGLED,
     {"duckdb": "must be one SELECT; DuckDB finds 4 statement(s): SELECT, TRANSACTION, DELETE, SELECT",
      "postgresql": "cannot execute DELETE in a read-only transaction"}),
]
REFUSALS = (sa.exc.DBAPIError, duckdb.Error, WriteRefused)


def test_config_sql_that_slips_past_validation_cannot_write(warehouse):
    # The probe, as `prodline features` ran it: now nothing is deleted.
    with pytest.raises(REFUSALS) as info:
        resolve_choices(warehouse, hostile_feature())
    assert {"duckdb": "must be one SELECT; DuckDB finds 3 statement(s): TRANSACTION, DELETE, SELECT",
            # the COMMIT ends one read-only transaction; the next is read-only by the session default
            "postgresql": "cannot execute DELETE in a read-only transaction"}[warehouse.backend] \
        in str(info.value)
    for sql, refusal in READS:
        with pytest.raises(REFUSALS, match=re.escape(refusal[warehouse.backend])):
            warehouse.read(sql)
    assert count(warehouse) == 2
    assert warehouse.scalar("SELECT nextval('raw.ids')") == 1  # the sequence did not move either
    kept = warehouse.read("SELECT kind FROM raw.interventions WHERE id = :id", id=2)
    assert kept == [{"kind": "counselling"}]


def test_the_read_only_warehouse_refuses_any_write(warehouse):
    """What the serving app (attributes) and `prodline features` open: a read-only DuckDB file, or
    PostgreSQL sessions whose transactions are read-only, even after a smuggled COMMIT."""
    refusal = {"duckdb": 'Cannot execute statement of type "DELETE"',
               "postgresql": "cannot execute DELETE in a read-only transaction"}[warehouse.backend]
    reader = warehouse.reading()
    for sql in ["DELETE FROM raw.interventions", "COMMIT; DELETE FROM raw.interventions; SELECT 1"]:
        with pytest.raises(sa.exc.DBAPIError, match=re.escape(refusal)):
            reader.rows(sql)
    reader.engine.dispose()
    assert count(warehouse) == 2


def test_a_step_keeps_the_warehouse_open_and_lets_it_go(warehouse):
    """kept_open (what a raw load holds for its queries): the queries inside see each other's
    writes, and once it ends the file is free for a reader (which DuckDB refuses while a writing
    connection of the same process is open)."""
    with warehouse.kept_open():
        with warehouse.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO raw.interventions VALUES (3, 'visit')"))
        assert count(warehouse) == 3
    reader = Warehouse(url=warehouse.url, read_only=True, lock_wait_seconds=1)
    assert reader.scalar("SELECT count(*) FROM raw.interventions") == 3


def test_a_first_window_write_on_postgresql_indexes_and_analyzes_its_table(pg_url):
    """A new table's indexes are built by the write that first fills it (one that never comes leaves
    them to the next ensure_table), and the table is analyzed: the raw table's checks read it right
    after the load, planned on its rows, not on the estimates of a table never analyzed."""
    warehouse = Warehouse(url=pg_url)
    def columns():
        return [sa.Column("id", sa.BigInteger()), sa.Column("day", sa.Date())]

    def indexes(name):
        return sorted(r["indexname"] for r in warehouse.rows(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'raw' AND tablename = :t", t=name))

    table = warehouse.ensure_table("raw", "visits", columns(), index=["day"], key=["id"])
    assert indexes("visits") == []
    rows = pa.table({"id": pa.array(range(500), pa.int64()), "day": pa.array([DAY] * 500, pa.date32())})
    assert warehouse.replace_window(table, rows, "day", DAY, DAY) == 500
    assert indexes("visits") == ["visits_day_idx", "visits_id_idx"]
    assert warehouse.scalar("SELECT reltuples FROM pg_class WHERE oid = 'raw.visits'::regclass") == 500
    warehouse.ensure_table("raw", "unfilled", columns(), index=["day"], key=["id"])
    warehouse.ensure_table("raw", "unfilled", columns(), index=["day"], key=["id"])
    assert indexes("unfilled") == ["unfilled_day_idx", "unfilled_id_idx"]


def test_window_writes_compute_config_sql_read_only(warehouse):
    """replace_window_from writes what a SELECT returns; the SELECT itself cannot write."""
    select = "SELECT DATE '2024-01-01' AS day, id, kind FROM raw.interventions"
    assert warehouse.replace_window_from("features", "copy", select, "day", DAY, DAY) == 2
    assert warehouse.replace_window_from("features", "copy", select, "day", DAY, DAY) == 2
    for hostile, refusal in WRITES:
        with pytest.raises(REFUSALS, match=re.escape(refusal[warehouse.backend])):
            warehouse.replace_window_from("features", "copy", hostile[warehouse.backend], "day", DAY, DAY)
    assert count(warehouse) == 2
    assert warehouse.scalar("SELECT count(*) FROM features.copy") == 2
    assert warehouse.scalar("SELECT nextval('raw.ids')") == 1


def test_preview_of_a_fresh_home_creates_no_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRODLINE_WAREHOUSE_URL", raising=False)
    path = write_config(tmp_path, end_date="2024-12-31", **demo_sections())
    config = load_config(path)
    # The command's own message is tests/test_fresh_home.py's; here the library refuses by itself.
    with pytest.raises(ValueError, match=r"no warehouse yet at .*: load data first"):
        preview(config, warehouse_of(config, literal=True), dt.date(2024, 3, 1))
    assert not list(tmp_path.rglob("*.duckdb*"))
