"""A PostgreSQL database's catalog, read-only: the columns and types of a table
(information_schema), its primary key (pg_index), and PostgreSQL's types as prodline's ColumnType."""

from dataclasses import dataclass

import sqlalchemy as sa

from prodline.config.base import ColumnType
from prodline.pipeline.raw.schema import type_of_sql

_COLUMNS = sa.text("SELECT column_name, data_type, udt_name FROM information_schema.columns "
                   "WHERE table_schema = :schema AND table_name = :name ORDER BY ordinal_position")
_PRIMARY_KEY = sa.text(
    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
    "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary "
    "AND i.indrelid = to_regclass(format('%I.%I', CAST(:schema AS text), CAST(:name AS text))) "
    "ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)")


class CatalogError(Exception):
    """The database cannot be read; the message says why."""


@dataclass(frozen=True)
class TableShape:
    """A table as the database holds it: columns with PostgreSQL's type names, the primary key."""

    columns: dict[str, str]
    primary_key: list[str]


def column_type(pg_type: str) -> ColumnType | None:
    """prodline's type for a PostgreSQL type (information_schema's data_type), as the source's
    columns check reads it; None where prodline has no name for it (jsonb, arrays, uuid ...)."""
    return type_of_sql(pg_type)


def engine_url(url: str) -> str:
    """A PostgreSQL URL with prodline's driver (psycopg2: SQLAlchemy 2.1 reads a bare postgresql://
    as psycopg 3, which is not installed); others are refused."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("postgresql", "postgresql+psycopg2", "postgres"):
        raise CatalogError(f"--db: give a PostgreSQL URL (postgresql://user@host/db), not {scheme or url!r}")
    return "postgresql+psycopg2" + url[len(scheme):]


def read_tables(url: str, tables: list[tuple[str, str]]) -> dict[tuple[str, str], TableShape | None]:
    """Each (schema, name) -> its shape, or None where the database has no such table (`url` as
    `engine_url` gives it). Read in a read-only transaction: the importer never writes to the team's
    database."""
    engine = sa.create_engine(url,
                              connect_args={"options": "-c default_transaction_read_only=on"})
    try:
        with engine.connect() as conn:
            shapes = {}
            for schema, name in tables:
                found = conn.execute(_COLUMNS, {"schema": schema, "name": name}).all()
                if not found:
                    shapes[(schema, name)] = None
                    continue
                columns = {row.column_name: row.data_type for row in found}
                key = [row.attname for row in conn.execute(_PRIMARY_KEY, {"schema": schema, "name": name})]
                shapes[(schema, name)] = TableShape(columns, key)
            return shapes
    except sa.exc.SQLAlchemyError as err:
        first = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise CatalogError(f"--db: the database could not be read: {first}") from None
    finally:
        engine.dispose()
