"""Selection, the promotion gate, the champion, predictions and monitoring end to end through
Dagster, on a real MLflow registry and warehouse."""

import datetime as dt
import getpass
import json

import dagster as dg
import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import copy_promoted
from prodline.assets.keys import CHALLENGER, CHAMPION, COHORT, MONITORING, feature_key
from prodline.assets.versions import recorded_versions
from prodline.cli import app
from prodline.definitions import build_definitions
from prodline.pipeline.champion.promoting import promote
from prodline.pipeline.champion.records import record_promotion
from prodline.pipeline.champion.rolling_back import rollback
from prodline.pipeline.data_versions import partition_versions
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import build_resources, model_store_of, warehouse_of
from prodline.runs import run_range
from prodline.serving.app import create_app


@pytest.fixture
def promoted(promoted_project, tmp_path, monkeypatch):
    """A copy of the session's promoted project for each test (tests here move aliases, register
    versions, record promotions, score and monitor lists): (config, instance, the promote_model
    result, monkeypatch)."""
    with copy_promoted(promoted_project, tmp_path, monkeypatch) as (config, instance):
        yield config, instance, promoted_project[1], monkeypatch


def evaluations_of(result) -> dict[str, tuple[bool, str, dict]]:
    return {
        e.event_specific_data.check_name: (
            e.event_specific_data.passed,
            e.event_specific_data.description,
            e.event_specific_data.metadata,
        )
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }


def failure_of(result) -> str:
    """What a user reads of a failed step: its error's message."""
    event = next(e for e in result.all_events if e.is_step_failure)
    return event.step_failure_data.error.message


def judge(config, instance):
    """The gate's checks on the current challenger, without selecting again."""
    return dg.materialize(
        list(build_definitions(config).assets),
        instance=instance,
        resources=build_resources(config),
        raise_on_error=False,
        selection=dg.AssetSelection.checks_for_assets(CHALLENGER),
    )


def promote_alone(config, instance):
    """The champion asset alone, as someone would run it by hand."""
    job = build_definitions(config).get_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, asset_selection=[CHAMPION], raise_on_error=False)


def said(instance, result, step: str) -> list[str]:
    """What a step logged itself (not Dagster's own events)."""
    logs = instance.all_logs(result.run_id)
    return [e.user_message for e in logs if e.step_key == step and not e.dagster_event]


def printed(cli) -> str:
    """What a command printed, its lines as the terminal's width wrapped them joined again."""
    return " ".join(cli.output.split())


def test_the_first_challenger_beats_the_baselines_and_becomes_champion(promoted):
    config, _, result, _ = promoted
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    checks = evaluations_of(result)
    assert set(checks) == {
        "challenger_beats_champion",
        "top_list_is_stable",
        "recall_is_fair_across_groups",
        "challenger_is_plausible",
    }
    assert all(passed for passed, _, _ in checks.values()), checks
    assert "no champion yet" in checks["challenger_beats_champion"][1]
    evidence = checks["challenger_beats_champion"][2]["evidence"].value
    assert evidence["challenger"] > max(v for v in evidence["baselines"].values() if v is not None)
    store, warehouse = model_store_of(config, literal=True), warehouse_of(config, literal=True)
    challenger, champion = store.alias("risk", "challenger"), store.alias("risk", "champion")
    assert champion is not None and str(champion.version) == str(challenger.version) == "1"
    # The challenger is the chosen group's model of the newest split.
    newest = make_splits(config.temporal)[-1].key
    assert challenger.tags["split"] == newest
    row = warehouse.rows(
        "SELECT model_group_id, split FROM results.models WHERE model_id = :m", m=challenger.run_id
    )[0]
    assert row == {"model_group_id": challenger.tags["model_group_id"], "split": newest}
    [promotion] = warehouse.rows("SELECT * FROM production.promotions")
    assert promotion["kind"] == "promotion" and promotion["from_version"] is None
    assert promotion["to_version"] == "1" and promotion["value"] == pytest.approx(evidence["challenger"])
    assert promotion["actor"] == f"dagster run {result.run_id}"
    assert promotion["reason"] == "passed the promotion gate"
    assert (promotion["gate_passed"], promotion["forced"]) == (True, False)
    gate = warehouse.rows("SELECT check_name, passed FROM production.gate_results WHERE version = '1'")
    assert {g["check_name"] for g in gate} == {"performance", "list_stability", "fairness", "sanity"}


