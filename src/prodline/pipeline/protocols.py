"""What the library needs of the outside systems, declared, so that callers depend on these and not
on a module: the warehouse as the checks read it, and an arrival mode as raw assets load it."""

import datetime as dt
from typing import Protocol

import pyarrow as pa

from prodline.config import SourceConfig
from prodline.pipeline.raw.key_clashes import HeldKeys


class Queryable(Protocol):
    """The warehouse as the checks and queries read it (`prodline.stores.warehouse.Warehouse`)."""

    def rows(self, sql: str, **params) -> list[dict]: ...
    def read(self, sql: str, **params) -> list[dict]: ...  # SQL from the config: read-only
    def columns(self, schema: str, name: str) -> dict[str, str]: ...


class Arrival(Protocol):
    """How a source's rows arrive: every day of start..end read and validated, all or nothing;
    with `held`, a day that repeats a key another day already loaded is refused too.

    Raises `prodline.pipeline.raw.batches.RangeRefused` naming each bad day and why."""

    def read_range(self, name: str, source: SourceConfig, start: dt.date, end: dt.date,
                   held: HeldKeys | None = None) -> pa.Table: ...
