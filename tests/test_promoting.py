"""Promotion and rollback (prodline.pipeline.champion.promoting and records) on a real local MLflow
registry and a DuckDB warehouse, with the gate's verdicts recorded by hand."""

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from conftest import write_config
from prodline.config import DEMO_CONFIG, load_config
from prodline.config.cutoffs import Threshold
from prodline.pipeline.champion.promoting import promote, recorded_verdicts
from prodline.pipeline.champion.records import (
    aliased,
    gate_results,
    history,
    model_name,
    promotions,
    record_gate,
    record_promotion,
)
from prodline.pipeline.champion.rolling_back import rollback
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.gate.judging import CHECKS, gate_checks
from prodline.pipeline.monitoring.realized_lists import judge_day
from prodline.pipeline.verdict import Verdict
from prodline.stores.model_store import ModelStore
from prodline.stores.warehouse import Warehouse

TEMPORAL = {"feature_start_time": "2024-01-01", "feature_end_time": "2024-08-01",
            "label_start_time": "2024-02-01", "label_end_time": "2024-08-01",
            "model_update_frequency": "1 month", "training_as_of_date_frequencies": "1 month",
            "max_training_histories": "1 year", "training_label_timespans": "2 months",
            "test_as_of_date_frequencies": "1 month", "test_durations": "0 days",
            "test_label_timespans": "2 months"}
GRID = {"seed": 5, "feature_group_strategies": ["all"],
        "models": {"sklearn.linear_model.LogisticRegression": {"C": [0.5]}}}
SELECTION = {"metric": "precision@", "parameter": "50_pct", "rule": "best_average_value"}
PROMOTION = {"model_name": "risk", "stability": {"top": "50_pct", "min_overlap": 0.5}}
NAME = "risk"
RUN = "dagster run r-1"  # who promotes: the champion asset's run


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    label = yaml.safe_load(DEMO_CONFIG.read_text())["label"]
    return load_config(write_config(
        tmp_path_factory.mktemp("config"), end_date="2024-12-31", label={**label, "timespan": "2 months"},
        temporal=TEMPORAL, grid=GRID, scoring={"top_n": [10], "percentiles": [10, 50]},
        selection=SELECTION, promotion=PROMOTION))


def empty_registry(cache, folder: Path) -> Path:
    """A new MLflow database file. Making its tables runs every MLflow migration (seconds), so a copy of
    one made before, kept in pytest's cache per MLflow version, is used when there is one."""
    import mlflow

    database = folder / "mlflow.db"
    if cache is None:  # pytest -p no:cacheprovider
        return database
    template = cache.mkdir(f"prodline-mlflow-{mlflow.__version__}") / "mlflow.db"
    if not template.exists():
        made = template.with_name(f"mlflow.{os.getpid()}.partial")
        made.unlink(missing_ok=True)
        client = ModelStore(tracking_uri=f"sqlite:///{made}").client()
        client.search_experiments()  # the tracking store makes every table, the registry's too
        client.search_registered_models()
        made.rename(template)
    shutil.copyfile(template, database)
    return database


@pytest.fixture(scope="module")
def registry(tmp_path_factory, request):
    """Two runs of a tiny model, registered as versions 1 and 2 of `risk`."""
    folder = tmp_path_factory.mktemp("mlflow")
    database = empty_registry(getattr(request.config, "cache", None), folder)
    store = ModelStore(tracking_uri=f"sqlite:///{database}", artifact_location=str(folder / "a"),
                       experiment="t")
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    runs = []
    for group in ("g-1", "g-2"):
        logged = store.log_model(LogisticRegression().fit(X, y), name=group, params={}, metrics={},
                                 tags={"model_group_id": group}, documents={}, images={})
        runs.append(logged.run_id)
    versions = [store.register(NAME, run, {"model_group_id": g, "split": "2024-06-01"})
                for run, g in zip(runs, ("g-1", "g-2"), strict=True)]
    assert versions == ["1", "2"]
    assert store.register(NAME, runs[0], {}) == "1"  # registered again: the same version
    return store, runs


@pytest.fixture
def store(registry):
    """The registry with neither alias set."""
    found, _ = registry
    for alias in ("challenger", "champion"):
        if found.alias(NAME, alias) is not None:
            found.client().delete_registered_model_alias(NAME, alias)
    return found


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb")


