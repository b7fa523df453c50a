"""`prodline backfill ASSET... --from D1 --to D2`: Airflow's `backfill -s -e` for any asset. Each
asset is one single-run backfill on the project's instance, in dependency order.

One run per asset, not one for all: a run carries one partition range, and the assets' partitions
differ (raw tables by arrival day, the as-of layer by as-of date, models by split), so a run of
several would need ranges that mean different things. One run each also stops at a failed asset:
its dependents in the selection are skipped, not computed from what it did not write."""

import datetime as dt
import time
from dataclasses import dataclass, field

import dagster as dg
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodline.config import ProjectConfig
from prodline.definitions import build_definitions
from prodline.event_log import batch_dagster_events
from prodline.loading import instance_for, print_failures
from prodline.operating import Named, OperatorError, find_asset, keys_between, runs_of
from prodline.runs import PoolBusy, run_job

console = Console()
TAGS = {"prodline/command": "backfill", "prodline/trigger": "cli"}


@dataclass
class Outcome:
    named: Named
    keys: list[str]
    seconds: float = 0.0
    run_ids: list[str] = field(default_factory=list)
    passed: int = 0
    failed: list[str] = field(default_factory=list)  # "check (severity)"
    results: list = field(default_factory=list)
    skipped: str = ""

    @property
    def success(self) -> bool:
        return not self.skipped and all(r.success for r in self.results)


def plan(graph, names: list[str], first: dt.date, last: dt.date,
         store: dg.DagsterInstance | None = None) -> list[Outcome]:
    """Each named asset with its partitions in first..last, in dependency order; an OperatorError
    for an unknown asset or a range with none of its partitions."""
    chosen = {}
    for name in names:
        named = find_asset(graph, name)
        chosen[named.key] = Outcome(named, keys_between(named, first, last, store))
    order = graph.toposorted_asset_keys
    return sorted(chosen.values(), key=lambda o: order.index(o.named.key))


def backfill(config: ProjectConfig, names: list[str], first: dt.date, last: dt.date) -> list[Outcome]:
    """Run the plan on the project's instance, one asset after another, with a progress bar; an
    asset downstream of one that failed is skipped."""
    batch_dagster_events()
    definitions = build_definitions(config)
    graph, instance = definitions.resolve_asset_graph(), instance_for(config)
    outcomes = plan(graph, names, first, last, instance)
    job = definitions.resolve_implicit_global_asset_job_def()
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("backfill", total=len(outcomes))
        for done, outcome in enumerate(outcomes):
            named = outcome.named
            if broken := [o.named.name for o in outcomes[:done] if o.results and not o.success
                          and named.key in _downstream(graph, o.named.key)]:
                outcome.skipped = f"{', '.join(broken)} failed"
            else:
                progress.update(task, description=f"{named.name} {_span(outcome.keys)}")
                _run(job, instance, outcome)
            progress.update(task, completed=done + 1)
    return outcomes


def _downstream(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    return dg.AssetSelection.assets(key).downstream(include_self=False).resolve(graph)


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, outcome: Outcome) -> None:
    began = time.perf_counter()
    for keys in runs_of(outcome.named, outcome.keys, instance):
        # A failure is printed once, without Dagster's traceback: see print_failures.
        result = run_job(job, instance, keys[0], keys[-1], [outcome.named.key], TAGS, "CRITICAL")
        outcome.results.append(result)
        outcome.run_ids.append(result.run_id)
        for event in result.all_events:
            if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                check = event.event_specific_data
                if check.passed:
                    outcome.passed += 1
                else:
                    outcome.failed.append(f"{check.check_name} ({check.severity.value})")
        if not result.success:
            break
    outcome.seconds = time.perf_counter() - began


def _span(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"{keys[0]} .. {keys[-1]}"


def backfill_and_report(config: ProjectConfig, names: list[str], first: dt.date, last: dt.date) -> bool:
    """`prodline backfill`: False if an asset was refused, failed or skipped."""
    try:
        outcomes = backfill(config, names, first, last)
    except (OperatorError, PoolBusy) as err:
        console.print(f"[red]{err}[/red]", highlight=False)
        return False
    table = Table(title=f"backfill {first} .. {last}", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("asset", "partitions", "seconds", "checks", "result"):
        table.add_column(column, no_wrap=column != "checks",
                         justify="right" if column == "seconds" else "left")
    for o in outcomes:
        checks = f"{o.passed} ok" + (f", [yellow]{len(o.failed)} failed[/yellow]" if o.failed else "")
        result = "skipped" if o.skipped else "[green]ok[/green]" if o.success else "[red]failed[/red]"
        table.add_row(o.named.name, f"{len(o.keys)}: {_span(o.keys)}", f"{o.seconds:.1f}",
                      checks if o.results else "", result)
    console.print(table)
    if runs := [r[:8] for o in outcomes for r in o.run_ids]:
        console.print(f"runs, tagged prodline/command=backfill: {', '.join(runs)}", highlight=False)
    for o in outcomes:
        if o.failed:
            console.print(f"[yellow]{o.named.name}: failed checks: {', '.join(o.failed)}[/yellow]",
                          highlight=False)
        if o.skipped:
            console.print(f"{o.named.name} skipped: {o.skipped}", highlight=False)
        for result in o.results:
            print_failures(result)
    return all(o.success for o in outcomes)
