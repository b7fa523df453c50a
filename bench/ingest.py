"""Benchmark: a year of daily partitions (>1M rows) loaded as one single-run backfill through Dagster,
against a bare script doing the same inserts with the same driver, in the same run.

    uv run python bench/ingest.py [--per-day 1300] [--days 365] [--sample 10] [--repeat 2]
                                  [--skip-postgres]

Prints each figure and the ratios to the bare script; writes bench/out/ingest.json. It also times
Dagster's own floor: the same backfill of the same assets and checks doing nothing, on the same kind
of instance, right after prodline's: what Dagster's event log costs before any data moves. Both
follow a warm-up run of two days, so that neither pays the process's first imports; on a DuckDB
warehouse the two alternate `--repeat` times and the best of each counts (the machine is noisy).
SQLite is timed on Dagster's own storage and on prodline's embedded default, which writes a batch
of events in one transaction. The goal (issue 20): prodline's range run at most 1.3x the floor on
every kind of instance; beside each ratio, the least one possible, (floor + bare script) / floor.

The peer a Dagster user would otherwise use is Dagster's default backfill: one run per partition.
It is timed on the first `--sample` days, each its own run of the same job (`partition_key`, as a
backfill's run has it) on a fresh DuckDB warehouse, in this process, with the floor's no-op assets
the same way: seconds per partition, and times the days for a year. In-process runs are its least
cost: a run launched by a backfill also starts a process that loads the code location, timed once
here (a fresh interpreter building prodline's definitions) and reported beside, not added in.
"""

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
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
from prodline.definitions import build_definitions
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
# One run per partition: the planned-per-range setting changes nothing when a run has one partition.
PER_PARTITION = ["ephemeral", "sqlite", "sqlite, batched", "postgres"]
GOAL = 1.3  # prodline's range run at most this times Dagster's floor, on every kind of instance
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
    job = _floor_job(config)
    work = Path(tempfile.mkdtemp(prefix="prodline-bench-"))
    try:
        with _instance(instance_kind, work) as instance:
            began = time.perf_counter()
            job.execute_in_process(
                instance=instance,
                tags={"dagster/asset_partition_range_start": first.isoformat(),
                      "dagster/asset_partition_range_end": last.isoformat()},
                run_config=QUIET)
            return time.perf_counter() - began
    finally:
        shutil.rmtree(work)


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _floor_job(config) -> dg.JobDefinition:
    """prodline's raw assets and blocking checks as Dagster sees them, with bodies that do nothing."""
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

    return dg.Definitions(assets=[noop(n) for n in config.sources],
                          jobs=[dg.define_asset_job("floor")]).resolve_job_def("floor")


def per_partition(landing: Path | None, config, days: list[dt.date], instance_kind: str) -> float:
    """Dagster's default backfill: each day its own run (prodline's ingest job, or the floor's no-op
    one when `landing` is None), on a fresh DuckDB warehouse. Seconds per partition."""
    work = Path(tempfile.mkdtemp(prefix="prodline-bench-"))
    saved = dict(os.environ)
    try:
        if landing is None:
            job = _floor_job(config)
        else:
            (work / "landing").symlink_to(landing)
            os.environ["PRODLINE_HOME"] = str(work)
            os.environ["PRODLINE_WAREHOUSE_URL"] = f"duckdb:///{work}/warehouse.duckdb"
            job = build_definitions(config).resolve_job_def("ingest_raw")
        with _instance(instance_kind, work) as instance:
            began = time.perf_counter()
            for day in days:
                result = job.execute_in_process(instance=instance, partition_key=day.isoformat(),
                                                run_config=QUIET, raise_on_error=False)
                if not result.success:
                    raise RuntimeError(f"the run for {day} failed")
            return (time.perf_counter() - began) / len(days)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(work)


def code_location_seconds() -> float:
    """What a launched run pays before its first step: a fresh interpreter that imports prodline's
    definitions and builds them (the demo project), as `dagster api execute_run` does."""
    work = Path(tempfile.mkdtemp(prefix="prodline-bench-"))
    try:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import prodline.definitions as d; d.defs()"], check=True,
                       env={**os.environ, "PRODLINE_HOME": str(work)}, capture_output=True)
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


