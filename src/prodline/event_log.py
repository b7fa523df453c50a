"""The embedded instance's storage: Dagster's SQLite storage, but a batch of events (the planned
and materialized partitions of a range run, DAGSTER_EVENT_BATCH_SIZE at a time) is written in one
transaction per shard, where the stock storage opens and commits a connection for every event in
the run's file and again in the index. The rows written are the stock storage's, so every query
Dagster and its UI make reads what they would read there (tests/test_event_log_batching.py)."""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster._check as check
import sqlalchemy as sa
from dagster._core.events import ASSET_EVENTS, BATCH_WRITABLE_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import NullPool

PLANNED_CHECK = DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
# Dagster hands a storage events in batches only when this is set (its default, 0, writes each
# event alone). Batches of a range run's events, one per asset and kind, up to this many.
EVENT_BATCH_SIZE = ("DAGSTER_EVENT_BATCH_SIZE", "1000")


def batch_dagster_events() -> None:
    """Let Dagster hand a range run's events to the storage in batches, in this process (a command's
    run, the code location, and, through the storage below, the webserver and the daemon). On
    PostgreSQL storage too it writes a batch in one statement: bench/ingest.py, 62 s to 21 s."""
    os.environ.setdefault(*EVENT_BATCH_SIZE)


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose store_event_batch writes the batch's rows in the run's file and
    their mirror in the index (events, asset tags, asset rows, planned check rows) in one
    transaction each; the index commits first, so a batch that fails leaves nothing behind for
    Dagster's one-by-one retry to write twice."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        check.sequence_param(events, "events", of_type=EventLogEntry)
        if len({e.run_id for e in events}) != 1 or not all(
                e.is_dagster_event and e.dagster_event_type in BATCH_WRITABLE_EVENTS for e in events):
            super().store_event_batch(events)  # one by one, as Dagster asks only for these
            return
        rows = [self._event_to_row(e) for e in events]
        table = SqlEventLogStorageTable
        with self._db_lock, self._transaction(events[0].run_id) as run, \
                self._transaction(INDEX_SHARD_NAME) as index:
            run.execute(table.insert(), rows)
            inserted = index.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows)
            ids = [row[0] for row in inserted]
            self._index_asset_events(index, events, ids)
            self._index_planned_checks(index, events, ids)

    @contextmanager
    def _transaction(self, shard: str) -> Iterator[sa.Connection]:
        """SqliteEventLogStorage._connect without its lock (the caller holds it for both shards)."""
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        try:
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn
        finally:
            engine.dispose()

    def _index_asset_events(self, conn: sa.Connection, events, ids) -> None:
        """The tags and asset rows of store_event. An asset's row is written once, with what its
        events in turn would have written over it: each kind of event writes the same columns, so
        the last event of each kind, in their order, leaves the row as all of them would."""
        pairs = [(e, i) for e, i in zip(events, ids, strict=True) if e.dagster_event_type in ASSET_EVENTS]
        if not pairs:
            return
        self._store_asset_event_tags(conn, [e for e, _ in pairs], [i for _, i in pairs])
        last_of_kind = {(e.dagster_event.asset_key, e.dagster_event_type): (n, e, i)
                        for n, (e, i) in enumerate(pairs) if e.dagster_event.asset_key}
        index_cols = self._has_asset_key_index_cols_on_connection(conn)
        latest: dict[str, dict] = {}
        for _, event, event_id in sorted(last_of_kind.values(), key=lambda t: t[0]):
            values = self._get_asset_entry_values(event, event_id, index_cols)
            if values:
                latest.setdefault(event.dagster_event.asset_key.to_string(), {}).update(values)
        for key, values in latest.items():
            conn.execute(sqlite_insert(AssetKeyTable).values(asset_key=key, **values)
                         .on_conflict_do_update(index_elements=[AssetKeyTable.c.asset_key], set_=values))

    def _index_planned_checks(self, conn: sa.Connection, events, ids) -> None:
        """The planned rows of _store_asset_check_evaluation_planned, one per partition of each."""
        rows = []
        for event, event_id in zip(events, ids, strict=True):
            if event.dagster_event_type != PLANNED_CHECK:
                continue
            check.invariant(self.supports_asset_checks, "Asset checks require a database schema "
                            "migration. Run `dagster instance migrate`.")
            planned = event.dagster_event.event_specific_data
            keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
            common = dict(asset_key=planned.asset_key.to_string(), check_name=planned.check_name,
                          run_id=event.run_id, execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
                          evaluation_event=serialize_value(event),
                          evaluation_event_timestamp=self._event_insert_timestamp(event),
                          evaluation_event_storage_id=event_id)
            rows += [dict(common, partition=key) for key in keys]
        if rows:
            conn.execute(AssetCheckExecutionsTable.insert(), rows)


class BatchedSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage (runs, event log, schedules under one base_dir, Dagster's default) with
    the batched event log. In dagster.yaml:

        storage:
          custom:
            module: prodline.event_log
            class: BatchedSqliteStorage
            config: {base_dir: <DAGSTER_HOME>}
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self.base_dir = check.str_param(base_dir, "base_dir")
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = check.opt_inst_param(inst_data, "inst_data", ConfigurableClassData)
        DagsterStorage.__init__(self)
        batch_dagster_events()  # the webserver and the daemon write planned events too

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "BatchedSqliteStorage":
        return cls.from_local(inst_data=inst_data, **config_value)