def test_the_gate_rescoring_matches_the_stored_evaluation(promoted):
    config, _, result, _ = promoted
    warehouse, store = warehouse_of(config, literal=True), model_store_of(config, literal=True)
    challenger = store.alias("risk", "challenger")
    stored = warehouse.rows(
        "SELECT value FROM results.evaluations WHERE model_id = :m AND metric = 'precision@' "
        "AND parameter = '50_pct'",
        m=challenger.run_id,
    )
    evidence = evaluations_of(result)["challenger_beats_champion"][2]["evidence"].value
    assert evidence["challenger"] == pytest.approx(stored[-1]["value"])


def test_a_worse_challenger_never_becomes_champion(promoted):
    config, instance, _, _ = promoted
    store, warehouse = model_store_of(config, literal=True), warehouse_of(config, literal=True)
    newest = make_splits(config.temporal)[-1].key
    [random] = warehouse.rows(
        "SELECT model_id FROM results.models WHERE split = :s AND class_path LIKE '%RandomRanker'", s=newest
    )
    worse = store.register("risk", random["model_id"], {"split": newest, "model_group_id": "random"})
    store.set_alias("risk", "challenger", worse)
    result = judge(config, instance)
    assert result.success  # a refusal is a decision, not a failure
    checks = evaluations_of(result)
    passed, summary, metadata = checks["challenger_beats_champion"]
    assert not passed and "falls short of champion" in summary
    assert metadata["evidence"].value["champion"] > metadata["evidence"].value["challenger"]
    assert (metadata["challenger_version"].text, metadata["champion_version"].text) == (worse, "1")
    assert not result.get_asset_materialization_events()  # the checks alone select nothing again
    # The champion asset, run by hand, refuses the version the gate failed: it materializes
    # nothing, fails nothing, and says why.
    alone = promote_alone(config, instance)
    assert alone.success and not alone.get_asset_materialization_events()
    assert said(instance, alone, "champion_model") == [
        f"not promoted: version {worse} failed the promotion gate: performance: {summary}. "
        "The champion stays version 1."]
    assert str(store.alias("risk", "champion").version) == "1"
    assert len(warehouse.rows("SELECT * FROM production.promotions")) == 1
    store.set_alias("risk", "challenger", "1")


def test_predictions_are_the_champions_ranked_list_and_idempotent(promoted):
    config, instance, _, _ = promoted
    day = dt.date(2024, 8, 1)
    first = run_range(config, instance, "score_cohorts", day, day)
    assert first.success, [e.message for e in first.all_events if e.is_failure]
    warehouse, store = warehouse_of(config, literal=True), model_store_of(config, literal=True)
    rows = warehouse.rows("SELECT * FROM production.predictions WHERE as_of_date = :d ORDER BY rank", d=day)
    cohort = warehouse.rows("SELECT entity_id FROM features.cohort WHERE as_of_date = :d", d=day)
    assert sorted(r["entity_id"] for r in rows) == sorted(c["entity_id"] for c in cohort)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    scores = np.array([r["score"] for r in rows])
    assert (np.diff(scores) <= 0).all() and rows[0]["percentile"] == 100.0
    assert {(r["model_name"], r["model_version"]) for r in rows} == {("risk", "1")}
    champion = store.alias("risk", "champion")
    assert {r["model_run_id"] for r in rows} == {champion.run_id}
    # Each row keeps the data versions of the cohort and features partitions it was scored on: those
    # the as-of assets recorded when they wrote them, and the warehouse's fingerprints now.
    read = {COHORT: config.tables.cohort, **{feature_key(f.prefix): config.tables.feature(f.prefix)
                                             for f in config.features}}
    key = day.isoformat()
    versions = {t: recorded_versions(instance, k, [key])[key] for k, t in read.items()}
    assert versions == {t: partition_versions(warehouse, t, [day])[day] for t in read.values()}
    assert {r["data_versions"] for r in rows} == {json.dumps(versions, sort_keys=True)}
    again = run_range(config, instance, "score_cohorts", day, day)
    assert again.success
    volatile = ("dagster_run_id", "predicted_at")
    rerun = warehouse.rows("SELECT * FROM production.predictions WHERE as_of_date = :d ORDER BY rank", d=day)
    assert [{k: v for k, v in r.items() if k not in volatile} for r in rerun] == [
        {k: v for k, v in r.items() if k not in volatile} for r in rows
    ]
    assert {r["dagster_run_id"] for r in rerun} == {again.run_id}
    drift = warehouse.rows("SELECT * FROM production.drift WHERE as_of_date = :d", d=day)
    assert {d["feature"] for d in drift} == set(store.document(champion.run_id, "features.json"))


