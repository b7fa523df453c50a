"""Benchmark: prodline's feature engine against the floors and the other ways to compute the same 45
features for a cohort on 12 monthly as-of dates, in the same run.

    uv run python bench/features.py [--entities 200000] [--events 5000000] [--dates 12] [--skip-postgres]
                                    [--repeat 3]
    uv run python bench/features.py --sizes     # 1M, 5M and 20M events x 12 and 48 dates: growth

Approaches, each computing and writing the feature table: prodline's engine as the assets run it
(the warehouse's one pass, the windows in memory: `feature_windows`) and its single SQL statement
(`feature_select`) on DuckDB and PostgreSQL; one query per as-of date on each; Triage 6.0.0's own
FeatureGenerator on PostgreSQL, in Triage's virtual environment (`make triage`); pandas per date and
polars (in memory, nothing written). Every result is checked against the first (all rows at small
sizes, a random sample at large ones); a mismatch names the column and exits non-zero. The floors
(one pass over the events; writing the result) run with the session settings prodline uses, taking
turns with prodline's engine (--repeat, 3; the goals compare medians; --sizes runs each once). Prints
seconds, ratios and the goals; writes bench/out/features.json (features-sizes.json for --sizes).
"""

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import psycopg2
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from dateutil.relativedelta import relativedelta

from prodline.config import FeatureConfig
from prodline.pipeline.as_of.feature_columns import feature_columns
from prodline.pipeline.as_of.feature_select import features_select
from prodline.pipeline.as_of.feature_windows import feature_computation
from prodline.resources.stores import WarehouseResource
from scratch import scratch_database

OUT = Path(__file__).parent / "out"
ROOT = Path(__file__).resolve().parents[1]
TRIAGE_PYTHON = ROOT / ".triage-venv" / "bin" / "python"
KINDS = ["a", "b", "c"]
INTERVALS = {"30day": relativedelta(days=30), "1y": relativedelta(years=1), "all": None}
SPEC = {  # Triage's vocabulary: the same dictionary configures Triage's generator
    "prefix": "ev", "from_obj": "raw.events", "knowledge_date_column": "event_date",
    "groups": ["entity_id"], "intervals": ["30day", "1y", "all"],
    "aggregates": [{"quantity": "amount", "metrics": ["count", "sum", "avg", "min", "max", "stddev"]},
                   {"quantity": "duration", "metrics": ["sum", "avg", "max"]}],
    "categoricals": [{"column": "kind", "choices": KINDS, "metrics": ["sum", "avg"]}],
    "aggregates_imputation": {"all": {"type": "zero_noflag"}},
    "categoricals_imputation": {"all": {"type": "zero_noflag"}}}
FEATURE = FeatureConfig.model_validate(SPEC)
# kind is never NULL here, so the `kind__NULL` columns (always there, as in Triage) are left out.
COLUMNS = [c.name for c in feature_columns(FEATURE, {"categoricals.0": KINDS}) if not c.null_choice]
KEYS = ["as_of_date", "entity_id"]
FULL_CHECK_ROWS, SAMPLE = 200_000, 20_000
HOW = {"avg": "mean", "stddev": "std"}  # pandas' and polars' names for prodline's metrics


def metrics(label: str) -> list[tuple[str, str, str]]:
    """(column, quantity, metric) of one interval, in prodline's column order; `kind_a` is 0/1."""
    name = f"ev_entity_id_{label}"
    out = [(f"{name}_amount_{m}", "amount", m) for m in ("count", "sum", "avg", "min", "max", "stddev")]
    out += [(f"{name}_duration_{m}", "duration", m) for m in ("sum", "avg", "max")]
    return out + [(f"{name}_kind_{k}_{m}", f"kind_{k}", m) for m in ("sum", "avg") for k in KINDS]


assert [c for label in INTERVALS for c, _, _ in metrics(label)] == COLUMNS  # one definition for all


