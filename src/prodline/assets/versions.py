"""Data versions per partition, and the automation that follows them.

Dagster 1.13 gives a ranged (single-run backfill) materialization one data version, copied onto
every partition's event (`MaterializeResult.data_version` is per output; dagster-io/dagster#34013).
Logging a second materialization per partition to carry its own version would double every
partition's history, so the honest record is partition-scoped metadata: each partition's event
carries `data_version`, its own rows' version (and its own row count), which the UI shows per
partition and which prodline reads. The event's Dagster data version is that same version when the
run wrote one partition, and a hash of the run's partitions' versions when it wrote several (it
changes only when one of them does, as the observed raw tables' window version does).

An asset that reads partitions records what it read (`reads`: asset, partition, version); it is
requested again (`ReadsChanged`) once a partition it read has a version other than the one it was
built from: a corrected features partition leads to new matrices, a new matrix to new models.
"""


import dagster as dg
from dagster._core.definitions.declarative_automation.automation_condition import AutomationResult
from dagster._core.definitions.declarative_automation.automation_context import AutomationContext

from prodline.pipeline.data_versions import combined

VERSION = "data_version"  # the partition-scoped metadata entry of a partition's own version
READS = "reads"  # what a partition was built from: {asset key: {partition: version}}


def record_versions(context: dg.AssetExecutionContext, versions: dict[str, str],
                    rows: dict[str, int] | None = None,
                    reads: dict[str, dict] | None = None) -> dg.DataVersion:
    """Each partition's version (and row count, and what it read) on its own event; the run's data
    version (see the module's docstring)."""
    for partition, version in versions.items():
        metadata = {VERSION: version}
        if rows is not None:
            metadata["dagster/row_count"] = rows[partition]
        if reads is not None:
            metadata[READS] = dg.MetadataValue.json(reads[partition])
        context.add_asset_metadata(metadata, partition_key=partition)
    return dg.DataVersion(next(iter(versions.values())) if len(versions) == 1 else combined(versions))


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, partitions: list[str]) -> dict[str, dict]:
    """The metadata of each partition's latest materialization (partitions never materialized are
    left out)."""
    latest = instance.get_latest_storage_id_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION)
    wanted = [latest[p] for p in partitions if p in latest]
    if not wanted:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, storage_ids=wanted), limit=len(wanted)).records
    return {r.partition_key: {k: v.value for k, v in r.asset_materialization.metadata.items()}
            for r in records}


def recorded_versions(instance: dg.DagsterInstance, key: dg.AssetKey,
                      partitions: list[str]) -> dict[str, str]:
    """The version each partition's latest materialization recorded (those without one left out)."""
    return {p: m[VERSION] for p, m in latest_metadata(instance, key, partitions).items() if VERSION in m}


def changed_reads(instance: dg.DagsterInstance, reads: dict) -> list[str]:
    """`asset partition` for each partition read whose recorded version is now another."""
    changed = []
    for key, versions in reads.items():
        now = recorded_versions(instance, dg.AssetKey.from_user_string(key), list(versions))
        changed += [f"{key} {p}" for p, v in versions.items() if p in now and now[p] != v]
    return changed


class ReadsChanged(dg.AutomationCondition):
    """True for the partitions of the target built from a partition whose version has changed since
    (as its `reads` metadata and the partitions' recorded versions say)."""

    @property
    def name(self) -> str:
        return "reads_changed"

    @property
    def description(self) -> str:
        return "a partition it was built from has another data version now"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        candidates = sorted(context.candidate_subset.expensively_compute_partition_keys())
        instance = context.asset_graph_view.instance
        built = latest_metadata(instance, context.key, candidates) if candidates else {}
        stale = {p for p, m in built.items() if READS in m and changed_reads(instance, m[READS])}
        return AutomationResult(
            context=context,
            true_subset=context.candidate_subset.compute_intersection_with_partition_keys(stale))


def when_reads_change() -> dg.AutomationCondition:
    """Build a partition again once something it was built from is materialized with another data
    version (checked only after an upstream update, so a failed run is not asked for every tick)."""
    ac = dg.AutomationCondition
    return (ac.any_deps_updated().since_last_handled() & ~ac.any_deps_in_progress() & ~ac.in_progress()
            & ReadsChanged()).with_label("when_reads_change")


def when_deps_update() -> dg.AutomationCondition:
    """Build a partition again when a dependency's same partition is updated (models to evaluations)."""
    ac = dg.AutomationCondition
    return (ac.any_deps_updated().since_last_handled() & ~ac.any_deps_in_progress()
            & ~ac.in_progress()).with_label("when_deps_update")