def test_monitoring_realized_precision_matches_a_hand_count(promoted):
    config, instance, _, _ = promoted
    day = dt.date(2024, 6, 1)  # its two-month labels have matured by the end of the data
    assert run_range(config, instance, "score_cohorts", day, day).success
    result = run_range(config, instance, "monitor_model", day, day)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    warehouse = warehouse_of(config, literal=True)
    listed = warehouse.rows(
        "SELECT p.score, l.still_unemployed AS y FROM production.predictions AS p JOIN features.labels AS l "
        "ON l.entity_id = p.entity_id AND l.as_of_date = p.as_of_date WHERE p.as_of_date = :d AND "
        "l.still_unemployed IS NOT NULL",
        d=day,
    )
    scores, labels = np.array([r["score"] for r in listed]), np.array([r["y"] for r in listed], dtype=float)
    # By hand: every row above the 10th score counts; rows tied with it share the places left.
    cutoff = np.sort(scores)[::-1][9]
    above, tied = scores > cutoff, scores == cutoff
    by_hand = (labels[above].sum() + (10 - above.sum()) * labels[tied].mean()) / 10
    figures = {
        (m["metric"], m["parameter"]): m
        for m in warehouse.rows("SELECT * FROM production.monitoring WHERE as_of_date = :d", d=day)
    }
    assert figures[("precision@", "10_abs")]["value"] == pytest.approx(by_hand)
    watched = figures[("precision@", "50_pct")]
    assert watched["promised"] is not None and watched["labeled_rows"] == len(listed)
    checks = evaluations_of(result)
    expected = watched["value"] >= watched["promised"] - 0.1
    assert checks["realized_performance_holds"][0] is expected
    # The drift check reads what predictions recorded for the date.
    worst = warehouse.scalar("SELECT max(psi) FROM production.drift WHERE as_of_date = :d", d=day)
    assert checks["features_were_stable"][0] is (worst < 0.25)


def test_monitoring_waits_for_labels(promoted):
    config, instance, _, _ = promoted
    day = dt.date(2024, 8, 1)  # labels run to 2024-10-01, after the data ends
    assert run_range(config, instance, "score_cohorts", day, day).success
    result = run_range(config, instance, "monitor_model", day, day)
    assert not result.success
    assert "the labels of 2024-08-01 have not matured yet" in failure_of(result)


