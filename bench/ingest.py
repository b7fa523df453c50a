"""Benchmark: a year of daily partitions (>1M rows) loaded as one single-run backfill through Dagster,
against a bare script doing the same inserts with the same driver, in the same run.

    uv run python bench/ingest.py [--per-day 1300] [--days 365] [--skip-postgres]

Prints each figure and the ratios to the bare script; writes bench/out/ingest.json. It also times
Dagster's own floor: the same backfill of the same assets and checks doing nothing, on the same kind
of instance: what Dagster's event log costs before any data moves. SQLite is timed on Dagster's own
storage and on prodline's embedded default, which writes a batch of events in one transaction.
"""

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from prodline.assets.partitions import daily_partitions
from prodline.config import DEMO_CONFIG, load_config
from prodline.demo.generate import generate
from prodline.demo.simulate import Scenario
from prodline.event_log import batch_dagster_events
from prodline.instance import embedded_storage
from prodline.pipeline.raw.checks import check_names
from prodline.pipeline.raw.schema import ARROW, LINEAGE
from prodline.runs import load_range
from scratch import scratch_database

OUT = Path(__file__).parent / "out"
# Instance kinds (their environment): "sqlite" is Dagster's own SQLite storage, "sqlite, batched"
# prodline's embedded default (prodline/event_log.py); the last writes one planned event per asset
# instead of one per partition.
INSTANCES = {
    "ephemeral": {},
    "sqlite": {},
    "sqlite, batched": {},
    "postgres": {},
    "postgres, planned per range": {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"},
}
SQL_TYPES = {"integer": "BIGINT", "float": "DOUBLE PRECISION", "string": "VARCHAR",
             "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP"}


def landing_data(per_day: float, days: int, first: dt.date) -> Path:
    folder = OUT / f"landing-{per_day:g}-{days}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, Scenario(start=first, per_day=per_day), first, first + dt.timedelta(days=days - 1))
        (folder / ".complete").touch()
    return folder


def bare_script(landing: Path, config, first: dt.date, last: dt.date, url: str) -> float:
    """What a team would write by hand: read each day's CSV, bulk insert, same driver."""
    began = time.perf_counter()
    for name, source in config.sources.items():
        types = {c: ARROW[col.type] for c, col in source.columns.items()}
        tables = []
        for i in range((last - first).days + 1):
            day = first + dt.timedelta(days=i)
            table = pacsv.read_csv(landing / name / f"{day}.csv",
                                   convert_options=pacsv.ConvertOptions(column_types=types))
            n = table.num_rows
            stamp = pa.repeat(pa.scalar(day, LINEAGE["_datestamp"]), n)
            tables.append(table.append_column("_datestamp", stamp)
                          .append_column("_source", pa.repeat(pa.scalar(f"{name}/{day}.csv"), n)))
        rows = pa.concat_tables(tables).combine_chunks()
        columns = ", ".join(f"{c} {SQL_TYPES[col.type.value]}" for c, col in source.columns.items())
        ddl = f"CREATE TABLE IF NOT EXISTS raw.{name} ({columns}, _datestamp DATE, _source VARCHAR)"
        delete = f"DELETE FROM raw.{name} WHERE _datestamp BETWEEN '{first}' AND '{last}'"
        if url.startswith("duckdb"):
            conn = duckdb.connect(sa.make_url(url).database)
            conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
            conn.execute(ddl)
            conn.execute("BEGIN")
            conn.execute(delete)
            conn.register("batch", rows)
            conn.execute(f"INSERT INTO raw.{name} SELECT * FROM batch")
            conn.execute("COMMIT")
            conn.close()
        else:
            conn = psycopg2.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(False))
            with conn, conn.cursor() as cur:
                cur.execute("CREATE SCHEMA IF NOT EXISTS raw")
                cur.execute(ddl)
                cur.execute(delete)
                buffer = pa.BufferOutputStream()
                pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
                cur.copy_expert(f"COPY raw.{name} FROM STDIN WITH (FORMAT csv)",
                                pa.BufferReader(buffer.getvalue()))
            conn.close()
    return time.perf_counter() - began


def through_dagster(landing: Path, config, first, last, url: str, instance_kind: str) -> float:
    work = Path(tempfile.mkdtemp(prefix="prodline-bench-"))
    (work / "landing").symlink_to(landing)
    os.environ["PRODLINE_HOME"] = str(work)
    os.environ["PRODLINE_WAREHOUSE_URL"] = url
    try:
        with _instance(instance_kind, work) as instance:
            began = time.perf_counter()
            result = load_range(config, instance, first, last)
            seconds = time.perf_counter() - began
        if not result.success:
            raise RuntimeError("the Dagster load failed")
        return seconds
    finally:
        shutil.rmtree(work)


