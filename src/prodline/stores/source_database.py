"""A team's operational database, read one datestamp at a time by a configured query."""

import datetime as dt

import pyarrow as pa
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.pool import NullPool

from prodline.config import SourceConfig
from prodline.pipeline.raw.batches import RangeRefused, collect, combine, days_between
from prodline.pipeline.raw.key_clashes import HeldKeys
from prodline.pipeline.raw.reading import batch_from_table
from prodline.pipeline.raw.schema import arrow_schema


class SourceDatabase(BaseModel):
    """Any SQLAlchemy URL; the query takes the day as the bound parameter `:datestamp`."""

    url: str

    def read_range(self, name: str, source: SourceConfig, start: dt.date, end: dt.date,
                   held: HeldKeys | None = None) -> pa.Table:
        """Each day's rows, validated (their keys against the days `held` finds already loaded);
        if any day is refused, nothing is loaded (the rows stay where they are, to be fixed)."""
        query = sa.text(source.query_text())
        engine = sa.create_engine(self.url, poolclass=NullPool)

        def read_one(day: dt.date):
            with engine.connect() as conn:
                if conn.dialect.name == "postgresql":  # the query only reads (checked in the config,
                    # and here by the server, in this transaction and any after a smuggled COMMIT)
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY; SET default_transaction_read_only = on")
                result = conn.execute(query, {"datestamp": day})
                names = list(result.keys())
                rows = result.fetchall()
            table = pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)})
            return batch_from_table(table, source, day, where=f"{name} query for {day}", row_rules=False)

        try:
            batches, errors = collect(days_between(start, end), read_one, source, held)
        finally:
            engine.dispose()
        if errors:
            raise RangeRefused(name, errors)
        return combine(batches, arrow_schema(source, lineage=True))