def verdicts(config, value=0.6, failing=(), warning=()) -> list[Verdict]:
    """One verdict per gate check, by its criterion's name; `failing` ones fail at ERROR."""
    found = []
    for check, blocking in gate_checks(config).items():
        name = CHECKS[check]
        severity = "ERROR" if blocking else "WARN"
        passed = name not in failing and name not in warning
        evidence = {"challenger": value, "as_of_date": dt.date(2024, 6, 1)} if name == "performance" else {}
        found.append(Verdict(name, passed, severity, f"{name} {'ok' if passed else 'failed'}", evidence))
    return found


def judged(config, warehouse, store, version: str, **kwargs) -> None:
    """`version` is the challenger, and the gate's verdicts on it are recorded."""
    store.set_alias(NAME, "challenger", version)
    run_id = store.version(NAME, version).run_id
    record_gate(warehouse, NAME, version, run_id, verdicts(config, **kwargs))


def test_the_config_names_the_model_and_its_checks(config):
    assert model_name(config) == NAME
    assert [CHECKS[c] for c in gate_checks(config)] == ["performance", "list_stability", "fairness", "sanity"]
    assert gate_checks(config)["top_list_is_stable"] is False  # stability warns by default


def test_no_challenger_is_refused(config, warehouse, store):
    with pytest.raises(StepRefused) as err:
        promote(config, warehouse, store, actor=RUN)
    assert "'risk' has no challenger yet" in str(err.value)


def test_aliased_refuses_saying_how_to_get_one(config, store):
    with pytest.raises(StepRefused) as err:
        aliased(config, store, "champion", "promote a challenger first")
    assert str(err.value) == "registered model 'risk' has no champion yet: promote a challenger first"
    store.set_alias(NAME, "champion", "2")
    assert str(aliased(config, store, "champion", "x").version) == "2"


def test_a_version_the_gate_has_not_judged_is_refused(config, warehouse, store):
    store.set_alias(NAME, "challenger", "1")
    with pytest.raises(StepRefused) as err:
        promote(config, warehouse, store, actor=RUN)
    assert "the promotion gate has not judged version 1 yet" in str(err.value)
    assert "run the challenger_model checks first" in str(err.value)
    # Verdicts on another version do not count for this one, nor do too few of them.
    record_gate(warehouse, NAME, "2", "r", verdicts(config))
    record_gate(warehouse, NAME, "1", "r", verdicts(config)[:2])
    with pytest.raises(StepRefused, match="has not judged version 1"):
        promote(config, warehouse, store, actor=RUN)
    assert store.alias(NAME, "champion") is None


def test_a_blocking_failure_is_refused_naming_the_failed_checks(config, warehouse, store):
    judged(config, warehouse, store, "1", failing=("performance", "sanity"), warning=("list_stability",))
    with pytest.raises(StepRefused) as err:
        promote(config, warehouse, store, actor=RUN)
    message = str(err.value)
    assert message == ("version 1 failed the promotion gate: "
                       "performance: performance failed; sanity: sanity failed")
    assert "list_stability" not in message  # a failed WARN blocks nothing
    assert store.alias(NAME, "champion") is None and promotions(warehouse, NAME) == []


def test_a_failed_warning_alone_does_not_block(config, warehouse, store):
    judged(config, warehouse, store, "1", warning=("list_stability",))
    assert promote(config, warehouse, store, actor=RUN)["changed"] is True


