"""The sensor that watches tables a team's own ETL fills (sources with arrival: warehouse).

Each tick reads every observed table's day fingerprints in one grouped query per table, and asks
for the days never observed or whose rows changed since the last tick, joined into ranges (one run
per range). A new observation is a new materialization of that day, so what reads it is refreshed
by automation. The cursor keeps a short fingerprint per day, and the runs it asked for until they
end: one that failed before observing anything (the database away, say) is asked for again, up to
MAX_ATTEMPTS times.
"""

import datetime as dt
import json

import dagster as dg

from prodline.assets.keys import raw_key
from prodline.config import ProjectConfig
from prodline.pipeline.raw.batches import days_between
from prodline.pipeline.raw.observing import days_to_observe, ranges, short
from prodline.resources.stores import WarehouseResource
from prodline.sensors import interval

MAX_RUNS_PER_TICK = 20  # a table rewritten day by day asks for its ranges over a few ticks
MAX_ATTEMPTS = 3  # a run that failed before observing anything (the database away, say) is asked again


def observed_tables_sensor(config: ProjectConfig, job: dg.JobDefinition,
                           every: int | None = None) -> dg.SensorDefinition:
    sources = {n: s for n, s in config.sources.items() if s.observed}

    @dg.sensor(name="observed_tables_changed", job=job, minimum_interval_seconds=interval(300, every),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Observes the days of the team's own tables (arrival: warehouse) that are "
                           "new or whose rows changed, so that what reads them is refreshed.")
    def observed_tables_changed(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        first, last = config.start_date, config.end_date or dt.datetime.now(dt.UTC).date()
        cursor = json.loads(context.cursor) if context.cursor else {}
        pending, attempts = cursor.pop(PENDING, {}), cursor.pop(ATTEMPTS, {})
        for entry in _ended(context.instance, pending, attempts):
            # Failed before observing anything: forget what it was to see, so its days are asked for again.
            days = set(entry["days"])
            cursor[entry["source"]] = {d: f for d, f in cursor.get(entry["source"], {}).items()
                                       if d not in days}
        requests = []
        for name, source in sources.items():
            schema, table = source.table.split(".")
            if not warehouse.columns(schema, table):
                context.log.warning(f"{source.table} is not in the warehouse yet (source {name})")
                continue
            now = {d.isoformat(): short(f) for d, f in
                   warehouse.day_fingerprints(source.table, source.day, first, last).items()}
            observed = set(context.instance.get_materialized_partitions(raw_key(name)))
            # First sight of a table: days already observed are taken as they are now.
            seen = cursor.get(name, {d: f for d, f in now.items() if d in observed})
            for start, end in ranges(days_to_observe(seen, now, observed, first, last)):
                if len(requests) == MAX_RUNS_PER_TICK:
                    break  # the rest keep their old fingerprints, so the next tick asks for them
                days = [d.isoformat() for d in days_between(start, end)]
                seen = {d: f for d, f in seen.items() if d not in days}
                seen |= {d: now[d] for d in days if d in now}
                version = short(json.dumps([now.get(d) for d in days]))
                base = f"{name}:{start}:{end}:{version}"
                attempt = attempts.get(base, 0) + 1
                if attempt > MAX_ATTEMPTS:
                    context.log.error(f"{name} {start} .. {end}: {MAX_ATTEMPTS} observation runs failed "
                                      "before observing anything; observe it by hand once fixed")
                    continue
                run_key = base + (f":attempt{attempt}" if attempt > 1 else "")
                pending[run_key] = {"source": name, "days": days, "base": base, "attempt": attempt}
                requests.append(dg.RunRequest(
                    run_key=run_key, asset_selection=[raw_key(name)],
                    tags={"dagster/asset_partition_range_start": start.isoformat(),
                          "dagster/asset_partition_range_end": end.isoformat(),
                          "prodline/trigger": "observed table changed"}))
            cursor[name] = seen
        context.update_cursor(json.dumps({**cursor, PENDING: pending, ATTEMPTS: attempts}))
        if not requests:
            return dg.SkipReason(f"no new or changed days in {', '.join(s.table for s in sources.values())}")
        return requests

    return observed_tables_changed


PENDING = "_runs"  # the cursor's runs not yet seen to end: run key -> source, days, base key, attempt
ATTEMPTS = "_failed"  # base run key -> how many of its runs failed before observing anything


def _ended(instance: dg.DagsterInstance, pending: dict, attempts: dict) -> list[dict]:
    """The pending runs that failed (or were canceled) without materializing anything; every run
    that ended leaves `pending`, and `attempts` counts the failures of each base key. A run that
    observed its days and then failed a check is not asked again: its data must change first, and
    the check's alert said so."""
    failed = []
    for key in list(pending):
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/run_key": key}), limit=1)
        if not runs or not runs[0].is_finished:
            continue
        entry, run = pending.pop(key), runs[0]
        observed = run.status == dg.DagsterRunStatus.SUCCESS or instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1).records
        if observed:
            attempts.pop(entry["base"], None)
        else:
            attempts[entry["base"]] = entry["attempt"]
            failed.append(entry)
    return failed
