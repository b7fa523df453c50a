"""`prodline load`: raw partitions loaded as one run into the project's instance, with a table of
what each source holds and its checks."""

import datetime as dt
import time

import dagster as dg
from rich.console import Console
from rich.table import Table

from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.pipeline.raw.landing import scan
from prodline.readiness import lock_holder
from prodline.resources import warehouse_of
from prodline.runs import WAIT_SECONDS, PoolBusy, check_summary, load_range

console = Console()


def instance_for(cfg: ProjectConfig) -> dg.DagsterInstance:
    from prodline.instance import prepare_instance

    return prepare_instance(home_of(cfg).dagster, warehouse_of(cfg, literal=True))


def nothing_to_load(cfg: ProjectConfig, first: dt.date, last: dt.date, sources) -> str | None:
    """Why a load of first..last cannot load anything (no landing file of any of its file sources
    for those days), or None. Sources read by query are not judged: their database says."""
    names = [n for n in sources or cfg.sources if cfg.sources[n].arrival == "files"]
    if len(names) < len(sources or cfg.sources):
        return None
    landing = home_of(cfg).landing
    found = [f.datestamp for f in scan(landing, names)[0]]
    if any(first <= day <= last for day in found):
        return None
    held = f"it holds files for {min(found)} .. {max(found)}" if found else "it holds none"
    return (f"no landing files for {first} .. {last} in {landing} ({held}; expected "
            f"<source>/<YYYY-MM-DD>.csv or .parquet for {', '.join(names)}): put the files there, or "
            "write the demo's data first with `prodline generate`")


def wait_for_file(warehouse, seconds: float) -> None:
    """Wait while another process holds the DuckDB warehouse's file (a `prodline features` reading
    it, say), saying which; PoolBusy after `seconds`."""
    deadline, told = time.monotonic() + seconds, set()
    while (holder := lock_holder(warehouse)) is not None:
        if time.monotonic() >= deadline:
            raise PoolBusy(f"gave up after {seconds:g} s waiting for {holder}, which holds the "
                           "warehouse file: run this again when it has finished, or wait longer with "
                           "--wait SECONDS")
        if holder not in told:
            console.print(f"waiting for {holder}, which holds the warehouse file (up to {seconds:g} s)",
                          highlight=False)
            told.add(holder)
        time.sleep(0.5)


def load_and_report(cfg: ProjectConfig, first: dt.date, last: dt.date, sources,
                    wait_seconds: float = WAIT_SECONDS) -> bool:
    """Load first..last and print what each source holds; False (after saying why) if anything
    failed or nothing could be loaded."""
    why_not = nothing_to_load(cfg, first, last, sources)
    if why_not is not None:
        console.print(f"[red]{why_not}[/red]", highlight=False)
        return False
    warehouse = warehouse_of(cfg, literal=True)
    began = time.perf_counter()
    with console.status(f"loading {first} .. {last} ({(last - first).days + 1} partitions)"):
        try:
            wait_for_file(warehouse, wait_seconds)
            result = load_range(cfg, instance_for(cfg), first, last, sources, wait_seconds,
                                report=lambda line: console.print(line, highlight=False))
        except PoolBusy as err:
            console.print(f"[red]{err}[/red]", highlight=False)
            return False
    seconds = time.perf_counter() - began
    checks = check_summary(result)
    table = Table(title=f"raw partitions {first} .. {last}, run {result.run_id[:8]}, {seconds:.1f} s")
    for column in ("source", "rows in warehouse", "checks passed", "checks failed"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name in sources or cfg.sources:
        key = f"raw/{name}"
        held = cfg.physical(f"raw.{name}")  # an observed source's own table
        rows = warehouse.scalar(f"SELECT count(*) FROM {held}") if warehouse.columns(*held.split(".")) else 0
        table.add_row(name, f"{rows:,}", str(checks[(key, True)]), str(checks[(key, False)]))
    console.print(table)
    print_failures(result)
    return result.success and not any(passed is False for _, passed in checks)


def print_failures(result) -> None:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error.cause is not None:
                error = error.cause
            console.print(f"[red]{_asset_of(event.step_key)} failed:[/red] {_said(error)}", highlight=False)


def _asset_of(step_key: str) -> str:
    """The asset a step materializes, as the UI names it (Dagster joins a key's parts with `__`)."""
    return step_key.replace("__", "/")


def _said(error) -> str:
    """The error's message; prodline's own refusals without their module path, which says nothing
    to an operator (another error keeps its class: it names what went wrong)."""
    message = error.message.strip()
    return message.split(": ", 1)[-1] if message.startswith("prodline.") else message