def events_data(entities: int, events: int) -> pa.Table:
    path = OUT / f"events-{entities}-{events}.parquet"
    if not path.exists():
        rng = np.random.default_rng(7)
        first = np.datetime64("2023-01-01", "D")
        span = int((np.datetime64("2025-01-01", "D") - first).astype(int))
        table = pa.table({"entity_id": rng.integers(0, entities, events),
                          "event_date": pa.array(first + rng.integers(0, span, events)),
                          # 5% missing, so count (of values) differs from the number of events
                          "amount": pa.array(rng.lognormal(3, 1, events), mask=rng.random(events) < 0.05),
                          "duration": pa.array(rng.exponential(10, events), mask=rng.random(events) < 0.05),
                          "kind": rng.choice(KINDS, events)})
        OUT.mkdir(exist_ok=True)
        pq.write_table(table, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)  # a killed run leaves no half-written cache
    return pq.read_table(path)


def load_postgres(dsn: str, events: pa.Table, cohort: pa.Table) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA raw; CREATE SCHEMA features;"
                    "CREATE TABLE raw.events (entity_id BIGINT, event_date DATE, amount DOUBLE PRECISION,"
                    " duration DOUBLE PRECISION, kind VARCHAR);"
                    "CREATE TABLE features.cohort (as_of_date DATE, entity_id BIGINT)")
        for table, rows in (("raw.events", events), ("features.cohort", cohort)):
            buffer = pa.BufferOutputStream()
            pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False))
            cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv)", pa.BufferReader(buffer.getvalue()))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE")  # no index: both paths read every event before the last date anyway
    conn.close()


def prodline(url: str, dates: list[dt.date], rows: int, engine: str) -> float:
    """prodline's write of the feature table: `windows` as the assets run it, or `statement`."""
    wh = WarehouseResource(url=url)
    began = time.perf_counter()
    if engine == "windows":
        written = wh.replace_window_computed(
            "features", "ev", "as_of_date", min(dates), max(dates),
            feature_computation(FEATURE, {"categoricals.0": KINDS}, "features.cohort", dates))
    else:
        select = features_select(FEATURE, {"categoricals.0": KINDS}, "features.cohort", dates)
        written = wh.replace_window_from("features", "ev", select, "as_of_date", min(dates), max(dates),
                                         hash_joins=True)
    seconds = time.perf_counter() - began
    wh.engine.dispose()
    assert written == rows, f"prodline wrote {written} rows, the cohort has {rows}"
    return seconds


def triage(dsn: str, dates: list[dt.date]) -> tuple[float, str] | None:
    """Triage 6.0.0's FeatureGenerator on the same database: its seconds and its imputed table."""
    if not TRIAGE_PYTHON.exists():
        print("  Triage: no .triage-venv (make triage): skipped", file=sys.stderr, flush=True)
        return None
    request = {"url": dsn, "schema": "triage_features", "feature_aggregations": [SPEC],
               "as_of_dates": [d.isoformat() for d in dates], "state_table": "features.cohort",
               "time_only": True}
    done = subprocess.run([str(TRIAGE_PYTHON), str(ROOT / "triage_side" / "features.py")],
                          input=json.dumps(request), capture_output=True, text=True, timeout=3600)
    if done.returncode:
        sys.exit(f"Triage failed: {done.stderr[-2000:]}")
    answer = json.loads(done.stdout)
    return answer["seconds"], answer["tables"]["ev"]


def per_date_sql(day: dt.date) -> str:
    """Triage's way: one GROUP BY over the events before `day`, each interval a CASE inside."""
    items = []
    for label, span in INTERVALS.items():
        for column, quantity, metric in metrics(label):
            value = (f"CASE WHEN kind = '{quantity[-1]}' THEN 1 ELSE 0 END" if quantity.startswith("kind")
                     else quantity)
            if span is not None:
                value = f"CASE WHEN event_date >= DATE '{day - span}' THEN {value} END"
            items.append(f"{'stddev_samp' if metric == 'stddev' else metric}({value}) AS {column}")
    return ("INSERT INTO features.baseline\nSELECT c.as_of_date, c.entity_id, "
            + ", ".join(f"COALESCE(a.{c}, 0)" for c in COLUMNS)
            + "\nFROM features.cohort AS c LEFT JOIN (\n  SELECT entity_id, " + ",\n    ".join(items)
            + f"\n  FROM raw.events WHERE event_date < DATE '{day}' GROUP BY entity_id\n) AS a"
            f" ON a.entity_id = c.entity_id\nWHERE c.as_of_date = DATE '{day}'")


