"""The Dagster instance of the embedded default: SQLite storage under the project's home."""

import os
from pathlib import Path

import dagster as dg
import yaml

from prodline.resources.stores import POOL, WarehouseResource

EMBEDDED = {
    "telemetry": {"enabled": False},
    # Steps wait for a free slot of their pool; see prepare_instance for the warehouse's limit.
    "concurrency": {"pools": {"granularity": "op", "default_limit": 1}},
}


# Dagster writes one event per partition of a range run (1,095 for a year of three sources).
# Batching writes them with one INSERT per asset on PostgreSQL storage (bench/ingest.py: 62 s to
# 21 s); it changes nothing else. The run worker imports the definitions, so setting it there covers
# materializations; the webserver and daemon, which write planned events, get it from the Makefile
# or the deployment's environment.
EVENT_BATCH_SIZE = ("DAGSTER_EVENT_BATCH_SIZE", "1000")


def batch_dagster_events() -> None:
    os.environ.setdefault(*EVENT_BATCH_SIZE)


def prepare_instance(dagster_home: Path, warehouse: WarehouseResource) -> dg.DagsterInstance:
    """Create DAGSTER_HOME (once) and give the warehouse pool the limit its backend allows."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(EMBEDDED, sort_keys=False))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = dg.DagsterInstance.get()
    instance.event_log_storage.set_concurrency_slots(POOL, warehouse.pool_limit)
    return instance
