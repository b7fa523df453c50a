"""A scratch copy of the warehouse that production never reads, for `prodline test`: a copy of the
DuckDB file, or a new PostgreSQL database on the same server holding a copy of every table of
prodline's schemas, dropped afterwards.

DuckDB: the file is copied under a read-only connection, which no writer can hold at the same time,
so the copy is consistent. PostgreSQL: a database cannot be cloned while anything is connected to it
(CREATE DATABASE ... TEMPLATE), and the assets write on several connections, so no transaction rolled
back afterwards could hold their writes; the tables are copied instead (COPY out and in, binary), all
read in one REPEATABLE READ, READ ONLY transaction: one consistent snapshot."""

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from prodline.stores.warehouse import LAYERS, Warehouse


class ScratchRefused(RuntimeError):
    """The warehouse cannot be copied now; the message says why."""


@contextmanager
def scratch_warehouse(production: Warehouse, folder: Path) -> Iterator[tuple[str, str]]:
    """(URL of a scratch copy of `production`, what was copied), removed afterwards (a DuckDB copy
    lives in `folder`, which the caller removes)."""
    if production.backend == "duckdb":
        yield _duckdb_copy(production, folder), "a copy of the DuckDB file"
        return
    with _postgres_copy(production) as (url, copied):
        yield url, copied


def _duckdb_copy(production: Warehouse, folder: Path) -> str:
    target = folder / "warehouse.duckdb"
    reader = production.model_copy(update={"read_only": True})
    if reader.missing_file() is None:
        source = Path(sa.make_url(production.url).database)
        try:
            with reader.engine.connect():  # no writer can hold the file while this is open
                shutil.copyfile(source, target)
                if (wal := source.with_name(source.name + ".wal")).exists():
                    shutil.copyfile(wal, target.with_name(target.name + ".wal"))
        except sa.exc.DBAPIError as err:
            raise ScratchRefused(f"cannot read the warehouse {source} to copy it: {err.orig}"
                                 + (f" (waited {reader.lock_wait_seconds:g} s; a run writing to it "
                                    "holds it: try again when it has finished)"
                                    if "lock" in str(err.orig) else "")) from None
        finally:
            reader.engine.dispose()
    return f"duckdb:///{target}"


@contextmanager
def _postgres_copy(production: Warehouse) -> Iterator[tuple[str, str]]:
    name = f"prodline_scratch_{uuid.uuid4().hex[:12]}"
    source_url = production.engine.url
    admin = sa.create_engine(source_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.DBAPIError as err:
        admin.dispose()
        raise ScratchRefused(f"cannot create a scratch database on the warehouse's server: "
                             f"{str(err.orig).strip()}") from None
    url = source_url.set(database=name)
    scratch = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        tables, rows = _copy_tables(production.engine, scratch)
        yield url.render_as_string(hide_password=False), \
            f"{tables} table(s), {rows:,} row(s) copied into the scratch database {name}"
    finally:
        scratch.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _copy_tables(source: sa.Engine, target: sa.Engine) -> tuple[int, int]:
    """Every table of prodline's schemas, columns typed as they are, rows copied in binary."""
    tables = rows = 0
    with source.connect() as reading, target.begin() as writing:
        reading.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        listed = reading.execute(sa.text(
            "SELECT c.oid, n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(:layers) ORDER BY 2, 3"),
            {"layers": list(LAYERS)}).all()
        for layer in LAYERS:
            writing.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{layer}"'))
        out, into = reading.connection.driver_connection, writing.connection.driver_connection
        for oid, schema, table in listed:
            columns = reading.execute(sa.text(
                "SELECT quote_ident(attname) || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = :oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
                {"oid": oid}).scalars().all()
            qualified = f'"{schema}"."{table}"'
            writing.execute(sa.text(f"CREATE TABLE {qualified} ({', '.join(columns)})"))
            with tempfile.SpooledTemporaryFile(max_size=64 << 20) as buffer:
                with out.cursor() as cursor:
                    cursor.copy_expert(f"COPY {qualified} TO STDOUT WITH (FORMAT binary)", buffer)
                buffer.seek(0)
                with into.cursor() as cursor:
                    cursor.copy_expert(f"COPY {qualified} FROM STDIN WITH (FORMAT binary)", buffer)
                    rows += cursor.rowcount
            tables += 1
    return tables, rows
