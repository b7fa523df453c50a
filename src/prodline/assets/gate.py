"""The promotion gate: blocking checks on the challenger, computed together and recorded in
`production.gate_results`, so the champion asset (and anyone reading the warehouse) can see why a
version was or was not promoted."""

import dagster as dg

from prodline.assets.checks import check_result
from prodline.assets.decorators import OUTSIDE_SYSTEMS, retry_transient_only
from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import aliased, model_name, record_gate
from prodline.pipeline.gate.judging import CHECKS, DESCRIPTIONS, gate_checks, judge


def gate_check(config: ProjectConfig, asset: dg.AssetKey) -> dg.AssetChecksDefinition:
    checks = gate_checks(config)
    specs = [dg.AssetCheckSpec(name, asset=asset, blocking=blocks, description=DESCRIPTIONS[name])
             for name, blocks in checks.items()]

    @dg.multi_asset_check(
        specs=specs,
        name="promotion_gate",
        required_resource_keys={"warehouse", "model_store", "matrix_store"},
        retry_policy=OUTSIDE_SYSTEMS,
    )
    @retry_transient_only
    def promotion_gate(context: dg.AssetCheckExecutionContext):
        warehouse, store = context.resources.warehouse, context.resources.model_store
        challenger = aliased(config, store, "challenger", "materialize challenger_model first")
        verdicts = judge(config, warehouse, store, context.resources.matrix_store, challenger)
        record_gate(warehouse, model_name(config), str(challenger.version), challenger.run_id, verdicts)
        by_criterion = {v.check: v for v in verdicts}
        for check in checks:
            yield check_result(by_criterion[CHECKS[check]], check, challenger_version=str(challenger.version))

    return promotion_gate
