"""A scratch PostgreSQL database for a benchmark, dropped afterwards (shared by the benchmarks)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(required: bool = True) -> Iterator[sa.URL | None]:
    """A fresh database; when the server is unreachable, an error if `required`, else None."""
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    name = f"prodline_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as err:
        if required:
            raise SystemExit(f"PostgreSQL unreachable at {PG} ({err.orig}); use --skip-postgres") from None
        yield None
        return
    try:
        yield sa.make_url(PG).set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
