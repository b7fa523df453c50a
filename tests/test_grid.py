"""The model grid: expansion, seeds, checks before training with key paths, strategies, baselines."""

import textwrap

import numpy as np
import pandas as pd
import pytest

from prodline.config import ConfigError, load_config
from prodline.config.grid import GridConfig
from prodline.pipeline.models.baselines import BestSingleFeature, RandomRanker
from prodline.pipeline.models.grid import combinations, expand, feature_sets, model_group_id

GROUPS = {"prefix:a": ["a_1", "a_2"], "prefix:b": ["b_1"], "prefix:c": ["c_1"]}


def test_combinations_multiply_out_in_order():
    assert combinations({"C": [0.1, 1.0], "penalty": "l2", "max_iter": [100, 200]}) == [
        {"C": 0.1, "penalty": "l2", "max_iter": 100}, {"C": 0.1, "penalty": "l2", "max_iter": 200},
        {"C": 1.0, "penalty": "l2", "max_iter": 100}, {"C": 1.0, "penalty": "l2", "max_iter": 200}]
    assert combinations({}) == [{}]


@pytest.mark.parametrize(("strategy", "sets"), [
    ("all", [("prefix:a", "prefix:b", "prefix:c")]),
    ("leave-one-in", [("prefix:a",), ("prefix:b",), ("prefix:c",)]),
    ("leave-one-out", [("prefix:b", "prefix:c"), ("prefix:a", "prefix:c"), ("prefix:a", "prefix:b")]),
    ("all-combinations", [("prefix:a",), ("prefix:b",), ("prefix:c",), ("prefix:a", "prefix:b"),
                          ("prefix:a", "prefix:c"), ("prefix:b", "prefix:c"),
                          ("prefix:a", "prefix:b", "prefix:c")])])
def test_feature_group_strategies(strategy, sets):
    assert feature_sets(GROUPS, [strategy]) == sets


def test_strategies_together_give_each_set_once():
    assert len(feature_sets(GROUPS, ["all", "leave-one-in", "all-combinations"])) == 7
    assert feature_sets({"only": ["x"]}, ["leave-one-out"]) == []


def test_expand_seeds_estimators_that_take_one_and_adds_baselines():
    grid = GridConfig.model_validate({
        "models": {"sklearn.linear_model.LogisticRegression": {"C": [0.1, 1.0]},
                   "sklearn.ensemble.RandomForestClassifier": {"n_estimators": 10, "random_state": 3},
                   "sklearn.naive_bayes.GaussianNB": None},
        "feature_group_strategies": ["all", "leave-one-in"], "seed": 7})
    specs = expand(grid.models, GROUPS, grid.feature_group_strategies, grid.seed)
    baselines = [s for s in specs if s.is_baseline]
    assert [s.class_path.rsplit(".", 1)[1] for s in baselines] == ["RandomRanker", "BestSingleFeature"]
    assert baselines[0].params == {"random_state": 7} and baselines[1].params == {}
    assert len(specs) == 2 + 4 * 4  # 4 models x (all + 3 groups alone)
    lr = [s for s in specs if s.class_path.endswith("LogisticRegression")]
    assert lr[0].params == {"C": 0.1, "random_state": 7} and lr[0].features == ("a_1", "a_2", "b_1", "c_1")
    forest = next(s for s in specs if s.class_path.endswith("RandomForestClassifier"))
    assert forest.params["random_state"] == 3  # given explicitly: kept
    assert next(s for s in specs if s.class_path.endswith("GaussianNB")).params == {}
    assert len({s.group_id for s in specs}) == len(specs)
    assert lr[0].build().get_params()["C"] == 0.1


def test_model_group_id_is_stable_and_ignores_feature_order():
    one = model_group_id("sklearn.tree.DecisionTreeClassifier", {"max_depth": 3}, ("x", "y"))
    assert one == model_group_id("sklearn.tree.DecisionTreeClassifier", {"max_depth": 3}, ("y", "x"))
    assert one != model_group_id("sklearn.tree.DecisionTreeClassifier", {"max_depth": 4}, ("x", "y"))


PROJECT = """
name: p
start_date: 2024-01-01
sources:
  events:
    primary_key: [event_id]
    date_column: seen_on
    columns: {event_id: integer, seen_on: date}
grid:
  seed: 1
  models:
"""


@pytest.mark.parametrize(("models", "problem"), [
    ("sklearn.linear_model.LogistcRegression: {C: [1]}",
     "grid.models.sklearn.linear_model.LogistcRegression (line 12): module 'sklearn.linear_model' has no "
     "'LogistcRegression'"),
    ("nosuchpackage.Model: {}", "grid.models.nosuchpackage.Model (line 12): cannot import 'nosuchpackage'"),
    ("sklearn.preprocessing.StandardScaler: {}",
     "StandardScaler is not a classifier with predict_proba: it cannot score a ranked list"),
    ("sklearn.linear_model.LogisticRegression: {Cc: [1.0]}",
     "grid.models.sklearn.linear_model.LogisticRegression.Cc (line 12): LogisticRegression has no parameter "
     "'Cc' (it takes C, class_weight,"),
    ("sklearn.linear_model.LogisticRegression: {C: [1.0, -2]}",
     "grid.models.sklearn.linear_model.LogisticRegression.C (line 12): The 'C' parameter of "
     "LogisticRegression must be a float in the range (0.0, inf]. Got -2 instead."),
    ("sklearn.ensemble.RandomForestClassifier: {max_depth: [3, deep]}",
     "The 'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf) or None. "
     "Got 'deep' instead.")])
def test_bad_grid_entries_are_refused_when_the_config_loads(tmp_path, models, problem):
    path = tmp_path / "prodline.yaml"
    path.write_text(PROJECT + textwrap.indent(models, "    ") + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_random_ranker_is_seeded():
    X = np.zeros((50, 2))
    one, two = (RandomRanker(random_state=seed).fit(X, np.zeros(50)) for seed in (1, 2))
    assert np.array_equal(one.predict_proba(X), one.predict_proba(X))
    assert not np.array_equal(one.predict_proba(X)[:, 1], two.predict_proba(X)[:, 1])


def test_best_single_feature_finds_the_feature_and_its_direction():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    X = pd.DataFrame({"noise": rng.random(400), "signal": -y + rng.normal(0, 0.3, 400), "flat": 1.0})
    model = BestSingleFeature().fit(X, y)
    assert (model.feature_name_, model.direction_) == ("signal", -1.0)
    scores = model.predict_proba(X)[:, 1]
    assert scores[y == 1].mean() > scores[y == 0].mean() + 0.3
    assert model.auc_ > 0.9


def test_a_grid_needs_splits_and_features(tmp_path):
    path = tmp_path / "prodline.yaml"
    path.write_text(PROJECT + "    sklearn.naive_bayes.GaussianNB:\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == ["grid (line 9): needs the temporal section (the splits to train on)",
                                     "grid (line 9): needs the features section (what the models learn from)"]