def pandas_features(events: pd.DataFrame, dates: list[dt.date], entities: pd.Index) -> pd.DataFrame:
    events = events.assign(**{f"kind_{k}": (events["kind"] == k).astype("float64") for k in KINDS})
    frames = []
    for day in dates:
        before = events[events["event_date"] < pd.Timestamp(day)]
        parts = []
        for label, span in INTERVALS.items():
            window = before if span is None else before[before["event_date"] >= pd.Timestamp(day - span)]
            parts.append(window.groupby("entity_id").agg(
                **{c: (q, HOW.get(m, m)) for c, q, m in metrics(label)}))
        frame = pd.concat(parts, axis=1).reindex(entities).fillna(0.0).astype("float64")
        frames.append(frame.reset_index().assign(as_of_date=pd.Timestamp(day)))
    return pd.concat(frames, ignore_index=True)[KEYS + COLUMNS]


def polars_features(events: pl.LazyFrame, dates: list[dt.date], cohort: pl.LazyFrame) -> pl.DataFrame:
    """Events cross-joined to the dates, then one group-by; values outside a window become null.
    (About twice as fast here as a plan per date, or as `.filter()` inside the aggregations.)"""
    starts = pl.LazyFrame({"as_of_date": dates, **{f"start_{label}": [d - span for d in dates]
                                                  for label, span in INTERVALS.items() if span}})
    aggs = []
    for label, span in INTERVALS.items():
        for column, quantity, metric in metrics(label):
            value = pl.col(quantity)
            if span is not None:
                value = pl.when(pl.col("event_date") >= pl.col(f"start_{label}")).then(value)
            aggs.append(getattr(value, HOW.get(metric, metric))().cast(pl.Float64).alias(column))
    indicators = [(pl.col("kind") == k).cast(pl.Float64).alias(f"kind_{k}") for k in KINDS]
    features = (events.with_columns(indicators).join(starts, how="cross")
                .filter(pl.col("event_date") < pl.col("as_of_date")).group_by(KEYS).agg(aggs))
    return (cohort.join(features, on=KEYS, how="left")
            .select(*KEYS, pl.col(COLUMNS).fill_null(0.0)).collect())


# The least any approach does: one pass over the events, reduced per entity and day to the partial
# sums, counts, minima and maxima that every feature here derives from (summed to one number so
# that no partial is pruned), and writing a result of the same shape.
ONE_PASS = ("SELECT sum(" + " + ".join(f"COALESCE({p}, 0)" for p in (
    "n", "a_n", "a_s", "a_q", "a_min", "a_max", "d_n", "d_s", "d_max", *(f"k_{k}" for k in KINDS)))
    + ") FROM (SELECT entity_id, event_date, count(*) AS n, count(amount) AS a_n, sum(amount) AS a_s, "
    "sum(amount * amount) AS a_q, min(amount) AS a_min, max(amount) AS a_max, count(duration) AS d_n, "
    "sum(duration) AS d_s, max(duration) AS d_max, "
    + ", ".join(f"sum(CASE WHEN kind = '{k}' THEN 1.0 ELSE 0.0 END) AS k_{k}" for k in KINDS)
    + " FROM raw.events WHERE event_date < DATE '{last}' GROUP BY entity_id, event_date) AS p")


def floors(cursor, dates: list[dt.date], engine: str) -> dict[str, float]:
    """Seconds of the one pass over the events and of writing the result (copying prodline's),
    with the session settings prodline's engine uses (PostgreSQL: its work_mem, if it sets one)."""
    memory = WarehouseResource(url="postgresql://").work_mem_mb
    if engine == "postgresql" and memory:
        cursor.execute(f"SET work_mem = '{memory}MB'")
    began = time.perf_counter()
    cursor.execute(ONE_PASS.format(last=max(dates)))
    cursor.fetchall()
    seconds = {"one pass over the events": time.perf_counter() - began}
    cursor.execute("CREATE TABLE features.written AS SELECT * FROM features.ev WHERE 1 = 0")
    began = time.perf_counter()
    cursor.execute("BEGIN; INSERT INTO features.written SELECT * FROM features.ev; COMMIT")
    seconds["writing the result"] = time.perf_counter() - began
    cursor.execute("DROP TABLE features.written")
    if engine == "postgresql" and memory:
        cursor.execute("RESET work_mem")
    return seconds


