"""The `matrices` asset: a split's training and test matrices, streamed from the warehouse into
Parquet files named by their definition and the data versions of what they read (see
`prodline.pipeline.matrices.files`). A split is built again by automation when a partition it read
has another data version (assets/versions.py); an unchanged matrix is reused."""

import dagster as dg

from prodline.assets.completeness import records_of
from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import COHORT, LABELS, MATRICES, feature_key, problem_key
from prodline.assets.metadata import markdown_table, png
from prodline.assets.upstreams import split_reads
from prodline.assets.versions import record_versions, when_reads_change
from prodline.config import ProjectConfig
from prodline.pipeline.completeness import refusal
from prodline.pipeline.data_versions import combined
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.matrices.building import current_splits, matrix_specs, missing_inputs
from prodline.pipeline.matrices.files import MatrixSpec
from prodline.pipeline.matrices.splits import Split
from prodline.pipeline.matrices.timeline import timeline_png
from prodline.resources.stores import POOL


def matrices_asset(config: ProjectConfig, splits: dict[str, Split] | None, partitions) -> dg.AssetsDefinition:
    deps = [problem_key(config, k)
            for k in (COHORT, LABELS, *(feature_key(f.prefix) for f in config.features))]

    @single_run_asset(
        key=problem_key(config, MATRICES),
        group_name=config.own("modeling"),
        partitions_def=partitions,
        required_resource_keys={"warehouse", "matrix_store"},
        kinds={"parquet"},
        pool=POOL,
        deps=[dg.AssetDep(k, partition_mapping=dg.AllPartitionMapping()) for k in deps],
        automation_condition=when_reads_change(),
        description="Training and test matrices of a split (Parquet, with a manifest each), named by "
        "their definition and the data versions of the partitions they read.",
    )
    def matrices(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, store = context.resources.warehouse, context.resources.matrix_store.of(config)
        with records_of(context) as instance:
            chosen = _chosen(config, splits, warehouse, context.partition_keys, instance)
        specs, built = matrix_specs(config, warehouse, chosen), []
        versions, reads = {}, {}
        for split in chosen:
            train, tests = specs[split.key]
            for spec in [train, *tests]:
                manifest, reused = store.build(warehouse, spec, tables=config.tables)
                built.append({"split": split.key, "kind": spec.kind, "uuid": spec.uuid,
                              "rows": manifest["rows"], **manifest["labels"], "reused": reused})
            versions[split.key] = combined(store.write_split_index(split.key, train, tests))
            reads[split.key] = _reads(config, [train, *tests])
        return dg.MaterializeResult(data_version=record_versions(context, versions, reads=reads), metadata={
            "matrices": markdown_table(built),
            "rows": sum(b["rows"] for b in built),
            "reused": sum(b["reused"] for b in built),
            "timeline": png(timeline_png(chosen, f"{len(chosen)} split(s)"), "splits"),
        })

    return matrices


def _reads(config: ProjectConfig, specs: list[MatrixSpec]) -> dict[str, dict[str, str]]:
    """What a split's matrices read, by asset: {asset key: {as-of date: data version}}."""
    assets = {config.tables.cohort: COHORT, config.tables.labels: LABELS,
              **{config.tables.feature(f.prefix): feature_key(f.prefix) for f in config.features}}
    reads: dict[str, dict[str, str]] = {}
    for spec in specs:
        for table, day, version in spec.data_versions:
            reads.setdefault(problem_key(config, assets[table]).to_user_string(), {})[day] = version
    return reads


def _chosen(config: ProjectConfig, splits, warehouse, keys: list[str], instance) -> list[Split]:
    """The splits of these partitions, refused if one is unknown or its inputs are not built yet:
    each as-of date a split reads materialized with its blocking checks passed, as Dagster recorded
    them, and (for Triage's layout) the other splits' feature dates in the warehouse."""
    known = splits or {s.key: s for s in current_splits(config, warehouse)}
    if unknown := [k for k in keys if k not in known]:
        raise StepRefused(f"no split {', '.join(unknown)} in the config's splits")
    if lines := split_reads(config, known).reasons(instance, keys):
        raise StepRefused(refusal("matrices", lines, len(keys)))
    chosen = [known[k] for k in keys]
    if problems := missing_inputs(warehouse, config, chosen):
        raise StepRefused("the splits need as-of partitions that are not built yet "
                          "(materialize cohort, labels and features for them first):\n" + "\n".join(problems))
    return chosen
