"""The production instance of deploy/dagster.yaml: PostgreSQL storage, the queued run coordinator with
its limits, run retries and run monitoring, running the raw and feature assets."""

import datetime as dt

import sqlalchemy as sa

from conftest import START, build, make_project
from prodline.assets.keys import feature_key, raw_key


def test_the_instance_keeps_everything_in_postgresql_with_limits(production_instance):
    instance, pg_url = production_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    limits = instance.get_concurrency_config()
    assert limits.run_queue_config.max_concurrent_runs == 8
    assert {"key": "dagster/backfill", "limit": 2} in limits.run_queue_config.tag_concurrency_limits
    assert limits.pool_config.default_pool_limit == 4
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 21600
    with sa.create_engine(pg_url).connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"runs", "event_logs", "jobs"} <= tables


def test_the_raw_and_feature_assets_run_on_it(production_instance, tmp_path, monkeypatch):
    instance, pg_url = production_instance
    last = START + dt.timedelta(days=40)
    config = make_project(tmp_path / "project", monkeypatch, last=last)
    build(config, instance, last=last)
    days = set(instance.get_materialized_partitions(raw_key("registrations")))
    assert len(days) == 41 and START.isoformat() in days
    assert instance.get_materialized_partitions(feature_key(config.features[0].prefix)) == {"2024-02-01"}
    with sa.create_engine(pg_url).connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        ).scalar()
    assert stored >= 41 * len(config.sources)  # in PostgreSQL, not in a file
