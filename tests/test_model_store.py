"""The MLflow model store against a real local store (SQLite and a folder of artifacts)."""

import datetime as dt
import pickle
from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from prodline.stores.model_store import ModelStore as ModelStoreResource

X = np.array([[0, 1], [1, 0], [2, 1], [3, 0], [0, 0], [1, 1], [3, 1], [2, 0]], dtype=float)
Y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
MODEL = "prodline-test"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def store(folder):
    found = ModelStoreResource(tracking_uri=f"sqlite:///{folder}/mlflow.db",
                               artifact_location=str(folder / "artifacts"), experiment="t")
    found.prepare()
    return found


@pytest.fixture(scope="module")
def model():
    return LogisticRegression().fit(X, Y)


@pytest.fixture(scope="module")
def logged(store, model):
    return store.log_model(
        model, name="lr-2024-01-01",
        params={"C": 1.0, "features": ["a", "b"], "solver": "lbfgs", "long": "x" * 7000},
        metrics={"auc": 0.75, "precision_at_10": 0.5, "undefined": None},
        tags={"split": "2024-01-01", "model_group": "g1"},
        documents={"features.json": {"features": ["a", "b"], "as_of": dt.date(2024, 1, 1)}},
        images={"roc.png": PNG, "importances.svg": SVG})


def artifacts(store, run_id, path=None) -> list[str]:
    return sorted(f.path for f in store.client().list_artifacts(run_id, path))


def test_log_model_records_a_finished_run(store, logged):
    run = store.client().get_run(logged.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "lr-2024-01-01"
    assert run.info.experiment_id == store.experiment_id()
    assert store.client().get_experiment(store.experiment_id()).name == "t"
    assert logged.model_uri == f"runs:/{logged.run_id}/model"
    assert logged.url == f"http://127.0.0.1:5000/#/experiments/{store.experiment_id()}/runs/{logged.run_id}"
    params = run.data.params
    assert params["C"] == "1.0" and params["features"] == '["a", "b"]' and params["solver"] == "lbfgs"
    assert params["long"] == "x" * 6000  # MLflow keeps at most 6000 characters
    assert run.data.metrics == {"auc": 0.75, "precision_at_10": 0.5}  # a None metric is left out
    assert run.data.tags["split"] == "2024-01-01" and run.data.tags["model_group"] == "g1"


def test_artifacts_are_the_model_documents_and_plots(store, logged, folder):
    assert artifacts(store, logged.run_id) == ["features.json", "model", "plots"]
    assert artifacts(store, logged.run_id, "plots") == ["plots/importances.svg", "plots/roc.png"]
    model_files = artifacts(store, logged.run_id, "model")
    assert "model/MLmodel" in model_files and "model/requirements.txt" in model_files
    assert store.client().get_run(logged.run_id).info.artifact_uri.startswith(str(folder / "artifacts"))
    local = store.client().download_artifacts(logged.run_id, "plots/roc.png", str(folder))
    assert Path(local).read_bytes() == PNG
    requirements = store.client().download_artifacts(logged.run_id, "model/requirements.txt", str(folder))
    assert "scikit-learn" in Path(requirements).read_text()


def test_load_model_gives_the_same_predictions(store, logged, model):
    loaded = store.load_model(logged.run_id)
    assert type(loaded) is LogisticRegression
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_model_of_another_class_is_saved_with_its_own_trusted_types(store):
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, Y)
    run = store.log_model(tree, name="tree", params={}, metrics={}, tags={}, documents={}, images={})
    np.testing.assert_array_equal(store.load_model(run.run_id).predict_proba(X), tree.predict_proba(X))


def test_document_returns_the_json(store, logged):
    # dates are written as strings (json default=str)
    assert store.document(logged.run_id, "features.json") == {"features": ["a", "b"], "as_of": "2024-01-01"}


def test_a_run_that_fails_to_log_is_marked_failed(store, model):
    with pytest.raises(MlflowException) as e:
        store.log_model(model, name="broken", params={}, metrics={"precision@10": 0.5}, tags={},
                        documents={}, images={})
    assert "precision@10" in str(e.value)
    runs = store.client().search_runs([store.experiment_id()], "attributes.run_name = 'broken'")
    assert [r.info.status for r in runs] == ["FAILED"]


def test_register_makes_one_version_per_run(store, logged, model):
    first = store.register(MODEL, logged.run_id, {"split": "2024-01-01"})
    assert first == "1"
    assert store.register(MODEL, logged.run_id, {"split": "2024-01-01"}) == first  # a re-run reuses it
    version = store.version(MODEL, first)
    assert str(version.version) == first
    assert version.run_id == logged.run_id and version.tags == {"split": "2024-01-01"}
    assert version.source.endswith("/model")
    description = store.client().get_registered_model(MODEL).description
    assert "`champion` alias" in description
    other = store.log_model(model, name="lr-2", params={}, metrics={}, tags={}, documents={}, images={})
    assert store.register(MODEL, other.run_id, {}) == "2"
    assert store.register(MODEL, logged.run_id, {}) == "1"


def test_aliases(store, logged, model):
    version = store.register(MODEL, logged.run_id, {"split": "2024-01-01"})
    assert store.alias(MODEL, "champion-test") is None
    store.set_alias(MODEL, "champion-test", version)
    found = store.alias(MODEL, "champion-test")
    assert str(found.version) == version and found.run_id == logged.run_id  # MLflow's version is an int
    assert found.tags["split"] == "2024-01-01"
    other = store.log_model(model, name="lr-3", params={}, metrics={}, tags={}, documents={}, images={})
    newer = store.register(MODEL, other.run_id, {})
    store.set_alias(MODEL, "champion-test", newer)  # moving the alias
    assert store.alias(MODEL, "champion-test").run_id == other.run_id


def test_alias_of_a_missing_model_or_alias_is_none(store, logged):
    store.register(MODEL, logged.run_id, {})
    assert store.alias("no-such-model", "champion") is None
    assert store.alias(MODEL, "no-such-alias") is None


def test_log_results_adds_metrics(store, logged):
    store.log_results(logged.run_id, {"test_auc": 0.6, "test_precision": 1, "missing": None})
    metrics = store.client().get_run(logged.run_id).data.metrics
    assert metrics["test_auc"] == 0.6 and metrics["test_precision"] == 1.0
    assert metrics["auc"] == 0.75 and "missing" not in metrics


def test_settings_build_an_equal_store(store, logged):
    settings = store.settings()
    assert settings == {"tracking_uri": store.tracking_uri, "artifact_location": store.artifact_location,
                        "experiment": "t", "ui_url": "http://127.0.0.1:5000"}
    assert pickle.loads(pickle.dumps(settings)) == settings  # it crosses to another process
    again = ModelStoreResource(**settings)
    assert again.settings() == settings
    assert again == ModelStoreResource(**settings)
    assert again.experiment_id() == store.experiment_id()  # the same experiment, not a new one
    assert again.document(logged.run_id, "features.json")["features"] == ["a", "b"]
