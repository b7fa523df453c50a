"""Dagster's records of upstream days for the completeness rule (pipeline/completeness.py): which
partitions are materialized, and which days a failed blocking check covers. An asset body refuses
with them (`refuse_incomplete`); automation waits with them (`UpstreamComplete`).

A blocking check runs once per run, over the run's whole partition range: a failed one counts for
the days that run materialized last (a day loaded again since then has a newer verdict), and only for
the days its evidence names when it names them (`failed_days`).
"""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.definitions.declarative_automation.automation_condition import AutomationResult
from dagster._core.definitions.declarative_automation.automation_context import AutomationContext
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from prodline.pipeline.completeness import DayStates, Window, incomplete, refusal
from prodline.pipeline.errors import StepRefused

# `prodline test` runs a partition on an ephemeral instance: its completeness is judged on the
# records of the project's own instance, whose DAGSTER_HOME this run tag names (read, never written).
RECORDS_TAG = "prodline/records_from"
FAILED_CHECKS_READ = 500  # the newest failed executions of each check that are looked at

WindowsOf = Callable[[str], list[Window]]  # the days of each table a partition (by its key) reads


def day_states(instance: dg.DagsterInstance, key: dg.AssetKey, check_names: list[str]) -> DayStates:
    """The days of `key` materialized, and those whose latest materialization failed a blocking
    check (an ERROR verdict of a blocking check, with the check's name)."""
    loaded = {dt.date.fromisoformat(k) for k in instance.get_materialized_partitions(key)}
    states = DayStates(loaded=loaded)
    if not check_names:
        return states
    last_run: dict[dt.date, str] | None = None
    for name in check_names:
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(key, name), limit=FAILED_CHECKS_READ,
            status={AssetCheckExecutionRecordStatus.FAILED})
        for record in records:
            evaluation = record.event.dagster_event.event_specific_data if record.event else None
            if evaluation is None or not evaluation.blocking \
                    or evaluation.severity != dg.AssetCheckSeverity.ERROR:
                continue
            last_run = _last_runs(instance, key) if last_run is None else last_run
            days = {d for d, run in last_run.items() if run == record.run_id}
            named = evaluation.metadata.get("failed_days")
            if named is not None:
                days &= {dt.date.fromisoformat(d) for d in named.value}
            for day in days:
                if name not in states.failed.setdefault(day, []):
                    states.failed[day].append(name)
    return states


def _last_runs(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[dt.date, str]:
    """The run that materialized each partition of `key` last."""
    latest = instance.get_latest_storage_id_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION)
    if not latest:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)).records
    return {dt.date.fromisoformat(r.partition_key): r.run_id for r in records if r.partition_key}


@contextmanager
def records_of(context: dg.AssetExecutionContext) -> Iterator[dg.DagsterInstance]:
    """The instance whose records say what upstream is built: the run's own, or the project's for a
    trial run (RECORDS_TAG)."""
    home = context.run.tags.get(RECORDS_TAG)
    if not home:
        yield context.instance
        return
    with dg.DagsterInstance.from_config(home) as instance:
        yield instance


class Upstream:
    """What a partitioned asset reads upstream: the windows of each partition (an as-of date, a
    day, a split), and the asset and blocking checks behind each table the windows name."""

    def __init__(self, what: str, windows_of: WindowsOf, assets: dict[str, tuple[dg.AssetKey, list[str]]],
                 note: str = ""):
        self.what, self.windows_of, self.assets, self.note = what, windows_of, assets, note

    def reasons(self, instance: dg.DagsterInstance, partitions: list[str]) -> list[str]:
        """Why each partition cannot be built yet; empty when every one can."""
        windows = {p: self.windows_of(p) for p in partitions}
        tables = {w.table for ws in windows.values() for w in ws}
        states = {t: day_states(instance, *self.assets[t]) for t in tables if t in self.assets}
        return [line for p in partitions for line in incomplete(p, windows[p], states)]

    def complete(self, instance: dg.DagsterInstance, partitions: list[str]) -> list[str]:
        """The partitions (of `partitions`, in order) that can be built now."""
        blocked = {line.split(":")[0] for line in self.reasons(instance, partitions)}
        return [p for p in partitions if p not in blocked]

    def refuse_incomplete(self, context: dg.AssetExecutionContext) -> None:
        """Refuse the step, naming each missing or failed table and day, unless every partition of
        the run reads only days that are loaded and passed their blocking checks."""
        partitions = list(context.partition_keys)
        with records_of(context) as instance:
            lines = self.reasons(instance, partitions)
        if lines:
            raise StepRefused(self.note + refusal(self.what, lines, len(partitions)))

    def condition(self) -> "UpstreamComplete":
        return UpstreamComplete(self)


class UpstreamComplete(dg.AutomationCondition):
    """True for the partitions whose upstream windows are loaded and passed their blocking checks:
    automation waits for the others instead of building on a hole."""

    def __init__(self, upstream: Upstream):
        self.upstream = upstream

    @property
    def name(self) -> str:
        return "upstream_complete"

    @property
    def description(self) -> str:
        return "every upstream day this partition reads is loaded and passed its blocking checks"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        candidates = sorted(context.candidate_subset.expensively_compute_partition_keys())
        if not candidates:
            return AutomationResult(context=context, true_subset=context.candidate_subset)
        complete = self.upstream.complete(context.asset_graph_view.instance, candidates)
        return AutomationResult(
            context=context,
            true_subset=context.candidate_subset.compute_intersection_with_partition_keys(set(complete)))


def about_to_change() -> dg.AutomationCondition:
    """A table (a day of it) that another run is about to rewrite: its own inputs were updated
    since it was last requested or built and it is not in this tick's run, or they are (or it is)
    being built."""
    ac = dg.AutomationCondition
    pending = ac.any_deps_updated().since_last_handled() & ~ac.will_be_requested()
    return (pending | ac.any_deps_in_progress() | ac.in_progress()).with_label("about_to_change")


def flow_on(upstream: Upstream) -> dg.AutomationCondition:
    """Build the newest partition when it appears, and any partition, past ones too, when a day it
    reads is loaded again (a fix, a late file, a correction), once its whole window is complete.

    It waits while what it reads is about to change in another run: a raw day read both directly
    and through a transform (or the cohort) would otherwise request the transform's day and the
    as-of date in one tick, as separate runs (their partitions differ) that nothing orders, and the
    as-of date could read the transform's old rows (Dagster forgets an update that lands while the
    partition is being built)."""
    ac = dg.AutomationCondition
    return (
        ((ac.in_latest_time_window() & ac.newly_missing()) | ac.any_deps_updated()).since_last_handled()
        & ~ac.any_deps_match(about_to_change())
        & ~ac.in_progress()
        & upstream.condition()
    ).with_label("flow_on")