def dagster_floor(config, first, last, instance_kind: str) -> float:
    """The same single-run backfill of the same assets and checks, doing nothing: Dagster's own cost."""
    partitions = daily_partitions(config)

    def noop(name):
        key = dg.AssetKey(["raw", name])
        checks = check_names(config.sources[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")

            @dg.asset(key=key, partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run(),
                      check_specs=[dg.AssetCheckSpec(c, asset=key, blocking=True) for c in checks])
            def _asset() -> dg.MaterializeResult:
                return dg.MaterializeResult(
                    metadata={"dagster/row_count": 0},
                    check_results=[dg.AssetCheckResult(check_name=c, passed=True) for c in checks])
        return _asset

    job = dg.Definitions(assets=[noop(n) for n in config.sources],
                         jobs=[dg.define_asset_job("floor")]).resolve_job_def("floor")
    work = Path(tempfile.mkdtemp(prefix="prodline-bench-"))
    try:
        with _instance(instance_kind, work) as instance:
            began = time.perf_counter()
            job.execute_in_process(
                instance=instance,
                tags={"dagster/asset_partition_range_start": first.isoformat(),
                      "dagster/asset_partition_range_end": last.isoformat()},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            return time.perf_counter() - began
    finally:
        shutil.rmtree(work)


@contextmanager
def _instance(kind: str, work: Path):
    (work / "dagster").mkdir()
    saved = dict(os.environ)
    os.environ.update(INSTANCES[kind])
    with ExitStack() as stack:
        if kind == "ephemeral":
            instance = dg.DagsterInstance.ephemeral()
        elif kind.startswith("sqlite"):
            storage = {"storage": embedded_storage(work / "dagster")} if kind == "sqlite, batched" else {}
            instance = dg.DagsterInstance.local_temp(str(work / "dagster"), overrides=storage)
        else:
            url = stack.enter_context(scratch_database())
            storage = {"postgres": {"postgres_url": url.render_as_string(False)}}
            instance = dg.DagsterInstance.local_temp(str(work / "dagster"), overrides={"storage": storage})
        try:
            yield instance
        finally:
            instance.dispose()
            os.environ.clear()
            os.environ.update(saved)


def _report(results: list[dict], backend: str, kind: str, seconds: float) -> None:
    results.append({"warehouse": backend, "path": kind, "seconds": round(seconds, 2)})
    if backend == "none":
        bare = min(r["seconds"] for r in results if r["path"] == "bare")
        label = f"Dagster floor (no-op assets), {kind}"
    else:
        bare = next(r["seconds"] for r in results if r["warehouse"] == backend and r["path"] == "bare")
        label = "bare script (same driver)" if kind == "bare" else f"prodline, {kind} instance"
    print(f"{backend:<11} {label:<58} {seconds:7.2f} s   x{seconds / bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=float, default=1300.0)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    batch_dagster_events()  # as prodline runs; the floor gets it too, for a like-for-like figure
    config = load_config(DEMO_CONFIG)
    first = config.start_date
    last = first + dt.timedelta(days=args.days - 1)
    landing = landing_data(args.per_day, args.days, first)
    rows = sum(max(0, len(p.read_text().splitlines()) - 1) for p in landing.rglob("*.csv"))
    print(f"{args.days} partitions x {len(config.sources)} sources, {rows:,} rows, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")

    warehouses = ["duckdb"] + ([] if args.skip_postgres else ["postgresql"])
    kinds = [k for k in INSTANCES if not (args.skip_postgres and k.startswith("postgres"))]
    results = []
    for backend in warehouses:
        for kind in ["bare", *kinds]:
            with ExitStack() as stack:
                scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="prodline-wh-"))
                url = (stack.enter_context(scratch_database()).render_as_string(False)
                       if backend == "postgresql" else f"duckdb:///{scratch}/warehouse.duckdb")
                seconds = (bare_script(landing, config, first, last, url) if kind == "bare"
                           else through_dagster(landing, config, first, last, url, kind))
            _report(results, backend, kind, seconds)
    for kind in kinds:
        _report(results, "none", kind, dagster_floor(config, first, last, kind))
    OUT.mkdir(exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps({"rows": rows, "days": args.days, "results": results},
                                                indent=2))


if __name__ == "__main__":
    main()