def test_a_passed_gate_promotes_and_records_it(config, warehouse, store, registry):
    _, runs = registry
    judged(config, warehouse, store, "1", value=0.6)
    assert promote(config, warehouse, store, actor=RUN) == {
        "model_name": NAME, "version": "1", "changed": True, "previous": None, "precision@50_pct": 0.6}
    assert str(store.alias(NAME, "champion").version) == "1"
    [row] = promotions(warehouse, NAME)
    assert (row["kind"], row["from_version"], row["to_version"]) == ("promotion", None, "1")
    assert (row["run_id"], row["model_group_id"]) == (runs[0], "g-1")
    assert row["metric"] == "precision@50_pct" and row["value"] == pytest.approx(0.6)
    # Who and why, and the gate's verdicts with their numbers, as they were when it moved.
    assert (row["actor"], row["reason"]) == (RUN, "passed the promotion gate")
    assert (row["gate_passed"], row["forced"]) == (True, False)
    gate = json.loads(row["evidence"])["gate"]
    assert {c: g["summary"] for c, g in gate.items()} == {
        "fairness": "fairness ok", "list_stability": "list_stability ok",
        "performance": "performance ok", "sanity": "sanity ok"}
    assert gate["performance"] == {"passed": True, "severity": "ERROR", "summary": "performance ok",
                                   "evidence": {"challenger": 0.6, "as_of_date": "2024-06-01"}}
    assert isinstance(row["promoted_at"], dt.datetime)

    judged(config, warehouse, store, "2", value=0.7)
    assert promote(config, warehouse, store, actor=RUN)["previous"] == "1"
    assert str(store.alias(NAME, "champion").version) == "2"
    second = promotions(warehouse, NAME)[-1]
    assert (second["from_version"], second["to_version"]) == ("1", "2")
    assert second["value"] == pytest.approx(0.7)
    assert second["model_group_id"] == "g-2"


def test_the_champion_as_challenger_changes_nothing(config, warehouse, store):
    judged(config, warehouse, store, "1")
    promote(config, warehouse, store, actor=RUN)
    assert promote(config, warehouse, store, actor=RUN) == {
        "model_name": NAME, "version": "1", "changed": False}
    assert len(promotions(warehouse, NAME)) == 1


def test_recorded_verdicts_read_back_with_evidence(config, warehouse, store):
    judged(config, warehouse, store, "1", warning=("list_stability",))
    found = {v.check: v for v in recorded_verdicts(warehouse, NAME, "1")}
    assert set(found) == {"performance", "list_stability", "fairness", "sanity"}
    assert found["performance"].evidence == {"challenger": 0.6, "as_of_date": "2024-06-01"}
    assert found["list_stability"] == Verdict("list_stability", False, "WARN", "list_stability failed", {})
    # Judged again: the earlier verdicts on the version are replaced, not added to.
    record_gate(warehouse, NAME, "1", "r", verdicts(config))
    assert len(gate_results(warehouse, NAME, "1")) == 4
    assert all(v.passed for v in recorded_verdicts(warehouse, NAME, "1"))
    assert recorded_verdicts(warehouse, NAME, "3") == []


def test_rollback_moves_back_and_records_who_why_and_the_gate(config, warehouse, store, registry):
    _, runs = registry
    judged(config, warehouse, store, "1", value=0.6)
    promote(config, warehouse, store, actor=RUN)
    judged(config, warehouse, store, "2", value=0.7)
    promote(config, warehouse, store, actor=RUN)
    assert rollback(config, warehouse, store, actor="alice", reason="complaints from the field") == {
        "model_name": NAME, "from_version": "2", "to_version": "1", "actor": "alice",
        "reason": "complaints from the field", "forced": False, "gate_passed": True}
    assert str(store.alias(NAME, "champion").version) == "1"
    last = promotions(warehouse, NAME)[-1]
    assert (last["kind"], last["from_version"], last["to_version"]) == ("rollback", "2", "1")
    assert (last["run_id"], last["model_group_id"], last["metric"]) == (runs[0], "g-1", "precision@50_pct")
    assert last["value"] == pytest.approx(0.6)  # the value recorded when version 1 was promoted
    assert (last["actor"], last["reason"], last["gate_passed"], last["forced"]) == (
        "alice", "complaints from the field", True, False)
    evidence = json.loads(last["evidence"])
    assert set(evidence) == {"gate"} and evidence["gate"]["performance"]["summary"] == "performance ok"
    # Every move, newest first, as /model and the model card show it.
    moves = [(h["kind"], h["from_version"], h["to_version"], h["actor"]) for h in history(warehouse, NAME)]
    assert moves == [
        ("rollback", "2", "1", "alice"), ("promotion", "1", "2", RUN), ("promotion", None, "1", RUN)]


