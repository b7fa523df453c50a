"""The answer to decay (`monitoring.on_decay`): a list that fell short of its model's promise moves
the champion back through a run recorded like any move, or trains the newest split the matured
labels allow (never the same one again); `decay_blocks` makes the check fail the run."""

import datetime as dt
import json

import dagster as dg
import pytest

from conftest import copy_promoted
from prodline.config import load_config
from prodline.definitions import build_definitions
from prodline.pipeline.champion.records import record_promotion
from prodline.pipeline.matrices.splits import make_splits
from prodline.pipeline.tables import MONITORING_COLUMNS, production_table
from prodline.resources import build_resources, model_store_of, warehouse_of
from prodline.runs import run_range


@pytest.fixture
def promoted(promoted_project, tmp_path, monkeypatch):
    with copy_promoted(promoted_project, tmp_path, monkeypatch) as (config, instance):
        yield config, instance


def answering(config, on_decay: str, **monitoring):
    changed = config.monitoring.model_copy(update={"on_decay": on_decay, **monitoring})
    return config.model_copy(update={"monitoring": changed})


def fell_short(warehouse, day: str, value: float = 0.1, promised: float = 0.9) -> None:
    """A stored list that did far worse than its model promised at promotion."""
    production_table(warehouse, "monitoring", MONITORING_COLUMNS)
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO production.monitoring (as_of_date, model_version, metric, "
                             f"parameter, value, promised) VALUES ('{day}', '1', 'precision@', "
                             f"'50_pct', {value}, {promised})")


def tick(config, instance, cursor=None):
    defs = build_definitions(config)
    sensor = next(s for s in defs.sensors if s.name == "decay_response")
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"warehouse": warehouse_of(config, literal=True)})
    return sensor(context), context.cursor, defs


def second_champion(config) -> str:
    """Another model of the newest split, promoted over version 1 as the asset would."""
    store, warehouse = model_store_of(config, literal=True), warehouse_of(config, literal=True)
    newest = make_splits(config.temporal)[-1].key
    other = warehouse.rows("SELECT model_id FROM results.models WHERE split = :s AND NOT baseline "
                           "AND model_id <> :c LIMIT 1", s=newest,
                           c=store.alias("risk", "champion").run_id)[0]["model_id"]
    version = store.register("risk", other, {"split": newest, "model_group_id": "x"})
    store.set_alias("risk", "champion", version)
    record_promotion(warehouse, {
        "model_name": "risk", "kind": "promotion", "from_version": "1", "to_version": version,
        "run_id": other, "model_group_id": "x", "metric": "precision@50_pct", "value": 0.9,
        "evidence": json.dumps({}), "actor": "dagster run r", "reason": "passed the promotion gate",
        "gate_passed": True, "forced": False})
    return version


def test_only_an_answer_other_than_alert_adds_the_sensor_and_the_older_spelling_still_retrains(promoted):
    config, _ = promoted
    assert "decay_response" not in {s.name for s in build_definitions(config).sensors}
    assert config.monitoring.on_decay == "alert"
    text = (config.base_dir / "prodline.yaml").read_text()
    older = text.replace("monitoring:\n", "monitoring:\n  retrain_when_below: true\n", 1)
    (config.base_dir / "older.yaml").write_text(older)
    assert load_config(config.base_dir / "older.yaml").monitoring.on_decay == "retrain"


