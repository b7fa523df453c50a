"""The warehouse: a DuckDB file by default, PostgreSQL from a URL, both through SQLAlchemy.

Every difference between the two dialects lives in this class; the library's SQL builders write
SQL that both accept.

SQL from the config (cohort, label, features, choices, attributes, fairness) runs read-only, the
second of two guards (the first: `config.sql_guard` refuses any of it that is not one read-only
query). `read` runs it in a read-only transaction that is rolled back; `replace_window_from`
computes its result in a read-only transaction into a temporary table, then writes that table in
a transaction of its own. On DuckDB, DuckDB's own parser must also find exactly one SELECT, so that
no second statement (a COMMIT ending the read-only transaction, then a DELETE) can run behind it.
On PostgreSQL, which has no parser on this side, the read-only session default makes a statement
after such a COMMIT read-only too. The user's SQL is always a subquery of prodline's statement,
where both engines refuse a data-modifying WITH."""

import datetime as dt
import functools
import io
import itertools
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from pydantic import BaseModel, PrivateAttr
from sqlalchemy.pool import NullPool

from prodline.config.sources import OWN_SCHEMAS
from prodline.pipeline.raw.reading import MAX_LISTED
from prodline.pipeline.transient import is_transient
from prodline.stores import pg_binary
from prodline.stores.fingerprints import row_number, row_text

LAYERS = OWN_SCHEMAS  # prodline's schemas, created on first use
RESULT = "_prodline_result"  # the temporary table a read-only computation fills
KEYS = "_prodline_keys"  # the keys of a range being loaded, compared with the rows already loaded
_READ_ONLY_SESSION = "SET default_transaction_read_only = on"
INDEXES_AFTER_LOAD = "prodline_indexes_after_load"  # in a new table's `info`: built by its first write


class WriteRefused(ValueError):
    """SQL that should only read was found to be something else by the warehouse's own parser."""


