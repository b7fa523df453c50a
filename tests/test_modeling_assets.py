"""Matrices, the grid and evaluations end to end through Dagster, with a real MLflow store."""

import json
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from conftest import GRID, MODELING_LAST, TEMPORAL, build, make_project
from prodline.assets.keys import EVALUATIONS, MATRICES, MODELS
from prodline.cli import app  # noqa: F401  (the CLI module must import with a grid configured)
from prodline.home import home_of
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import model_store_of, warehouse_of
from prodline.runs import run_range


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One project trained once for the module: building it takes most of a minute."""
    with pytest.MonkeyPatch.context() as monkeypatch, dg.instance_for_test() as instance:
        config = make_project(tmp_path_factory.mktemp("modeling"), monkeypatch, temporal=TEMPORAL, grid=GRID,
                              scoring={"top_n": [10], "percentiles": [10, 50]}, last=MODELING_LAST)
        build(config, instance, last=MODELING_LAST)
        keys = [s.key for s in make_splits(config.temporal)]
        began = time.perf_counter()
        result = run_range(config, instance, "train_models", keys[0], keys[-1])
        print(f"train_models over {len(keys)} splits: {time.perf_counter() - began:.1f} s")
        yield config, instance, keys, result


def test_grid_trains_evaluates_and_tracks_every_model(trained):
    config, _, keys, result = trained
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert keys == ["2024-04-01", "2024-05-01", "2024-06-01"]
    warehouse, store = warehouse_of(config, literal=True), model_store_of(config, literal=True)
    models = warehouse.rows("SELECT * FROM results.models ORDER BY split, trained_at")
    per_split = 2 + 3 * (1 + 3)  # 2 baselines + 3 models x (all + leave-one-out of 3 groups)
    assert len(models) == per_split * len(keys)
    assert {m["split"] for m in models} == set(keys)
    # A model group is the same method, parameters and features on every split.
    groups = {}
    for m in models:
        groups.setdefault(m["model_group_id"], set()).add(m["split"])
    assert len(groups) == per_split and all(s == set(keys) for s in groups.values())
    run = store.client().get_run(models[-1]["model_id"])
    assert run.data.params["split"] == models[-1]["split"] and "train_matrix" in run.data.params
    assert run.data.tags["model_group_id"] == models[-1]["model_group_id"]
    # The grid's user_metadata kept with every model, its group's arguments, Triage's uniform importances.
    assert run.data.tags["user_metadata.team"] == run.data.params["user_metadata.team"] == "tests"
    assert json.loads(run.data.params["feature_groups"])[0].startswith("prefix: ")
    folder = store.client().download_artifacts(run.info.run_id, "")
    group = json.loads((Path(folder) / "model_group.json").read_text())
    assert group["model_config"]["label_name"] == config.label.name and group["class_path"]
    uniform = json.loads((Path(folder) / "individual_importances.json").read_text())
    assert (uniform["method"], uniform["n_ranks"]) == ("uniform", 3) and len(uniform["features"]) <= 3
    assert any(k.startswith("precision_10_pct") for k in run.data.metrics)
    artifacts = {a.path for a in store.client().list_artifacts(run.info.run_id)}
    assert {"model", "features.json", "plots"} <= artifacts
    # Logged by the low-priority logging process: its pictures, and the scores the evaluations read.
    for m in models:
        plots = {a.path for a in store.client().list_artifacts(m["model_id"], "plots")}
        leans = not m["class_path"].endswith(("HistGradientBoostingClassifier", "RandomRanker"))
        pictures = {"precision_recall.svg"} | ({"feature_importances.svg"} if leans else set())
        assert plots == {f"plots/{name}" for name in pictures}
        assert (home_of(config).root / "predictions" / f"{m['model_id']}.parquet").exists()
    evaluations = warehouse.rows("SELECT * FROM results.evaluations")
    metrics = {(e["metric"], e["parameter"]) for e in evaluations}
    assert metrics == {("precision@", "10_abs"), ("recall@", "10_abs"), ("precision@", "10_pct"),
                       ("recall@", "10_pct"), ("precision@", "50_pct"), ("recall@", "50_pct"),
                       ("roc_auc", ""), ("average precision score", "")}
    assert len(evaluations) == len(models) * len(metrics)
    # Triage's worst order puts unlabeled rows first in a tie, so only a metric that grows with the
    # positives taken (recall) has its mean between worst and best whatever the labels.
    assert all(e["worst_value"] <= e["value"] + 1e-12 <= e["best_value"] + 2e-12 for e in evaluations
               if e["value"] is not None and e["metric"] != "precision@")
    materialized = {e.asset_key for e in result.get_asset_materialization_events()
                    for e in [e.event_specific_data.materialization]}
    assert {MATRICES, MODELS, EVALUATIONS} <= materialized


def test_rerunning_a_split_replaces_its_rows_and_reuses_its_matrices(trained):
    config, instance, keys, _ = trained
    warehouse = warehouse_of(config, literal=True)
    before = warehouse.scalar("SELECT count(*) FROM results.evaluations")
    again = run_range(config, instance, "train_models", keys[1], keys[1])
    assert again.success
    assert warehouse.scalar("SELECT count(*) FROM results.evaluations") == before
    [event] = [e for e in again.get_asset_materialization_events()
               if e.event_specific_data.materialization.asset_key == MATRICES]
    assert event.event_specific_data.materialization.metadata["reused"].value == 2


def test_matrices_refuse_splits_whose_inputs_are_missing(tmp_path, monkeypatch):
    config = make_project(tmp_path, monkeypatch, temporal=TEMPORAL, grid=GRID, last=MODELING_LAST)
    with dg.instance_for_test() as instance:
        result = run_range(config, instance, "train_models", "2024-04-01", "2024-04-01", [MATRICES])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert message.splitlines()[:4] == [
        "dagster._core.definitions.events.Failure: matrices: 1 of 1 partition(s) read days that are "
        "not loaded or failed a blocking check:",
        "2024-04-01: cohort: 2 as-of date(s) not built: 2024-02-01, 2024-04-01",
        "2024-04-01: labels: 2 as-of date(s) not built: 2024-02-01, 2024-04-01",
        "2024-04-01: features_reg: 2 as-of date(s) not built: 2024-02-01, 2024-04-01"]
    assert "Nothing was written" in message


def test_evaluations_from_stored_scores_equal_those_of_the_models_loaded_back(trained):
    config, instance, keys, _ = trained
    warehouse = warehouse_of(config, literal=True)
    query = "SELECT model_id, matrix, metric, parameter, value FROM results.evaluations ORDER BY 1, 2, 3, 4"
    before = warehouse.rows(query)
    shutil.rmtree(home_of(config).root / "predictions")  # evaluations must load every model from MLflow
    assert run_range(config, instance, "train_models", keys[0], keys[-1], [EVALUATIONS]).success
    after = warehouse.rows(query)
    assert [r["model_id"] for r in after] == [r["model_id"] for r in before]
    assert [r["value"] is None for r in after] == [r["value"] is None for r in before]
    assert [r["value"] for r in after if r["value"] is not None] == pytest.approx(
        [r["value"] for r in before if r["value"] is not None])


def test_production_splits_appear_as_their_labels_mature(tmp_path, monkeypatch):
    from prodline.definitions import build_definitions

    open_ended = {k: v for k, v in TEMPORAL.items() if not k.endswith("end_time")}
    config = make_project(tmp_path, monkeypatch, temporal={**open_ended, "mode": "production"}, grid=GRID,
                          last=MODELING_LAST)
    with dg.instance_for_test() as instance:
        definition = build_definitions(config).resolve_sensor_def("new_splits")

        def sensor():
            return definition(dg.build_sensor_context(instance=instance), warehouse=warehouse_of(config))

        assert isinstance(sensor(), dg.SkipReason)  # no labels yet: no split
        build(config, instance, last=MODELING_LAST)
        result = sensor()
        [added] = result.dynamic_partitions_requests
        assert added.partition_keys == ["2024-04-01", "2024-05-01", "2024-06-01"]
        assert [r.partition_key for r in result.run_requests] == added.partition_keys
        instance.add_dynamic_partitions("splits", added.partition_keys)
        assert run_range(config, instance, "train_models", "2024-06-01", "2024-06-01").success
        warehouse = warehouse_of(config, literal=True)
        assert warehouse.scalar("SELECT count(DISTINCT split) FROM results.models") == 1
        again = sensor()
        assert isinstance(again, dg.SkipReason) and "3 known" in again.skip_message