def test_a_version_rolled_back_is_not_promoted_again(config, warehouse, store):
    judged(config, warehouse, store, "1")
    promote(config, warehouse, store, actor=RUN)
    judged(config, warehouse, store, "2")
    promote(config, warehouse, store, actor=RUN)
    assert rollback(config, warehouse, store, actor="alice", reason="  ")["reason"] is None  # none given
    assert promotions(warehouse, NAME)[-1]["reason"] is None
    assert str(store.alias(NAME, "challenger").version) == "2"
    with pytest.raises(StepRefused) as err:
        promote(config, warehouse, store, actor=RUN)
    assert f"version 2 was rolled back on {dt.datetime.now(dt.UTC):%Y-%m-%d}" in str(err.value)
    assert "prodline rollback --to 2" in str(err.value)
    assert str(store.alias(NAME, "champion").version) == "1"
    # Nor is it where a rollback goes by default; named, it may be.
    with pytest.raises(ValueError) as err:
        rollback(config, warehouse, store, actor="alice")
    assert str(err.value) == ("no earlier champion of 'risk' can be moved back to on its own (champion "
                              "before: 2; can be moved to: 2): name one with --to")
    # Named, it goes back: it was champion and passed the gate.
    assert rollback(config, warehouse, store, to_version="2", actor="alice")["to_version"] == "2"


def test_rollback_without_a_champion_is_refused(config, warehouse, store):
    with pytest.raises(ValueError) as err:
        rollback(config, warehouse, store, actor="alice")
    assert "'risk' has no champion to roll back" in str(err.value)


def test_rollback_to_an_unknown_version_is_refused(config, warehouse, store):
    store.set_alias(NAME, "champion", "1")
    with pytest.raises(ValueError) as err:
        rollback(config, warehouse, store, to_version="9", actor="alice")
    assert "'risk' has no version 9" in str(err.value)
    assert str(store.alias(NAME, "champion").version) == "1" and promotions(warehouse, NAME) == []


def test_rollback_of_a_first_champion_needs_a_version(config, warehouse, store):
    judged(config, warehouse, store, "1")
    promote(config, warehouse, store, actor=RUN)
    with pytest.raises(ValueError) as err:
        rollback(config, warehouse, store, actor="alice")
    assert "version 1 replaced no earlier champion: there is none to go back to" in str(err.value)
    with pytest.raises(ValueError, match="version 1 is already the champion"):
        rollback(config, warehouse, store, to_version="1", actor="alice")


def refused(config, warehouse, store, **given) -> str:
    """What a refused rollback says; the champion and the record stay as they were."""
    champion, moves = str(store.alias(NAME, "champion").version), len(promotions(warehouse, NAME))
    with pytest.raises(ValueError) as err:
        rollback(config, warehouse, store, **{"actor": "alice", **given})
    assert str(store.alias(NAME, "champion").version) == champion
    assert len(promotions(warehouse, NAME)) == moves
    return str(err.value)


def test_a_version_that_never_was_champion_is_refused_by_name(config, warehouse, store):
    judged(config, warehouse, store, "2")  # it passed the gate, but was never champion
    judged(config, warehouse, store, "1")
    promote(config, warehouse, store, actor=RUN)
    assert refused(config, warehouse, store, to_version="2") == (
        "version 2 was never champion, and a rollback moves only to a version that was champion and "
        "passed the promotion gate (champion before: none; can be moved to: none); "
        "`--force --reason WHY` overrides this")


def test_force_needs_a_version_and_a_reason(config, warehouse, store):
    judged(config, warehouse, store, "1")
    promote(config, warehouse, store, actor=RUN)
    for given in ({"to_version": "2"}, {"to_version": "2", "reason": " "}, {"reason": "why not"}):
        message = refused(config, warehouse, store, force=True, **given)
        assert "--force overrides the promotion gate: it needs --to" in message
        assert "and --reason (why the gate is overridden" in message


def test_a_forced_rollback_is_recorded_as_forced_and_a_failed_version_is_refused_after(
        config, warehouse, store):
    judged(config, warehouse, store, "1", value=0.6)
    promote(config, warehouse, store, actor=RUN)
    judged(config, warehouse, store, "2", value=0.5, failing=("performance",))
    moved = rollback(config, warehouse, store, to_version="2", actor="alice", force=True,
                     reason="version 1 reads a retired source")
    assert (moved["forced"], moved["gate_passed"]) == (True, False)
    assert str(store.alias(NAME, "champion").version) == "2"
    last = promotions(warehouse, NAME)[-1]
    assert (last["kind"], last["from_version"], last["to_version"]) == ("rollback", "1", "2")
    assert (last["actor"], last["reason"]) == ("alice", "version 1 reads a retired source")
    assert (last["forced"], last["gate_passed"]) == (True, False)
    evidence = json.loads(last["evidence"])
    assert evidence["gate_overridden"] == "version 1 reads a retired source"
    assert evidence["gate"]["performance"]["passed"] is False
    assert last["value"] == pytest.approx(0.5)  # never promoted: what the gate measured
    # Back to 1, the champion that passed (named: a rollback does not undo a rollback on its own);
    # then 2, champion once but failed the gate, is refused.
    assert rollback(config, warehouse, store, to_version="1", actor="alice")["to_version"] == "1"
    assert refused(config, warehouse, store, to_version="2") == (
        "version 2 failed the promotion gate (performance: performance failed), and a rollback moves "
        "only to a version that was champion and passed the promotion gate (champion before: 2; can be "
        "moved to: none); `--force --reason WHY` overrides this")