def _asked_again(method):
    """For a reader (the API): a query cut by a dropped connection (the database restarted, the
    connection killed, the network hiccuped) is asked once more on a new connection (NullPool: each
    query opens its own) instead of failing the request. bench/soak.py cuts every connection while
    the API answers; before this, the request in flight failed with a 500."""

    @functools.wraps(method)
    def asked(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            if not (self.read_only and is_transient(err)):
                raise
        time.sleep(0.05)
        return method(self, *args, **kwargs)

    return asked


class Warehouse(BaseModel):
    """SQL warehouse with one schema per layer and idempotent window writes.

    DuckDB allows a single writing process: connections are opened per use (NullPool) and
    writers share a Dagster pool, whose limit `pool_limit` gives (1 for DuckDB).
    """

    url: str
    postgres_writers: int = 4
    # DuckDB locks its file for one writing process, or for readers: a connection that finds it held
    # waits this long for it (the API's reads take milliseconds; a pipeline write, longer).
    lock_wait_seconds: float = 60.0
    read_only: bool = False  # a reader beside the pipeline, such as the prediction API
    # PostgreSQL's work_mem for the feature engine's transaction; None keeps the server's. Measured
    # (bench/features.py, 5M events): its pass over the events took 6 s at 4 MB and 9 s at 64 to
    # 512 MB, the hash aggregate spilling in batches being faster than one table of 3M groups.
    work_mem_mb: int | None = None

    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def backend(self) -> str:
        return sa.make_url(self.url).get_backend_name()

    @property
    def pool_limit(self) -> int:
        return 1 if self.backend == "duckdb" else self.postgres_writers

    @property
    def _url(self) -> sa.URL:
        url = sa.make_url(self.url)
        if url.get_backend_name() not in ("duckdb", "postgresql"):
            raise ValueError(f"warehouse URL {url!r}: use duckdb:///file or postgresql+psycopg2://")
        if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg2":
            url = url.set(drivername="postgresql+psycopg2")
        return url

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            if self.backend == "duckdb" and self._url.database not in (None, "", ":memory:"):
                Path(self._url.database).parent.mkdir(parents=True, exist_ok=True)
            args = {}
            if self.read_only:  # on PostgreSQL: each transaction is read-only unless it says otherwise
                args = {"read_only": True} if self.backend == "duckdb" else \
                    {"options": "-c default_transaction_read_only=on"}
            self._engine = sa.create_engine(self._url, poolclass=NullPool, connect_args=args)
            if self.backend == "duckdb":
                sa.event.listen(self._engine, "do_connect", self._wait_for_lock)
        return self._engine

    def _wait_for_lock(self, dialect, record, cargs, cparams):
        """Open a DuckDB connection, waiting while another process holds the file's lock, or another
        connection of this process holds it in the other mode (a reader beside a writer, as a test
        of the API beside the pipeline does): DuckDB refuses both at once rather than waiting."""
        import duckdb

        deadline, pause = time.monotonic() + self.lock_wait_seconds, 0.005
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except (duckdb.IOException, duckdb.ConnectionException) as err:
                held = "lock" in str(err) or "different configuration" in str(err)
                if not held or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """Keep one connection open meanwhile, so that every query of a step opens its own
        connection cheaply: DuckDB then reuses the database already open in this process (2 ms)
        instead of opening the file again (15 ms to 20 ms, some 30 times in a load of three raw
        tables: bench/ingest.py). Other processes wait for the file as they do during any write.
        PostgreSQL connections are cheap and left as they are."""
        if self.backend != "duckdb" or self._url.database in (None, "", ":memory:"):
            yield
            return
        with self.engine.connect():
            yield

    def missing_file(self) -> str | None:
        """The DuckDB file this warehouse would open, if it does not exist (None for a server, or a
        file that is there): a reader must not create an empty warehouse where it expected data."""
        file = self._url.database if self.backend == "duckdb" else None
        return file if file and file != ":memory:" and not Path(file).is_file() else None

    def reading(self) -> "Warehouse":
        """This warehouse opened read-only: a DuckDB file is opened read-only (and never created);
        PostgreSQL sessions default to read-only transactions."""
        return Warehouse(url=self.url, postgres_writers=self.postgres_writers,
                         lock_wait_seconds=self.lock_wait_seconds, read_only=True)

    @_asked_again
    def read(self, sql: str, **params) -> list[dict]:
        """The rows of SQL from the config (one SELECT), run in a read-only transaction that is
        rolled back: whatever the SQL tries to write is refused by the database."""
        with self.engine.connect() as conn:
            if self.backend == "postgresql":
                conn.exec_driver_sql(f"SET TRANSACTION READ ONLY; {_READ_ONLY_SESSION}")
                return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
            # DuckDB: the raw connection, before SQLAlchemy begins its (read-write) transaction.
            driver = conn.connection.driver_connection
            sql = re.sub(r"(?<![:\w]):(" + "|".join(map(re.escape, params)) + r")\b", r"$\1", sql) \
                if params else sql
            _one_select(sql)
            driver.execute("BEGIN TRANSACTION READ ONLY")
            try:
                cursor = driver.execute(sql, params or None)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            finally:
                driver.execute("ROLLBACK")

    def ensure_layers(self) -> None:
        with self.engine.begin() as conn:
            for layer in LAYERS:
                conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {layer}"))

    def ensure_table(self, schema: str, name: str, columns: list[sa.Column],
                     index: list[str] | None = None, key: list[str] | None = None) -> sa.Table:
        """Create the table (and, on PostgreSQL, an index on `index` and one on `key`) if missing;
        return it. A column the code has and an existing table lacks (a warehouse made by an earlier
        version) is added, its existing rows taking the column's server default. `key` is a raw
        table's primary key, which every load looks up (`keys_elsewhere`). A table created now gets
        its indexes from the `replace_window` that first fills it, built once over its rows rather
        than kept up row by row during the COPY (a year of raw rows: 3.4 s -> 2.7 s)."""
        self.ensure_layers()
        table = sa.Table(name, sa.MetaData(schema=schema), *columns)
        indexes = [cols for cols in (index, key) if cols and self.backend == "postgresql"]
        with self.engine.begin() as conn:
            if indexes and not self._columns_in(conn, schema, name):
                table.info[INDEXES_AFTER_LOAD] = indexes
                indexes = []
            table.create(conn, checkfirst=True)
            have = self._columns_in(conn, schema, name)
            for column in (c for c in columns if c.name not in have):
                kind = column.type.compile(dialect=self.engine.dialect)
                default = "" if column.server_default is None else \
                    " DEFAULT '{}'".format(str(column.server_default.arg).replace("'", "''"))
                conn.execute(sa.text(f"ALTER TABLE {schema}.{name} ADD COLUMN {_quoted(column.name)} "
                                     f"{kind}{default}"))
            for cols in indexes:
                _create_index(conn, table, cols)
        return table

    def integer_column(self, table: str, column: str) -> bool:
        """Whether schema.table's column holds integers (False where either is missing)."""
        schema, name = table.split(".")
        with self.engine.connect() as conn:
            kind = self._columns_in(conn, schema, name).get(column, "")
        return kind in ("smallint", "integer", "bigint", "hugeint", "tinyint", "ubigint", "uinteger")

    def replace_window(self, table: sa.Table, rows: pa.Table, column: str,
                       start: dt.date, end: dt.date) -> int:
        """Delete rows whose `column` is in start..end and insert `rows`, in one transaction. On
        PostgreSQL a table the write changed by a tenth or more (or never analyzed) is analyzed
        then, as autovacuum would later: the queries that read it next (a raw table's checks) are
        planned on its rows, not on an empty table's estimates. A year of raw rows (a million) had
        its key check take 2.6 s before, 0.7 s after, for 0.15 s of ANALYZE (bench/ingest.py)."""
        where = sa.and_(table.c[column] >= start, table.c[column] <= end)
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(where))
            self.bulk_insert(conn, table, rows)
            for cols in table.info.pop(INDEXES_AFTER_LOAD, []):  # if this write fails, the next
                _create_index(conn, table, cols)                 # ensure_table makes them
        if self.backend == "postgresql":
            name = f"{table.schema}.{table.name}"
            with self.engine.begin() as conn:
                known = conn.execute(sa.text("SELECT reltuples FROM pg_class "
                                             "WHERE oid = CAST(:name AS regclass)"), {"name": name}).scalar()
                if known is None or known < 0 or rows.num_rows > 0.1 * known:
                    conn.execute(sa.text(f"ANALYZE {name}"))
        return rows.num_rows

    def replace_window_from(self, schema: str, name: str, select: str, column: str,
                            start: dt.date, end: dt.date, new_column_type=None, verify=None,
                            hash_joins: bool = False) -> int:
        """Delete rows whose `column` is in start..end and insert what `select` returns, in one
        transaction, all inside the warehouse. `select` (built from config SQL) is computed
        read-only first, into a temporary table (see the module's docstring). The first run creates
        the table from the SELECT's shape; a later SELECT with more columns adds them (typed by
        `new_column_type(name)`), and rows written before keep NULL there until their window is
        written again. `verify(conn)` runs before the commit; whatever it raises rolls the whole
        write back. `hash_joins` is for SQL whose joins are all equalities on keys (prodline's
        features): PostgreSQL is kept from nested loops, which it picks when it guesses a CTE
        holds one row (a features partition of 10,000 entities took 91 s that way, 1.2 s without)."""
        self.ensure_layers()
        with self.engine.connect() as conn:
            if self.backend == "duckdb":
                self._compute_duckdb(conn.connection.driver_connection, select)
            with conn.begin():
                if self.backend == "postgresql":
                    if hash_joins:
                        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
                    self._compute_postgresql(conn, select)
                return self._write_result(conn, schema, name, column, start, end, new_column_type, verify)

    def replace_window_computed(self, schema: str, name: str, column: str, start: dt.date,
                                end: dt.date, computation, new_column_type=None, verify=None) -> int:
        """replace_window_from with the rows computed in Python (a `feature_windows.Computation`):
        each SELECT of its `reads` (config SQL) runs read-only; its `compute(tables)` gets their
        rows as Arrow tables by name and yields the rows of the window; in one transaction the
        window of schema.name is deleted and those rows written (the table made, or widened, from
        their shape as in replace_window_from), then `verify(conn)` runs. On PostgreSQL the rows go
        both ways in COPY's binary format; `work_mem_mb`, if set, is the transaction's."""
        with self.kept_open():  # DuckDB: the file opened once for the layers and the write
            self.ensure_layers()
            return self._replace_computed(schema, name, column, start, end, computation, new_column_type,
                                          verify)

    def _replace_computed(self, schema: str, name: str, column: str, start: dt.date, end: dt.date,
                          computation, new_column_type, verify) -> int:
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            if self.backend == "duckdb":
                for sql in computation.reads.values():
                    _one_select(sql)
                driver.execute("BEGIN TRANSACTION READ ONLY")
                try:
                    tables = {n: driver.sql(sql).to_arrow_table() for n, sql in computation.reads.items()}
                finally:
                    driver.execute("ROLLBACK")
                batches = computation.compute(tables)
                with conn.begin():
                    return self._write_batches(conn, schema, name, column, start, end, batches,
                                               new_column_type, verify)
            with conn.begin():
                if self.work_mem_mb:
                    conn.exec_driver_sql(f"SET LOCAL work_mem = '{int(self.work_mem_mb)}MB'")
                conn.exec_driver_sql(_READ_ONLY_SESSION)
                with conn.begin_nested():
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                    cursor = driver.cursor()
                    tables = {n: pg_binary.copy_out(cursor, sql) for n, sql in computation.reads.items()}
                batches = computation.compute(tables)
                return self._write_batches(conn, schema, name, column, start, end, batches,
                                           new_column_type, verify)

    def _write_batches(self, conn: sa.Connection, schema: str, name: str, column: str, start: dt.date,
                       end: dt.date, batches, new_column_type, verify) -> int:
        """Replace the window of schema.name with the record batches (the first one, even empty,
        gives the shape)."""
        target, driver = f"{schema}.{name}", conn.connection.driver_connection
        batches = iter(batches)
        first = next(batches)
        kinds = {pa.types.is_date32: "DATE", pa.types.is_int64: "BIGINT", pa.types.is_integer: "INTEGER"}
        create = f"CREATE TABLE {target} (" + ", ".join(
            f"{_quoted(f.name)} " + next((k for test, k in kinds.items() if test(f.type)), "DOUBLE PRECISION")
            for f in first.schema) + ")"
        window = self._emptied_window(conn, schema, name, column, start, end, first.schema.names, create,
                                      new_column_type)
        if self.backend == "duckdb":
            # One INSERT reading the batches as they come (one INSERT per batch took twice as long).
            names = ", ".join(map(_quoted, first.schema.names))
            driver.register("_prodline_batches", pa.RecordBatchReader.from_batches(
                first.schema, itertools.chain([first], batches)))
            try:
                driver.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM _prodline_batches")
            finally:
                driver.unregister("_prodline_batches")
        else:
            for batch in itertools.chain([first], batches):
                if batch.num_rows:
                    pg_binary.copy_in(driver.cursor(), target, batch)
        return self._verified_count(conn, target, column, window, verify)

    @staticmethod
    def _compute_duckdb(driver, select: str) -> None:
        # Before SQLAlchemy begins a transaction on this connection; the temporary table outlives
        # the read-only transaction (DuckDB allows temporary tables in one), not the connection.
        statement = f"CREATE TEMPORARY TABLE {RESULT} AS SELECT * FROM ({select}) AS q"
        _one_select(f"SELECT * FROM ({select}) AS q")
        driver.execute("BEGIN TRANSACTION READ ONLY")
        try:
            driver.execute(statement)
        except BaseException:
            driver.execute("ROLLBACK")
            raise
        driver.execute("COMMIT")

    @staticmethod
    def _compute_postgresql(conn: sa.Connection, select: str) -> None:
        # WITH NO DATA plans the query without running it; the rows come in a savepoint made
        # read-only, whose release makes the transaction read-write again (a temporary table may be
        # written in a read-only transaction, not created in one). The session default comes first:
        # a transaction after a smuggled COMMIT is read-only (the connection is not reused).
        conn.exec_driver_sql(_READ_ONLY_SESSION)
        conn.execute(sa.text(f"CREATE TEMPORARY TABLE {RESULT} ON COMMIT DROP AS "
                             f"SELECT * FROM ({select}) AS q WITH NO DATA"))
        with conn.begin_nested():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.execute(sa.text(f"INSERT INTO {RESULT} SELECT * FROM ({select}) AS q"))

    def _write_result(self, conn: sa.Connection, schema: str, name: str, column: str, start: dt.date,
                      end: dt.date, new_column_type, verify) -> int:
        """Replace the window of schema.name with the rows of the temporary result table."""
        target = f"{schema}.{name}"
        shape = list(conn.execute(sa.text(f"SELECT * FROM {RESULT} LIMIT 0")).keys())
        window = self._emptied_window(conn, schema, name, column, start, end, shape,
                                      f"CREATE TABLE {target} AS SELECT * FROM {RESULT} LIMIT 0",
                                      new_column_type)
        names = ", ".join(map(_quoted, shape))  # feature names are Triage's: spaces, `::`, capitals
        conn.execute(sa.text(f"INSERT INTO {target} ({names}) SELECT {names} FROM {RESULT}"))
        return self._verified_count(conn, target, column, window, verify)

    def _emptied_window(self, conn: sa.Connection, schema: str, name: str, column: str, start: dt.date,
                        end: dt.date, shape: list[str], create: str, new_column_type) -> dict:
        """The table made by `create` if missing, or given the columns of `shape` it lacks (typed by
        `new_column_type(name)`); then its window deleted. Returns the window's bounds."""
        have = self._columns_in(conn, schema, name)
        if not have:
            conn.execute(sa.text(create))
        for added in (c for c in shape if have and c not in have):
            kind = new_column_type(added) if new_column_type else "DOUBLE PRECISION"
            conn.execute(sa.text(f"ALTER TABLE {schema}.{name} ADD COLUMN {_quoted(added)} {kind}"))
        window = {"start": start, "end": end}
        conn.execute(sa.text(f"DELETE FROM {schema}.{name} WHERE {column} BETWEEN :start AND :end"), window)
        return window

    @staticmethod
    def _verified_count(conn: sa.Connection, target: str, column: str, window: dict, verify) -> int:
        """`verify(conn)` (whatever it raises rolls the write back), then the rows the window holds."""
        if verify is not None:
            verify(conn)
        return conn.execute(sa.text(f"SELECT count(*) FROM {target} WHERE {column} BETWEEN "
                                    ":start AND :end"), window).scalar()

    def bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
        """The fastest insert each driver has: Arrow scan on DuckDB, COPY on PostgreSQL."""
        if not rows.num_rows:
            return
        names = ", ".join(rows.column_names)
        target = f"{table.schema}.{table.name}"
        driver = conn.connection.driver_connection
        if self.backend == "duckdb":
            # One chunk per column: DuckDB scans a table of a thousand small chunks (one per day
            # of a range) at half the speed.
            driver.register("_prodline_rows", rows.combine_chunks())
            try:
                driver.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM _prodline_rows")
            finally:
                driver.unregister("_prodline_rows")
        else:
            _copy_in(driver, target, rows)

    def keys_elsewhere(self, table: str, key: list[str], keys: pa.Table, start: dt.date,
                       end: dt.date, limit: int = MAX_LISTED) -> list[dict]:
        """The rows of `keys` whose key `table` already holds on a day (`_datestamp`) outside
        start..end. `keys` has the key columns, then the integers `_batch` and `_line` (which batch
        of a range, which line of it); each row found comes back with them, `_held_on` (the
        earliest other day holding the key) and `_hits` (how many rows of its batch are found),
        the first `limit` of each batch by line. One query whatever the number of keys: they are
        joined in the warehouse, an Arrow scan on DuckDB, a temporary table filled by COPY on
        PostgreSQL (analyzed, so that a few keys are looked up in the key's index, not scanned)."""
        schema, name = table.split(".")
        cols = ", ".join(f"k.{k}" for k in key)
        select = (
            "SELECT * FROM (SELECT hit.*, row_number() OVER (PARTITION BY _batch ORDER BY _line) AS _n,"
            " count(*) OVER (PARTITION BY _batch) AS _hits"
            f" FROM (SELECT {cols}, k._batch, k._line, min(r._datestamp) AS _held_on"
            f" FROM {KEYS} AS k JOIN {table} AS r ON {' AND '.join(f'r.{k} = k.{k}' for k in key)}"
            " WHERE r._datestamp < :start OR r._datestamp > :end"
            f" GROUP BY {cols}, k._batch, k._line) AS hit) AS ranked"
            " WHERE _n <= :limit ORDER BY _batch, _line")
        with self.engine.begin() as conn:
            have = self._columns_in(conn, schema, name)
            if not keys.num_rows or not all(k in have for k in key):
                return []  # nothing loaded yet, or only rows from before a key column was added
            driver = conn.connection.driver_connection
            if self.backend == "duckdb":
                driver.register(KEYS, keys)
            else:
                conn.execute(sa.text(f"CREATE TEMPORARY TABLE {KEYS} ON COMMIT DROP AS "
                                     f"SELECT {', '.join(key)} FROM {table} WITH NO DATA"))
                conn.execute(sa.text(f"ALTER TABLE {KEYS} ADD COLUMN _batch integer, "
                                     "ADD COLUMN _line bigint"))
                _copy_in(driver, KEYS, keys)
                conn.execute(sa.text(f"ANALYZE {KEYS}"))
            try:
                found = conn.execute(sa.text(select), {"start": start, "end": end, "limit": limit})
                return [{k: v for k, v in r._mapping.items() if k != "_n"} for r in found]
            finally:
                if self.backend == "duckdb":
                    driver.unregister(KEYS)

    def stream(self, select: str, schema: pa.Schema, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The rows of `select` as Arrow batches of `schema`, never all in memory at once: DuckDB
        hands out record batches; PostgreSQL streams `COPY ... TO STDOUT` (CSV) through a pipe into
        Arrow's CSV reader, far leaner than fetching Python tuples.

        DuckDB runs the select on one thread: each scan thread pins a block of every column it
        reads, which for a wide matrix is more memory than a small matrix itself (2.4x the demo's
        matrix with two threads, 1.9x with one; bench/matrices.py), and reading is not what is slow."""
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            if self.backend == "duckdb":
                threads = driver.sql("SELECT current_setting('threads')").fetchall()[0][0]
                driver.execute("SET threads = 1")
                reader = driver.sql(select).to_arrow_reader(batch_rows)
                try:
                    for batch in reader:
                        yield batch.cast(schema) if batch.schema != schema else batch
                finally:
                    reader.close()  # an open result would block the connection's rollback
                    driver.execute(f"SET threads = {int(threads)}")
                return
            yield from _copy_batches(driver, select, schema)

    @_asked_again
    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    @_asked_again
    def rows(self, sql: str, **params) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]

    def day_fingerprints(self, table: str, day: str, start: dt.date, end: dt.date,
                         portable: bool = False) -> dict[dt.date, str]:
        """For each day from start to end that has rows in `table` (dated by the expression `day`):
        its row count and a sum of row hashes, which changes when any row of that day is added,
        removed or edited, whatever the order rows are stored in. One grouped query. `portable`:
        the same on DuckDB and PostgreSQL for the same rows (`stores.fingerprints`), at the price
        of writing every value as text; otherwise each engine's own row hash."""
        if portable:
            row_hash = row_number(self.backend, row_text(self.columns(*table.split("."))))
        else:
            row_hash = "hashtextextended(t::text, 0)" if self.backend == "postgresql" else "hash(t)"
        found = self.read(f"SELECT {day} AS day, count(*) AS n, CAST(sum({row_hash}) AS VARCHAR) AS h "
                          f"FROM {table} AS t WHERE {day} BETWEEN :start AND :end GROUP BY 1",
                          start=start, end=end)
        return {r["day"]: f"{r['n']}:{r['h']}" for r in found}

    @_asked_again
    def columns(self, schema: str, name: str) -> dict[str, str]:
        """Column name to SQL type name (lowercase), as information_schema has them."""
        with self.engine.connect() as conn:
            return self._columns_in(conn, schema, name)

    @staticmethod
    def _columns_in(conn: sa.Connection, schema: str, name: str) -> dict[str, str]:
        found = conn.execute(sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position"),
            {"schema": schema, "name": name})
        return {r.column_name: r.data_type.lower() for r in found}


def _create_index(conn: sa.Connection, table: sa.Table, cols: list[str]) -> None:
    conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {table.name}_{'_'.join(cols)}_idx "
                         f"ON {table.schema}.{table.name} ({', '.join(cols)})"))


