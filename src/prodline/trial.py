"""`prodline test ASSET --date D`: Airflow's `test` for any asset. One partition is computed into a
scratch folder, its checks run, and its rows and check results are printed; production is untouched.

The scratch folder holds a copy of the DuckDB warehouse (taken under a read-only connection, which
no writer can hold at the same time, so the copy is consistent), a landing zone with only that
day's files (a refused file is quarantined there, not in production's), and empty matrix folders.
The run goes to an ephemeral Dagster instance, in memory: the project's instance records nothing.
Assets that use the MLflow registry (models, evaluations, challenger, champion, predictions) are
refused: a registry has no scratch copy, and their runs and aliases are what production reads.
So is a PostgreSQL warehouse: a copy of a database (CREATE DATABASE ... TEMPLATE) needs every
other connection to it closed, which a running deployment's daemon and webserver never are."""

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from rich import box
from rich.console import Console
from rich.table import Table

from prodline.assets import project_assets
from prodline.assets.partitions import SPLITS
from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.instance import batch_dagster_events
from prodline.loading import print_failures
from prodline.operating import Named, OperatorError, find_asset, key_for
from prodline.pipeline.raw.landing import FORMATS, landing_path
from prodline.resources import build_resources
from prodline.resources.stores import LandingZoneResource, MatrixStoreResource, WarehouseResource
from prodline.stores import open_warehouse

console = Console()
PREVIEW_ROWS, PREVIEW_COLUMNS = 10, 7
# Resources an asset may have in a trial: each is replaced by a scratch one below, or only reads
# (the assets return no outputs, so the I/O manager stores nothing).
SCRATCH = {"warehouse", "landing_zone", "matrix_store"}
READ_ONLY = {"source_database", "pipes_subprocess_client", "io_manager"}


@dataclass
class Trial:
    named: Named
    partition: str | None
    result: dg.ExecuteInProcessResult
    warehouse: WarehouseResource
    scratch: Path


def refusal(config: ProjectConfig, asset: dg.AssetsDefinition, named: Named) -> str | None:
    """Why `prodline test` cannot run this asset without touching production, or None."""
    if open_warehouse(config).backend != "duckdb":
        return ("prodline test runs an asset on a scratch copy of the warehouse, and this project's is "
                "PostgreSQL, which it cannot copy safely: a copy of a live database (CREATE DATABASE ... "
                "TEMPLATE) needs every other connection to it closed, and a transaction rolled back "
                "afterwards cannot hold the asset's writes (they use several connections). Backfill the "
                "partition on a staging deployment instead.")
    if outside := sorted(asset.required_resource_keys - SCRATCH - READ_ONLY):
        what = "the MLflow registry: runs, models and aliases that production reads" \
            if outside == ["model_store"] else "stores production reads"
        return (f"{named.name} uses {', '.join(outside)} ({what}), which has no scratch copy: "
                "prodline test would write into it. Backfill it instead (prodline backfill).")
    return None


@contextmanager
def scratch_folder(keep: bool) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="prodline-test-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def copy_warehouse(config: ProjectConfig, scratch: Path) -> WarehouseResource:
    """A scratch copy of the project's DuckDB warehouse (empty if it has none yet)."""
    production = open_warehouse(config, read_only=True)
    target = scratch / "warehouse.duckdb"
    if production.missing_file() is None:
        source = Path(production.engine.url.database)
        try:
            with production.engine.connect():  # no writer can hold the file while this is open
                shutil.copyfile(source, target)
                if (wal := source.with_name(source.name + ".wal")).exists():
                    shutil.copyfile(wal, target.with_name(target.name + ".wal"))
        except sa.exc.DBAPIError as err:
            raise OperatorError(f"cannot read the warehouse {source} to copy it: {err.orig}"
                                + (f" (waited {production.lock_wait_seconds:g} s; a run writing "
                                   "to it holds it: try again when it has finished)"
                                   if "lock" in str(err.orig) else "")) from None
        finally:
            production.engine.dispose()
    return WarehouseResource(url=f"duckdb:///{target}", postgres_writers=config.storage.postgres_writers)


def scratch_landing(config: ProjectConfig, scratch: Path, partition: str | None) -> LandingZoneResource:
    """A landing zone holding copies of the partition's files of every source (links stay links,
    so that the zone refuses them as production's would)."""
    production, landing = home_of(config).landing, scratch / "landing"
    for source in config.sources:
        (landing / source).mkdir(parents=True, exist_ok=True)
        if partition is None or len(partition) != 10:
            continue
        day = dt.date.fromisoformat(partition)
        for fmt in FORMATS:
            found = landing_path(production, source, day, fmt)
            if found.is_file() or found.is_symlink():
                shutil.copy2(found, landing_path(landing, source, day, fmt), follow_symlinks=False)
    return LandingZoneResource(landing_dir=str(landing), quarantine_dir=str(scratch / "quarantine"))


