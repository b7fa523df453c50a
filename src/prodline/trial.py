"""`prodline test ASSET --date D`: Airflow's `test` for any asset. One partition is computed into a
scratch place, its checks run, and its rows and check results are printed; production is untouched.

The scratch place: a copy of the warehouse (`prodline.stores.scratch`: a DuckDB file in a scratch
folder, or a PostgreSQL database of its own, dropped afterwards), a landing zone holding only that
day's files (a refused file is quarantined there, not in production's), and empty matrix folders.
The run goes to an ephemeral Dagster instance, in memory: the project's instance records nothing.
Assets that use the MLflow registry (models, evaluations, challenger, champion, predictions) are
refused: a registry has no scratch copy, and its runs and aliases are what production reads."""

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from rich import box
from rich.console import Console
from rich.table import Table

from prodline.assets import project_assets
from prodline.assets.completeness import RECORDS_TAG
from prodline.config import ProjectConfig
from prodline.event_log import batch_dagster_events
from prodline.home import home_of
from prodline.loading import print_failures
from prodline.operating import Named, OperatorError, find_asset, key_for
from prodline.pipeline.raw.landing import FORMATS, landing_path
from prodline.resources import build_resources
from prodline.resources.stores import LandingZoneResource, MatrixStoreResource, WarehouseResource
from prodline.stores import open_warehouse
from prodline.stores.scratch import ScratchRefused, scratch_warehouse

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


def refusal(asset: dg.AssetsDefinition, named: Named) -> str | None:
    """Why `prodline test` cannot run this asset without touching production, or None."""
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
    if why := refusal(asset, named):
        raise OperatorError(why)
    with dg.DagsterInstance.ephemeral() as instance:
        if isinstance(named.partitions, dg.DynamicPartitionsDefinition):  # open-ended splits: the
            instance.add_dynamic_partitions(named.partitions.name, [date])  # instance's partitions
        partition = key_for(named, date, instance)
        with scratch_folder(keep) as scratch, scratch_copy(config, scratch) as (url, copied):
            warehouse = WarehouseResource(url=url, postgres_writers=config.storage.postgres_writers)
            resources = {**build_resources(config), "warehouse": warehouse,
                         "landing_zone": scratch_landing(config, scratch, partition),
                         "matrix_store": MatrixStoreResource(matrices_dir=str(scratch / "matrices"),
                                                             scores_dir=str(scratch / "predictions"))}
            # What upstream is built: the records of the project's own instance ($DAGSTER_HOME
            # when it names one, as the commands set it; else the home's).
            homes = [Path(h) for h in (os.environ.get("DAGSTER_HOME"), home_of(config).dagster) if h]
            home = next((h for h in homes if (h / "dagster.yaml").exists()), None)
            records = {RECORDS_TAG: str(home)} if home is not None else {}
            result = dg.materialize(
                [asset], partition_key=partition, instance=instance,
                resources=resources, raise_on_error=False, tags={"prodline/command": "test", **records},
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
            trial = Trial(named, partition, result, warehouse, scratch)
            report(trial, graph, copied)
            warehouse.engine.dispose()
            if keep:
                console.print(f"scratch folder kept: {scratch}", highlight=False)
    return trial


@contextmanager
def scratch_copy(config: ProjectConfig, scratch: Path) -> Iterator[tuple[str, str]]:
    try:
        with scratch_warehouse(open_warehouse(config), scratch) as copy:
            yield copy
    except ScratchRefused as err:
        raise OperatorError(str(err)) from None


def report(trial: Trial, graph, copied: str) -> None:
    """The partition's rows (a preview and the count) and its checks."""
    named, result = trial.named, trial.result
    title = f"{named.name}" + (f", partition {trial.partition}" if trial.partition else "")
    console.print(f"[bold]test {title}[/bold] on a scratch warehouse ({copied}); production untouched",
                  highlight=False)
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
    shown, more = rest[:PREVIEW_COLUMNS], max(0, len(rest) - PREVIEW_COLUMNS)
    console.print(f"{table_name}: {count:,} row(s) for this partition"
                  + (f", the first {len(rows)} shown" if count > len(rows) else "")
                  + (f"; {more} more column(s) not shown" if more else ""), highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in shown:
        table.add_column(column, overflow="ellipsis")
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in shown))
    console.print(table)