def _copy_in(driver, target: str, rows: pa.Table) -> None:
    """COPY the rows into a PostgreSQL table, as CSV."""
    buffer = io.BytesIO()
    # One chunk per column first: pyarrow 26's CSV writer emits zero bytes for tables
    # whose columns are chunked differently (header-only files give empty chunks).
    pacsv.write_csv(rows.combine_chunks(), buffer, pacsv.WriteOptions(include_header=False))
    buffer.seek(0)
    names = ", ".join(rows.column_names)
    with driver.cursor() as cursor:
        cursor.copy_expert(f"COPY {target} ({names}) FROM STDIN WITH (FORMAT csv)", buffer)


def _copy_batches(driver, select: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    read_end, write_end = os.pipe()
    failure: list[BaseException] = []

    def copy() -> None:
        try:
            with os.fdopen(write_end, "wb") as sink, driver.cursor() as cursor:
                cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", sink)
        except BaseException as err:  # handed to the reading side, which raises it
            failure.append(err)

    writer = threading.Thread(target=copy, name="prodline-copy-out", daemon=True)
    writer.start()
    source = os.fdopen(read_end, "rb")
    try:
        if not source.peek(1):  # no rows (or a failed COPY): Arrow cannot open an empty CSV
            return
        reader = pacsv.open_csv(
            source, read_options=pacsv.ReadOptions(column_names=schema.names, block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True))
        yield from reader
    finally:
        source.close()  # a reader that stops early breaks the pipe, which ends the COPY
        writer.join()
        if failure and not isinstance(failure[0], BrokenPipeError):
            raise failure[0]


def _one_select(sql: str) -> None:
    """Refuse SQL that DuckDB's own parser does not read as exactly one SELECT."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.ParserException as err:
        raise WriteRefused(f"the warehouse cannot parse the SQL: {err}") from None
    kinds = [s.type.name for s in statements]
    if kinds != ["SELECT"]:
        raise WriteRefused(f"SQL from the config must be one SELECT; DuckDB finds "
                           f"{len(kinds)} statement(s): {', '.join(kinds) or 'none'}. Nothing was run.")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
