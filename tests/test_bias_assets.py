"""The bias audit end to end through Dagster on a copy of the promoted project: the `bias_audit`
asset's rows in results.aequitas, and the promotion gate refusing a challenger whose disparity is
out of bounds, with a message that names the attribute, the group and the figure."""

import dagster as dg
import yaml

from conftest import copy_promoted
from prodline.assets.keys import BIAS_AUDIT, CHALLENGER, CHAMPION
from prodline.config import load_config
from prodline.definitions import build_definitions
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import build_resources, model_store_of, warehouse_of
from prodline.runs import run_range

BIAS_AUDIT_CONFIG = {  # Triage's keys, verbatim
    "from_obj_query": "SELECT person_id, registered_on, sex FROM raw.registrations",
    "attribute_columns": ["sex"],
    "knowledge_date_column": "registered_on",
    "entity_id_column": "person_id",
    "ref_groups_method": "predefined",
    "ref_groups": {"sex": "F"},
    "thresholds": {"percentiles": [50], "top_n": [10]},
}
TIGHT = {"metrics": ["tpr", "fpr", "ppr", "pprev"], "parameter": "0.5_pct", "bounds": [0.999, 1.001],
         "min_group_size": 1}


def with_audit(folder):
    """The copy's config with the bias_audit section and a gate bound no model can meet."""
    raw = yaml.safe_load((folder / "prodline.yaml").read_text())
    raw["bias_audit"] = BIAS_AUDIT_CONFIG
    raw["promotion"]["disparities"] = TIGHT
    (folder / "prodline.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(folder / "prodline.yaml")


def checks_of(result) -> dict[str, tuple[bool, str]]:
    found = [e.event_specific_data for e in result.all_events
             if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    return {e.check_name: (e.passed, e.description) for e in found}


def test_audit_rows_and_a_disparity_out_of_bounds_refuses_promotion(promoted_project, tmp_path, monkeypatch):
    with copy_promoted(promoted_project, tmp_path, monkeypatch) as (_, instance):
        config = with_audit(tmp_path)
        newest = make_splits(config.temporal)[-1].key
        assert run_range(config, instance, "train_models", newest, newest, [BIAS_AUDIT]).success
        warehouse, store = warehouse_of(config, literal=True), model_store_of(config, literal=True)
        rows = warehouse.rows("SELECT * FROM results.aequitas")
        models = warehouse.rows("SELECT model_id FROM results.models WHERE split = :s", s=newest)
        assert {r["model_id"] for r in rows} == {m["model_id"] for m in models}
        assert {(r["parameter"], r["tie_breaker"], r["attribute_value"]) for r in rows} == {
            (p, t, s) for p in ("10_abs", "0.5_pct") for t in ("worst", "best") for s in ("F", "M")}
        for r in rows:
            assert r["tp"] + r["fp"] + r["fn"] + r["tn"] == r["group_size"]
            assert r["tpr_ref_group_value"] == "F"
            if r["attribute_value"] == "F" and r["tpr"] is not None and r["tpr"] > 0:
                assert r["tpr_disparity"] == 1.0

        # A new challenger (the random ranker of the newest split), judged by the gate.
        [random] = warehouse.rows("SELECT model_id FROM results.models WHERE split = :s AND class_path "
                                  "LIKE '%RandomRanker'", s=newest)
        worse = store.register("risk", random["model_id"], {"split": newest, "model_group_id": "random"})
        store.set_alias("risk", "challenger", worse)
        definitions = build_definitions(config)
        checks = dg.materialize(list(definitions.assets), instance=instance,
                                resources=build_resources(config), raise_on_error=False,
                                selection=dg.AssetSelection.checks_for_assets(CHALLENGER))
        assert checks.success  # a refusal is a decision, not a failure
        passed, summary = checks_of(checks)["disparities_are_within_bounds"]
        assert not passed
        assert "sex=M: " in summary and "vs 'F' outside 0.999-1.001 at 0.5_pct" in summary
        job = definitions.get_implicit_global_asset_job_def()
        alone = job.execute_in_process(instance=instance, asset_selection=[CHAMPION], raise_on_error=False)
        assert alone.success and not alone.get_asset_materialization_events()
        assert str(store.alias("risk", "champion").version) == "1"
        gate = warehouse.rows("SELECT check_name, passed FROM production.gate_results WHERE version = :v",
                              v=worse)
        assert {g["check_name"]: g["passed"] for g in gate}["disparity"] is False