def goals(results: list[dict]) -> dict:
    """prodline's range run over Dagster's floor on each kind of instance, against GOAL, with the
    least ratio possible: the floor plus the bare script's data work, over the floor."""
    floor = {r["path"]: r["seconds"] for r in results if r["warehouse"] == "none"}
    found = {}
    for r in (r for r in results if r["warehouse"] != "none" and r["path"] != "bare"):
        bare = next(b["seconds"] for b in results if b["warehouse"] == r["warehouse"] and b["path"] == "bare")
        ratio, least = r["seconds"] / floor[r["path"]], (floor[r["path"]] + bare) / floor[r["path"]]
        found.setdefault(r["warehouse"], {})[r["path"]] = {
            "ratio": round(ratio, 2), "met": ratio <= GOAL, "least_possible_ratio": round(least, 2),
            "prodline_share_seconds": round(r["seconds"] - floor[r["path"]], 2)}
        print(f"goal: prodline at most {GOAL}x Dagster's floor, {r['warehouse']} warehouse, {r['path']}: "
              f"{'met' if ratio <= GOAL else 'NOT met'} (x{ratio:.2f}; least possible x{least:.2f})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=float, default=1300.0)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--sample", type=int, default=10, help="days timed one run per partition")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each DuckDB figure and floor (best)")
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

    with tempfile.TemporaryDirectory(prefix="prodline-wh-") as scratch:  # warm-up: imports, caches
        through_dagster(landing, config, first, first + dt.timedelta(days=1),
                        f"duckdb:///{scratch}/warehouse.duckdb", "ephemeral")
        dagster_floor(config, first, first + dt.timedelta(days=1), "ephemeral")
    warehouses = ["duckdb"] + ([] if args.skip_postgres else ["postgresql"])
    kinds = [k for k in INSTANCES if not (args.skip_postgres and k.startswith("postgres"))]
    results, floors = [], []
    for backend in warehouses:
        for kind in ["bare", *kinds]:
            # On DuckDB (the goal's figures) prodline and the floor alternate, best of --repeat each.
            times, floor = [], []
            for _ in range(args.repeat if backend == "duckdb" else 1):
                with ExitStack() as stack:
                    scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="prodline-wh-"))
                    url = (stack.enter_context(scratch_database()).render_as_string(False)
                           if backend == "postgresql" else f"duckdb:///{scratch}/warehouse.duckdb")
                    times.append(bare_script(landing, config, first, last, url) if kind == "bare"
                                 else through_dagster(landing, config, first, last, url, kind))
                if backend == "duckdb" and kind != "bare":  # right after, on the same load of the machine
                    floor.append(dagster_floor(config, first, last, kind))
            _report(results, backend, kind, min(times))
            if floor:
                floors.append((kind, min(floor)))
    for kind, seconds in floors:
        _report(results, "none", kind, seconds)
    met = goals(results)

    sample = [first + dt.timedelta(days=i) for i in range(min(args.sample, args.days))]
    print(f"\nDagster's default backfill, one run per partition ({len(sample)} days timed, in-process):")
    ranged = {r["path"]: r["seconds"] for r in results if r["warehouse"] == "duckdb"}
    runs = []
    for kind in (k for k in PER_PARTITION if k in kinds):
        each, floor = per_partition(landing, config, sample, kind), per_partition(None, config, sample, kind)
        runs.append({"instance": kind, "seconds_per_partition": round(each, 3),
                     "floor_seconds_per_partition": round(floor, 3), "partitions_timed": len(sample),
                     f"seconds_for_{args.days}_days": round(each * args.days, 1),
                     "range_run_seconds_per_partition": round(ranged[kind] / args.days, 4)})
        print(f"{kind:<16} {each:6.3f} s per partition (floor {floor:.3f}), {each * args.days:7.1f} s for "
              f"{args.days} days; one range run: {ranged[kind] / args.days:.4f} s per partition")
    launch = code_location_seconds()
    print(f"a launched run also loads the code location first: {launch:.2f} s per run, "
          f"{launch * args.days:.0f} s for {args.days} runs (not included above)")
    OUT.mkdir(exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps(
        {"rows": rows, "days": args.days, "machine": platform.machine(), "cores": os.cpu_count(),
         "results": results, "goal": {"at_most": GOAL, "ratios": met,
                                      "met": all(v["met"] for b in met.values() for v in b.values())},
         "per_partition": runs, "code_location_load_seconds": round(launch, 2)}, indent=2))


if __name__ == "__main__":
    main()