def test_rollback_returns_to_the_previous_champion_and_is_recorded(promoted):
    config, _, _, _ = promoted
    store, warehouse = model_store_of(config, literal=True), warehouse_of(config, literal=True)
    with pytest.raises(ValueError, match="version 1 replaced no earlier champion"):
        rollback(config, warehouse, store, actor="alice")
    newest = make_splits(config.temporal)[-1].key
    other = warehouse.rows(
        "SELECT model_id FROM results.models WHERE split = :s AND NOT baseline AND model_id <> :c LIMIT 1",
        s=newest,
        c=store.alias("risk", "champion").run_id,
    )[0]
    version = store.register("risk", other["model_id"], {"split": newest, "model_group_id": "x"})
    store.set_alias("risk", "champion", version)  # as if a promotion had happened
    record_promotion(
        warehouse,
        {
            "model_name": "risk",
            "kind": "promotion",
            "from_version": "1",
            "to_version": version,
            "run_id": other["model_id"],
            "model_group_id": "x",
            "metric": "precision@50_pct",
            "value": 0.5,
            "evidence": json.dumps({}),
            "actor": "dagster run r",
            "reason": "passed the promotion gate",
            "gate_passed": True,
            "forced": False,
        },
    )
    moved = rollback(config, warehouse, store, actor="alice", reason="a bad week")
    assert (moved["from_version"], moved["to_version"], moved["gate_passed"]) == (version, "1", True)
    assert str(store.alias("risk", "champion").version) == "1"
    last = warehouse.rows("SELECT * FROM production.promotions ORDER BY promoted_at")[-1]
    assert (last["kind"], last["from_version"], last["to_version"]) == ("rollback", version, "1")
    # A version rolled back is not promoted again on its own, even with a gate it once passed.
    store.set_alias("risk", "challenger", version)
    with pytest.raises(StepRefused, match=f"version {version} was rolled back on .*prodline rollback --to"):
        promote(config, warehouse, store, actor="dagster run r")
    store.set_alias("risk", "challenger", "1")
    # The command says why it cannot go further back, or to a version the gate never judged.
    path = str(config.base_dir / "prodline.yaml")
    cli = CliRunner().invoke(app, ["rollback", "--config", path])
    assert cli.exit_code == 1 and printed(cli) == (
        f"no earlier champion of 'risk' can be moved back to on its own (champion before: {version}; "
        "can be moved to: none): name one with --to")
    cli = CliRunner().invoke(app, ["rollback", "--to", "99", "--config", path])
    assert cli.exit_code == 1 and "'risk' has no version 99" in cli.output
    cli = CliRunner().invoke(app, ["rollback", "--to", version, "--config", path])
    assert cli.exit_code == 1, cli.output
    assert f"the promotion gate never judged version {version}" in printed(cli)
    cli = CliRunner().invoke(app, ["rollback", "--to", version, "--force", "--config", path])
    assert cli.exit_code == 1 and "--force overrides the promotion gate: it needs --to" in cli.output
    moves = len(warehouse.rows("SELECT * FROM production.promotions"))
    # Forced, with a reason: recorded as forced, by the OS user unless --by names someone.
    cli = CliRunner().invoke(app, ["rollback", "--to", version, "--force", "--reason", "hotfix in it",
                                   "--config", path])
    assert cli.exit_code == 0, cli.output
    assert printed(cli) == (
        f"risk: champion rolled back from version 1 to version {version} by {getpass.getuser()} (forced "
        "past the promotion gate because: hotfix in it); recorded in production.promotions")
    cli = CliRunner().invoke(app, ["rollback", "--to", "1", "--by", "ops on call", "--config", path])
    assert cli.exit_code == 0, cli.output
    assert "to version 1 by ops on call (an earlier champion that passed the promotion gate)" in printed(cli)
    rows = warehouse.rows("SELECT * FROM production.promotions ORDER BY promoted_at")
    assert len(rows) == moves + 2
    assert [(r["actor"], r["reason"], r["forced"], r["gate_passed"]) for r in rows[-2:]] == [
        (getpass.getuser(), "hotfix in it", True, False), ("ops on call", None, False, True)]
    # /model and the model card show the history, newest first.
    token = {config.serving.token_env: "t" * 32}
    served = create_app(config, environ=token, store=store, warehouse=warehouse)
    with TestClient(served, headers={"Authorization": f"Bearer {'t' * 32}"}) as api:
        shown = api.get("/model").json()["history"]
        card = api.get("/model-card").text
    assert [(h["kind"], h["from_version"], h["to_version"], h["actor"], h["forced"]) for h in shown] == [
        ("rollback", version, "1", "ops on call", False),
        ("rollback", "1", version, getpass.getuser(), True),
        ("rollback", version, "1", "alice", False),
        ("promotion", "1", version, "dagster run r", False),
        ("promotion", None, "1", rows[0]["actor"], False)]
    assert shown[1]["reason"] == "hotfix in it" and shown[1]["at"] == rows[-2]["promoted_at"].isoformat(
        timespec="seconds")
    assert "<td>hotfix in it</td>" in card and "<td>ops on call</td>" in card and "overridden" in card
    assert card.index("ops on call") < card.index("hotfix in it") < card.index(rows[0]["actor"])


def test_a_list_is_monitored_when_its_labels_arrive(promoted):
    config, instance, _, _ = promoted
    defs, day = build_definitions(config), dt.date(2024, 5, 1)  # its labels have matured
    selection = dg.AssetSelection.assets(MONITORING)
    # The automation sensor's first tick only takes note (Dagster does not request on a first look).
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    assert not first.get_requested_partitions(MONITORING)
    assert run_range(config, instance, "score_cohorts", day, day).success  # a list for a labeled date
    later = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                              cursor=first.cursor)
    assert later.get_requested_partitions(MONITORING) == {day.isoformat()}