def test_a_shortfall_moves_the_champion_back_through_a_run_recorded_like_any_move(promoted):
    config, instance = promoted
    config = answering(config, "rollback")
    store, warehouse = model_store_of(config, literal=True), warehouse_of(config, literal=True)
    version = second_champion(config)
    before, cursor, _ = tick(config, instance)
    assert isinstance(before, dg.SkipReason) and before.skip_message == "realized performance holds"
    fell_short(warehouse, "2024-07-01")
    request, cursor, defs = tick(config, instance)
    assert isinstance(request, dg.RunRequest) and request.job_name == "roll_back_champion"
    why = ("realized precision@50_pct of the list of 2024-07-01 was 0.100, more than 0.1 below the "
           "0.900 recorded at promotion")
    assert request.run_config["ops"]["roll_back_champion"]["config"]["reason"] == why
    job = defs.resolve_job_def("roll_back_champion")
    result = job.execute_in_process(run_config=request.run_config, instance=instance,
                                    resources=build_resources(config), tags=request.tags)
    assert result.success
    assert str(store.alias("risk", "champion").version) == "1"
    last = warehouse.rows("SELECT * FROM production.promotions ORDER BY promoted_at")[-1]
    assert (last["kind"], last["from_version"], last["to_version"], last["reason"]) == (
        "rollback", version, "1", why)
    assert last["actor"] == f"automatic: dagster run {result.run_id}"
    assert (last["gate_passed"], last["forced"]) == (True, False)
    assert json.loads(last["evidence"])["gate"]  # the gate's verdicts on version 1
    again, _, _ = tick(config, instance, cursor)  # answered once
    assert isinstance(again, dg.SkipReason)
    # Nothing earlier passed the gate: the run fails saying so, and the champion stays.
    fell_short(warehouse, "2024-08-01")
    request, _, _ = tick(config, instance, cursor)
    failed = job.execute_in_process(run_config=request.run_config, instance=instance,
                                    resources=build_resources(config), raise_on_error=False)
    assert not failed.success
    message = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error.message
    assert "the champion was not moved back: no earlier champion of 'risk' can be moved back to" in message
    assert str(store.alias("risk", "champion").version) == "1"


def test_a_shortfall_retrains_only_a_split_newer_than_those_trained(promoted):
    config, instance = promoted
    warehouse = warehouse_of(config, literal=True)
    fell_short(warehouse, "2024-07-01")
    fixed, _, _ = tick(answering(config, "retrain"), instance)
    newest = make_splits(config.temporal)[-1].key
    assert isinstance(fixed, dg.SkipReason)
    assert (f"no split newer than {newest} to retrain on: the newest matured labels are already in it "
            "(training it again would give the same model); the config's splits end at "
            "temporal.label_end_time") in fixed.skip_message
    # Splits that follow the data: labels of a newer date have matured, so a newer split is trained.
    open_ended = type(config.temporal).model_validate({
        **config.temporal.model_dump(), "mode": "production", "feature_end_time": None,
        "label_end_time": None})
    grown = answering(config, "retrain").model_copy(update={"temporal": open_ended})
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO features.labels SELECT CAST('2024-07-01' AS DATE), entity_id, "
                             "still_unemployed FROM features.labels WHERE as_of_date = '2024-06-01'")
    result, _, _ = tick(grown, instance)
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests
    assert (request.job_name, request.partition_key) == ("train_models", "2024-07-01")
    assert result.dynamic_partitions_requests[0].partition_keys == ["2024-07-01"]


def test_decay_blocks_makes_a_shortfall_fail_the_monitoring_run(promoted):
    config, instance = promoted
    warehouse, day = warehouse_of(config, literal=True), dt.date(2024, 5, 1)  # its labels have matured
    assert run_range(config, instance, "score_cohorts", day, day).success
    with warehouse.engine.begin() as conn:  # a promise no list keeps
        conn.exec_driver_sql("UPDATE production.promotions SET value = 0.999")
    strict = answering(config, "alert", realized_margin=0.0)
    warned = run_range(strict, instance, "monitor_model", day, day)
    assert warned.success  # the check fails, red in the UI, and the run goes on
    assert [e.event_specific_data.passed for e in warned.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.event_specific_data.check_name == "realized_performance_holds"] == [False]
    blocking = answering(config, "alert", realized_margin=0.0, decay_blocks=True)
    blocked = run_range(blocking, instance, "monitor_model", day, day)
    assert not blocked.success
    message = next(e for e in blocked.all_events if e.is_step_failure).step_failure_data.error.message
    assert "blocking asset check failed" in message and "realized_performance_holds" in message