def normal(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(as_of_date=pd.to_datetime(frame["as_of_date"]).astype("datetime64[s]"))
    return frame.sort_values(KEYS, ignore_index=True)


def fetch(cursor, table: str, keys: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of `keys` from a table, and its row count, over a DB-API cursor (DuckDB or psycopg2)."""
    values = ", ".join(f"(DATE '{d:%Y-%m-%d}', {e})"
                       for d, e in zip(keys.as_of_date, keys.entity_id, strict=True))
    cursor.execute(f"SELECT t.* FROM {table} AS t JOIN (VALUES {values}) AS k(as_of_date, entity_id)"
                   " USING (as_of_date, entity_id)")
    frame = pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])
    cursor.execute(f"SELECT count(*) FROM {table}")
    return normal(frame.astype({c: "float64" for c in COLUMNS})), cursor.fetchone()[0]


def check(name: str, got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Exit non-zero at the first column that differs from prodline on DuckDB."""
    if len(got) != len(want) or not (got[KEYS].to_numpy() == want[KEYS].to_numpy()).all():
        sys.exit(f"MISMATCH {name}: {len(got)} rows for the {len(want)} keys compared, or other keys")
    for column in COLUMNS:
        close = np.isclose(got[column].to_numpy(), want[column].to_numpy(), rtol=1e-6, atol=1e-9)
        if not close.all():
            bad = int(np.argmin(close))
            sys.exit(f"MISMATCH {name}: {column}, {int((~close).sum())} of {len(close)} rows differ; "
                     f"e.g. {want.loc[bad, 'as_of_date'].date()} entity {want.loc[bad, 'entity_id']}: "
                     f"{got.loc[bad, column]!r}, prodline duckdb {want.loc[bad, column]!r}")


@dataclass
class Bench:
    """One run's data, the rows compared and the figures; the first result noted is the reference."""

    events: pa.Table
    cohort: pa.Table
    dates: list[dt.date]
    keys: pd.DataFrame
    results: list[dict] = field(default_factory=list)
    floors: dict[str, dict[str, float]] = field(default_factory=dict)
    want: pd.DataFrame | None = None
    only_prodline: bool = False  # --sizes: prodline's engine and the floors, nothing else
    repeat: int = 3  # turns of prodline's engine and the floors

    def note(self, engine: str, approach: str, seconds: float, got: pd.DataFrame, rows: int,
             runs: list[float] | None = None) -> None:
        name = f"{engine} {approach}"
        if rows != self.cohort.num_rows:
            sys.exit(f"MISMATCH {name}: {rows:,} rows, the cohort has {self.cohort.num_rows:,}")
        self.want = got if self.want is None else self.want
        check(name, got, self.want)
        self.results.append({"engine": engine, "approach": approach, "seconds": round(seconds, 2),
                             **({"runs": [round(r, 2) for r in runs]} if runs else {})})
        print(f"  {name}: {seconds:.2f} s{' (median)' if runs else ''}, same values", file=sys.stderr,
              flush=True)

    def sql(self, engine: str, url: str, connect, dsn: str | None = None) -> None:
        """prodline's two engines, the floors, the per-date queries (and Triage, given a
        PostgreSQL `dsn`) on one warehouse; `connect()` opens a DB-API link."""
        # prodline's engine and the floors take turns, `repeat` times: the goal compares their
        # medians, so that a slow moment of a shared machine falls on both or on neither.
        times, parts = [], []
        for turn in range(self.repeat):
            times.append(prodline(url, self.dates, self.cohort.num_rows, "windows"))
            conn = connect()  # DuckDB: no connection of ours open while prodline's is
            if turn == 0:
                got = fetch(conn.cursor(), "features.ev", self.keys)
            parts.append(floors(conn.cursor(), self.dates, engine))
            conn.close()
            print(f"  {engine} turn {turn + 1}: prodline {times[-1]:.2f} s, floor "
                  + " + ".join(f"{v:.2f}" for v in parts[-1].values()) + " s", file=sys.stderr, flush=True)
        self.note(engine, PRODLINE, float(np.median(times)), *got, runs=times)
        self.floors[engine] = {k: round(float(np.median([p[k] for p in parts])), 2) for k in parts[0]}
        print(f"  {engine} floor (medians): {self.floors[engine]}", file=sys.stderr, flush=True)
        if self.only_prodline:
            return
        seconds = prodline(url, self.dates, self.cohort.num_rows, "statement")
        conn = connect()
        self.note(engine, "prodline, one SQL statement", seconds,
                  *fetch(conn.cursor(), "features.ev", self.keys))
        cursor, began = conn.cursor(), time.perf_counter()  # the per-date inserts, in one transaction
        cursor.execute("BEGIN; CREATE TABLE features.baseline (as_of_date DATE, entity_id BIGINT, "
                       + ", ".join(f"{c} DOUBLE PRECISION" for c in COLUMNS) + ")")
        for day in self.dates:
            cursor.execute(per_date_sql(day))
        cursor.execute("COMMIT")
        seconds = time.perf_counter() - began
        self.note(engine, "one query per date", seconds,
                  *fetch(conn.cursor(), "features.baseline", self.keys))
        if dsn is not None and (done := triage(dsn, self.dates)) is not None:
            self.note(engine, "Triage 6.0.0 FeatureGenerator", done[0],
                      *fetch(conn.cursor(), done[1], self.keys))
        conn.close()

    def frames(self) -> None:
        frame = self.events.to_pandas(date_as_object=False)  # datetime64 event dates, not Python dates
        entities = pd.RangeIndex(self.cohort.num_rows // len(self.dates), name="entity_id")
        began = time.perf_counter()
        result = pandas_features(frame, self.dates, entities)
        self.note("pandas", "groupby per date", time.perf_counter() - began,
                  normal(self.keys.merge(result, on=KEYS)), len(result))
        del frame, result
        lazy, cohort = pl.from_arrow(self.events).lazy(), pl.from_arrow(self.cohort).lazy()
        began = time.perf_counter()
        result = polars_features(lazy, self.dates, cohort)
        seconds = time.perf_counter() - began
        keys = pl.from_pandas(self.keys).with_columns(pl.col("as_of_date").cast(pl.Date))
        self.note("polars", "lazy, cross join with the dates", seconds,
                  normal(result.join(keys, on=KEYS, how="semi").to_pandas()), len(result))


def run(args, scratch: str) -> Bench:
    dates = [dt.date(2024, 1, 1) + relativedelta(months=i) for i in range(args.dates)]
    events = events_data(args.entities, args.events)
    cohort = pa.table({"as_of_date": pa.array(np.repeat(dates, args.entities), pa.date32()),
                       "entity_id": np.tile(np.arange(args.entities, dtype=np.int64), len(dates))})
    keys = normal(cohort.to_pandas(date_as_object=False))
    if len(keys) > FULL_CHECK_ROWS:  # the same random rows for every approach
        keys = normal(keys.sample(SAMPLE, random_state=1))
    print(f"{args.events:,} events, {args.entities:,} entities x {len(dates)} as-of dates = "
          f"{cohort.num_rows:,} rows x {len(COLUMNS)} features; {platform.machine()}, {os.cpu_count()} "
          f"cores; checking {len(keys):,} rows", flush=True)
    bench = Bench(events, cohort, dates, keys, only_prodline=args.only_prodline, repeat=args.repeat)
    path = f"{scratch}/warehouse.duckdb"
    with duckdb.connect(path) as con:  # Arrow tables load by name
        con.execute("CREATE SCHEMA raw; CREATE SCHEMA features; CREATE TABLE raw.events AS FROM events;"
                    "CREATE TABLE features.cohort AS FROM cohort")
    bench.sql("duckdb", f"duckdb:///{path}", lambda: duckdb.connect(path))
    if not args.skip_postgres:
        with scratch_database(required=False) as url:
            if url is None:
                print("PostgreSQL unreachable at 127.0.0.1:5432: skipped", flush=True)
            else:
                dsn = url.set(drivername="postgresql").render_as_string(False)
                load_postgres(dsn, events, cohort)
                bench.sql("postgresql", url.render_as_string(False), lambda: autocommit(dsn), dsn)
    if not args.only_prodline:
        bench.frames()
    return bench


def autocommit(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True  # Bench.sql sends its own BEGIN and COMMIT, as on DuckDB
    return conn


PRODLINE = "prodline (the pass in SQL, windows in memory)"
GOALS = {"duckdb": 1.5, "postgresql": 2.0}  # prodline at most this many times its warehouse's floor


def report(results: list[dict], floors: dict[str, dict[str, float]]) -> dict:
    """The table of approaches, then each goal: met, NOT met, or not measured (None)."""
    polars = next((r["seconds"] for r in results if r["engine"] == "polars"), None)
    by = {(r["engine"], r["approach"]): r["seconds"] for r in results}
    for r in results:
        if polars:
            r["x_polars"] = round(r["seconds"] / polars, 2)
        if r["engine"] in floors:
            r["x_floor"] = round(r["seconds"] / sum(floors[r["engine"]].values()), 2)
        print(f"{r['engine']:<11} {r['approach']:<48} {r['seconds']:8.2f} s"
              + (f"   x{r['x_floor']:.2f} of its floor" if "x_floor" in r else "")
              + (f"   x{r['x_polars']:.2f} of polars" if "x_polars" in r else ""))
    goals = {}
    for engine, times in GOALS.items():
        if engine in floors:
            floor = sum(floors[engine].values())
            parts = floors[engine]
            print(f"{engine} floor: one pass over the events {parts['one pass over the events']:.2f} s"
                  f" + writing the result {parts['writing the result']:.2f} s = {floor:.2f} s")
        mine = by.get((engine, PRODLINE))
        goals[f"prodline on {engine} <= {times}x its floor"] = \
            None if mine is None or engine not in floors else mine <= times * sum(floors[engine].values())
    theirs = by.get(("postgresql", "Triage 6.0.0 FeatureGenerator"))
    mine = by.get(("postgresql", PRODLINE))
    goals["prodline on postgresql >= 3x faster than Triage 6.0.0"] = \
        None if theirs is None or mine is None else theirs >= 3 * mine
    if theirs and mine:
        print(f"Triage 6.0.0 / prodline on PostgreSQL: {theirs / mine:.1f}x")
    for goal, met in goals.items():
        print(f"goal: {goal}: {'not measured' if met is None else 'met' if met else 'NOT met'}")
    return goals


def sizes(args) -> None:
    """prodline's engine and the floors at 1M, 5M and 20M events, 12 and 48 as-of dates, each size
    in a process of its own so that its peak memory is its own."""
    (OUT / "features-sizes.json").unlink(missing_ok=True)
    runs = []
    for events in (1_000_000, 5_000_000, 20_000_000):
        for dates in (12, 48):
            out = OUT / f"features-{events}-{dates}.json"
            command = [sys.executable, __file__, "--events", str(events), "--dates", str(dates),
                       "--entities", str(args.entities), "--only-prodline", "--repeat", "1",
                       "--json", str(out)]
            if args.skip_postgres:
                command.append("--skip-postgres")
            print(f"== {events:,} events, {dates} as-of dates", flush=True)
            subprocess.run(command, check=True)
            runs.append(json.loads(out.read_text()))
            out.unlink()
    print(f"{'events':>11} {'dates':>5} {'rows':>11} {'engine':<11} {'prodline s':>10} {'floor s':>8} "
          f"{'x floor':>7} {'peak MB':>8}")
    for r in runs:
        for engine, floor in r["floors"].items():
            mine = next(x for x in r["results"] if x["engine"] == engine and x["approach"] == PRODLINE)
            print(f"{r['events']:>11,} {r['dates']:>5} {r['rows']:>11,} {engine:<11} "
                  f"{mine['seconds']:>10.2f} {sum(floor.values()):>8.2f} {mine['x_floor']:>7.2f} "
                  f"{r['peak_rss_mb']:>8,.0f}")
    (OUT / "features-sizes.json").write_text(json.dumps(runs, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--dates", type=int, default=12)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="turns of prodline's engine and the floors")
    parser.add_argument("--sizes", action="store_true", help="growth: 1M/5M/20M events x 12/48 dates")
    parser.add_argument("--only-prodline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=OUT / "features.json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sizes:
        return sizes(args)
    args.json.unlink(missing_ok=True)  # a failed run leaves no figures behind
    with tempfile.TemporaryDirectory(prefix="prodline-bench-") as scratch:
        bench = run(args, scratch)
    goals = report(bench.results, bench.floors)
    OUT.mkdir(exist_ok=True)
    args.json.write_text(json.dumps(
        {"entities": args.entities, "events": args.events, "dates": args.dates,
         "rows": bench.cohort.num_rows, "features": len(COLUMNS), "machine": platform.machine(),
         "cores": os.cpu_count(), "correctness": "passed", "results": bench.results,
         "floors": bench.floors, "goals": goals,
         "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
        indent=2))


if __name__ == "__main__":
    main()
