"""The `bias_audit` asset: Aequitas's group metrics and disparities of every model on its split's
test matrices, in `results.aequitas` (Triage's bias_audit_config)."""

import dagster as dg

from prodline.assets.decorators import single_run_asset
from prodline.assets.keys import BIAS_AUDIT, MODELS, problem_key
from prodline.assets.metadata import markdown_table
from prodline.config import ProjectConfig
from prodline.pipeline.bias.auditing import AEQUITAS_COLUMNS, audit_split
from prodline.pipeline.tables import trained_models, write_by_split
from prodline.resources.stores import POOL


def bias_audit_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    audit = config.bias_audit

    @single_run_asset(
        key=problem_key(config, BIAS_AUDIT),
        group_name=config.own("modeling"),
        partitions_def=partitions,
        deps=[problem_key(config, MODELS)],
        required_resource_keys={"warehouse", "model_store", "matrix_store"},
        pool=POOL,
        description="Each model's bias audit on its split's test matrices (Triage's bias_audit_config): per "
        "attribute and group, Aequitas's counts and metrics at each cutoff, ties as worst and best, and "
        f"each metric's disparity against the reference group ({audit.ref_groups_method}).",
    )
    def bias_audit(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, matrices = context.resources.warehouse, context.resources.matrix_store.of(config)
        rows = []
        for key in context.partition_keys:
            rows += audit_split(trained_models(warehouse, key, config.tables), matrices.split_index(key),
                                matrices, context.resources.model_store, warehouse, audit, config.tables)
        write_by_split(warehouse, "aequitas", AEQUITAS_COLUMNS, rows, context.partition_keys, config.tables)
        shown = [{"model": r["model_id"][:8], "parameter": r["parameter"], "attribute": r["attribute_name"],
                  "group": r["attribute_value"], "size": r["group_size"],
                  "tpr_disparity": None if r["tpr_disparity"] is None else round(r["tpr_disparity"], 3),
                  "fpr_disparity": None if r["fpr_disparity"] is None else round(r["fpr_disparity"], 3)}
                 for r in rows if r["tie_breaker"] == "worst"][:30]
        return dg.MaterializeResult(metadata={"rows": len(rows), "audit": markdown_table(shown)})

    return bias_audit