def run_trial(config: ProjectConfig, name: str, date: str, keep: bool = False) -> Trial:
    """Compute one partition of the asset `name` in a scratch folder on an ephemeral instance."""
    batch_dagster_events()
    assets = project_assets(config)
    graph = dg.Definitions(assets=assets, resources=build_resources(config)).resolve_asset_graph()
    named = find_asset(graph, name)
    asset = next(a for a in assets if isinstance(a, dg.AssetsDefinition) and named.key in a.keys)
    if why := refusal(config, asset, named):
        raise OperatorError(why)
    with dg.DagsterInstance.ephemeral() as instance:
        if named.partitions is SPLITS:  # the open-ended splits are a dynamic partition of the instance
            instance.add_dynamic_partitions(SPLITS.name, [date])
        partition = key_for(named, date, instance)
        with scratch_folder(keep) as scratch:
            resources = {**build_resources(config), "warehouse": copy_warehouse(config, scratch),
                         "landing_zone": scratch_landing(config, scratch, partition),
                         "matrix_store": MatrixStoreResource(matrices_dir=str(scratch / "matrices"),
                                                             scores_dir=str(scratch / "predictions"))}
            result = dg.materialize(
                [asset], partition_key=partition, instance=instance,
                resources=resources, raise_on_error=False, tags={"prodline/command": "test"},
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
            trial = Trial(named, partition, result, resources["warehouse"], scratch)
            report(trial, graph)
            trial.warehouse.engine.dispose()
            if keep:
                console.print(f"scratch folder kept: {scratch}", highlight=False)
    return trial


def report(trial: Trial, graph) -> None:
    """The partition's rows (a preview and the count) and its checks."""
    named, result = trial.named, trial.result
    title = f"{named.name}" + (f", partition {trial.partition}" if trial.partition else "")
    console.print(f"[bold]test {title}[/bold] (scratch copy; production untouched)", highlight=False)
    table_name = graph.get(named.key).metadata.get("dagster/table_name")
    if result.success and table_name:
        _preview(trial.warehouse, str(table_name), trial.partition)
    elif result.success:
        for event in result.get_asset_materialization_events():
            values = event.materialization.metadata
            shown = {k: v.value for k, v in values.items() if isinstance(v.value, int | float | str)
                     and len(str(v.value)) < 60}
            console.print(", ".join(f"{k}: {v}" for k, v in shown.items()), highlight=False)
    checks = [e.event_specific_data for e in result.all_events
              if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    if checks:
        table = Table(title="checks", box=box.SIMPLE_HEAD, show_edge=False)
        for column in ("check", "result", "summary"):
            table.add_column(column, no_wrap=column != "summary")
        for check in checks:
            colour = "red" if check.severity.value == "ERROR" else "yellow"
            verdict = "[green]passed[/green]" if check.passed else \
                f"[{colour}]failed ({check.severity.value})[/{colour}]"
            table.add_row(check.check_name, verdict, check.description or "")
        console.print(table)
    print_failures(result)


def _preview(warehouse: WarehouseResource, table_name: str, partition: str | None) -> None:
    schema, name = table_name.split(".")
    columns = warehouse.columns(schema, name)
    column = next((c for c in ("_datestamp", "as_of_date") if c in columns and partition), None)
    where, params = (f" WHERE {column} = :day", {"day": dt.date.fromisoformat(partition[:10])}) \
        if column else ("", {})
    count = warehouse.scalar(f"SELECT count(*) FROM {table_name}{where}", **params)
    rows = warehouse.rows(f"SELECT * FROM {table_name}{where} LIMIT {PREVIEW_ROWS}", **params)
    rest = [c for c in columns if c != column]  # the partition's own date says nothing
    shown, more = rest[:PREVIEW_COLUMNS], len(rest) - PREVIEW_COLUMNS
    console.print(f"{table_name}: {count:,} row(s) for this partition"
                  + (f", the first {len(rows)} shown" if count > len(rows) else "")
                  + (f"; {more} more column(s) not shown" if more else ""), highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in shown:
        table.add_column(column, overflow="ellipsis")
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in shown))
    console.print(table)
