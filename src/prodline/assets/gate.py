"""The promotion gate: checks on the challenger, computed together in the challenger's own step and
recorded in `production.gate_results`, so the champion asset (and anyone reading the warehouse) can
see why a version was or was not promoted.

A refusal is a decision, not a crash. Dagster's `blocking=True` fails the step that yields a failed
ERROR check (a `DagsterAssetCheckFailedError` with its stack trace), which fails the run and fires
the failed-run alert. So the specs do not block in Dagster's sense: the checks that block promotion
fail at ERROR (red in the UI, with their evidence), and the champion, which runs after the
challenger's step, reads the recorded verdicts and materializes nothing when the gate refused."""

from collections.abc import Iterator

import dagster as dg

from prodline.assets.checks import check_result
from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import aliased, model_name, record_gate
from prodline.pipeline.gate.judging import CHECKS, DESCRIPTIONS, gate_checks, judge


def gate_specs(config: ProjectConfig, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset, description=("Blocks promotion. " if blocks else "Warns only. ")
                          + DESCRIPTIONS[name], metadata={"blocks_promotion": blocks})
        for name, blocks in gate_checks(config).items()
    ]


def judged(config: ProjectConfig, resources, wanted: set[str]) -> Iterator[dg.AssetCheckResult]:
    """The gate's verdicts on the current challenger version, recorded, as the checks in `wanted`."""
    warehouse, store = resources.warehouse, resources.model_store
    name = model_name(config)
    challenger = aliased(config, store, "challenger", "materialize challenger_model first")
    champion = store.alias(name, "champion")
    verdicts = judge(config, warehouse, store, resources.matrix_store.of(config), challenger)
    record_gate(warehouse, name, str(challenger.version), challenger.run_id, verdicts, config.tables)
    by_criterion = {v.check: v for v in verdicts}
    for check in gate_checks(config):
        if check in wanted:
            yield check_result(by_criterion[CHECKS[check]], check, model_name=name,
                               challenger_version=str(challenger.version),
                               champion_version=str(champion.version) if champion else "(none)")