def test_a_move_without_who_or_why_is_not_recorded(warehouse):
    row = {"model_name": NAME, "kind": "rollback", "from_version": "2", "to_version": "1",
           "evidence": "{}", "actor": "alice", "reason": None, "gate_passed": True, "forced": False}
    with pytest.raises(ValueError) as err:
        record_promotion(warehouse, {**row, "actor": None, "forced": True, "gate_passed": None})
    assert str(err.value) == (
        "a move of the champion is recorded with who moved it, why and the gate's evidence; this one "
        "lacks: actor, gate_passed, reason (the gate was overridden)")
    assert promotions(warehouse, NAME) == []
    record_promotion(warehouse, row)
    assert len(promotions(warehouse, NAME)) == 1


def test_a_promotions_table_of_an_older_version_gains_the_audit_columns(config, warehouse, store):
    with warehouse.engine.begin() as conn:  # as prodline made it before moves were audited
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS production")
        conn.exec_driver_sql(
            "CREATE TABLE production.promotions (promoted_at TIMESTAMP, model_name VARCHAR, kind VARCHAR, "
            "from_version VARCHAR, to_version VARCHAR, run_id VARCHAR, model_group_id VARCHAR, "
            "metric VARCHAR, value DOUBLE, evidence VARCHAR)")
        conn.exec_driver_sql("INSERT INTO production.promotions VALUES ('2024-01-01', 'risk', 'promotion', "
                             "NULL, '1', 'r', 'g', 'm', 0.6, '{\"performance\": \"ok\"}')")
    assert history(warehouse, NAME)[0]["actor"] is None  # read as it is, before any new move
    judged(config, warehouse, store, "2")
    store.set_alias(NAME, "champion", "1")
    promote(config, warehouse, store, actor=RUN)
    assert [(h["kind"], h["actor"], h["reason"], h["forced"], h["gate_passed"])
            for h in history(warehouse, NAME)] == [
        ("promotion", RUN, "passed the promotion gate", False, True),
        ("promotion", None, None, None, None)]


@pytest.mark.parametrize("dialect", [
    "duckdb", "postgresql"])
def test_the_promoted_value_reads_back_as_recorded(config, store, tmp_path, request, dialect):
    url = f"duckdb:///{tmp_path}/w.duckdb" if dialect == "duckdb" else request.getfixturevalue("pg_url")
    warehouse = Warehouse(url=url)
    judged(config, warehouse, store, "1", value=0.6)
    promote(config, warehouse, store, actor=RUN)
    assert [p["value"] for p in promotions(warehouse, NAME)] == [0.6]


def test_a_fall_of_exactly_the_margin_below_the_stored_promise_is_no_failure(config, warehouse, store):
    judged(config, warehouse, store, "1", value=0.6)
    promote(config, warehouse, store, actor=RUN)
    promised = {p["to_version"]: p["value"] for p in promotions(warehouse, NAME)}  # as the asset reads it
    # Realized precision@50_pct of this list is 0.5: one hit in the top two labeled rows.
    rows = [{"score": s, "model_version": "1", "entity_id": i, "outcome": o}
            for i, (s, o) in enumerate([(0.9, 1), (0.8, 0), (0.7, 0), (0.6, 1)])]
    judged_day = judge_day(rows, dt.date(2024, 6, 1), [Threshold(50, "pct")], promised,
                           "precision@50_pct", 0.1)
    assert judged_day.figure["precision@50_pct"] == 0.5
    assert judged_day.failure is None
