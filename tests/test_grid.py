"""The model grid: expansion, seeds, checks before training with key paths, strategies, baselines."""

import textwrap

import numpy as np
import pandas as pd
import pytest

from prodline.config import ConfigError, load_config
from prodline.config.grid import GridConfig
from prodline.pipeline.matrices.feature_groups import FeatureGroup, feature_groups, feature_mixes
from prodline.pipeline.models.baselines import BestSingleFeature, RandomRanker
from prodline.pipeline.models.grid import combinations, expand, load_class
from prodline.pipeline.models.grouping import group_arguments, group_id
from prodline.pipeline.models.scaled_logistic import ScaledLogisticRegression

TABLES = {"a_aggregation_imputed": ["a_1", "a_2"], "b_aggregation_imputed": ["b_1"],
          "c_aggregation_imputed": ["c_1"]}
GROUPS = feature_groups({"prefix": ["a", "b", "c"]}, TABLES)


def test_combinations_multiply_out_in_order():
    assert combinations({"C": [0.1, 1.0], "penalty": "l2", "max_iter": [100, 200]}) == [
        {"C": 0.1, "penalty": "l2", "max_iter": 100}, {"C": 0.1, "penalty": "l2", "max_iter": 200},
        {"C": 1.0, "penalty": "l2", "max_iter": 100}, {"C": 1.0, "penalty": "l2", "max_iter": 200}]
    assert combinations({}) == [{}]


@pytest.mark.parametrize(("strategy", "sets"), [
    ("all", [("prefix: a", "prefix: b", "prefix: c")]),
    ("leave-one-in", [("prefix: a",), ("prefix: b",), ("prefix: c",)]),
    ("leave-one-out", [("prefix: b", "prefix: c"), ("prefix: a", "prefix: c"), ("prefix: a", "prefix: b")]),
    ("all-combinations", [("prefix: a",), ("prefix: b",), ("prefix: c",), ("prefix: a", "prefix: b"),
                          ("prefix: a", "prefix: c"), ("prefix: b", "prefix: c"),
                          ("prefix: a", "prefix: b", "prefix: c")])])
def test_feature_group_strategies(strategy, sets):
    assert [m.names for m in feature_mixes(GROUPS, [strategy])] == sets


def test_strategies_together_give_each_set_once_and_none_empty():
    assert len(feature_mixes(GROUPS, ["all", "leave-one-in", "all-combinations"])) == 7
    assert feature_mixes(GROUPS[:1], ["leave-one-out"]) == []


def test_groups_sharing_a_table_are_united():
    """Triage's dict.update would keep only the 3y columns of the table in the merged set."""
    columns = ["t_entity_id_1y_x_sum", "t_entity_id_3y_x_sum", "t_entity_id_3y_x_max"]
    table = {"t_aggregation_imputed": columns}
    groups = feature_groups({"interval": ["1y", "3y"]}, table)
    assert feature_mixes(groups, ["all"]) == [FeatureGroup(
        ("interval: 1y", "interval: 3y"), (("t_aggregation_imputed", tuple(columns)),))]
    metric = feature_groups({"metric": ["sum"], "all": [True]}, table)
    assert [g.names for g in metric] == [("all: True",), ("metric: sum",)]  # keys sorted, as Triage
    with pytest.raises(ValueError, match="finds no feature"):
        feature_groups({"prefix": ["zzz"]}, table)


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


def test_a_value_listed_twice_is_one_model():
    grid = GridConfig.model_validate({"models": {"sklearn.tree.DecisionTreeClassifier":
                                                 {"max_depth": [3, 3]}}})
    assert len(expand(grid.models, GROUPS, ["all"], 0)) == 2 + 1


def test_model_group_keys_that_merge_models_of_one_split_are_refused():
    models = {"sklearn.tree.DecisionTreeClassifier": {"max_depth": [3, 4]}}
    with pytest.raises(ValueError, match=r"\['label_name', 'feature_groups'\] put 4 models of one split"):
        expand(models, GROUPS, ["all"], 0, ("label_name", "feature_groups"), {"label_name": "l"})
    keys = ("class_path", "parameters", "feature_groups")
    assert len(expand(models, GROUPS, ["all", "leave-one-in"], 0, keys, {})) == 2 + 2 * 4


def test_model_group_id_is_stable_and_ignores_feature_order():
    meta = {"feature_names": ["x", "y"], "label_timespan": "1y", "label_name": "l",
            "as_of_date_frequency": "1m", "max_training_history": "2y", "state": "active",
            "cohort_name": None, "feature_groups": ["all: True"],
            "team": "east"}
    tree = "sklearn.tree.DecisionTreeClassifier"
    one = group_id(group_arguments([], tree, {"max_depth": 3}, meta))
    assert one == group_id(group_arguments([], tree, {"max_depth": 3}, {**meta, "feature_names": ["y", "x"]}))
    assert one != group_id(group_arguments([], tree, {"max_depth": 4}, meta))
    assert one != group_id(group_arguments([], tree, {"max_depth": 3}, {**meta, "label_timespan": "6m"}))
    assert one == group_id(group_arguments([], tree, {"max_depth": 3}, {**meta, "team": "west"}))
    # Only what the keys name: here the user's `team`, so the class and parameters no longer count.
    by_team = group_arguments(["team"], tree, {"max_depth": 3}, meta)
    assert by_team == {"class_path": "", "parameters": {}, "feature_names": [],
                       "model_config": {"team": "east"}}


def test_a_preset_is_merged_as_triage_merges_it():
    grid = GridConfig.model_validate({"model_grid_preset": "small", "models": {
        "sklearn.tree.DecisionTreeClassifier": {"max_depth": [3], "splitter": ["random"]}}})
    tree = grid.models["sklearn.tree.DecisionTreeClassifier"]
    assert tree["max_depth"] == [None, 1, 2, 3, 5, 10, 50, 100]  # None sorts as 0
    assert tree["splitter"] == ["random"] and tree["criterion"] == ["entropy", "gini"]
    slr = "triage.component.catwalk.estimators.classifiers.ScaledLogisticRegression"
    assert grid.models[slr]["penalty"] == ["l1", "l2"]
    assert load_class(slr) is ScaledLogisticRegression
    assert GridConfig.model_validate({"model_grid_preset": "quickstart"}).models == {
        slr: {"C": [1], "solver": ["saga"], "penalty": ["l1"]},
        "sklearn.tree.DecisionTreeClassifier": {"criterion": ["gini"], "max_depth": [1],
                                                "min_samples_split": [25], "min_samples_leaf": [0.025]},
        "sklearn.dummy.DummyClassifier": {"strategy": ["prior"]}}


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


@pytest.mark.parametrize(("section", "problem"), [
    ("model_grid_preset: huge", "grid.model_grid_preset (line 11): unknown preset 'huge': Triage's are "
                                "quickstart, small, medium, large, texas, whatever"),
    ("model_grid_preset: quickstart\n  models: {sklearn.tree.DecisionTreeClassifier: {max_depth: [deep]}}",
     "grid.models (line 12): sklearn.tree.DecisionTreeClassifier: max_depth: the values"),
    ("models: {}", "grid.models (line 11): give at least one model, or a model_grid_preset"),
    ("model_grid_preset: quickstart\n  model_group_keys: [label_name, team]\n  user_metadata: {tea: 1}",
     "grid.model_group_keys.1 (line 12): unknown key 'team': Triage's are tea, feature_start_time,"),
    ("model_grid_preset: quickstart\n  feature_group_definition: {prefix: reg}",
     "grid.feature_group_definition.prefix (line 12): give a list of values (Triage iterates over it), "
     "not 'reg'"),
    ("model_grid_preset: quickstart\n  feature_group_definition: {prefix: [reg, regs]}",
     "grid.feature_group_definition.prefix (line 12): prefixes 'reg' and 'regs' overlap"),
    ("model_grid_preset: quickstart\n  feature_group_definition: {table: [x]}",
     "grid.feature_group_definition.table (line 12): Input should be 'tables', 'prefix'"),
    ("model_grid_preset: quickstart\n  individual_importance: {methods: [uniform, shap]}",
     "grid.individual_importance.methods (line 12): 'shap': Triage 6.0.0 computes only uniform "
     "individual importances"),
    ("models: {triage.component.catwalk.baselines.rankers.LinearRanker: {}}",
     "'triage.component.catwalk.baselines.rankers.LinearRanker' is not one of Triage's classes that prodline "
     "reimplements"),
    ("models: {triage.component.catwalk.baselines.rankers.PercentileRankOneFeature: {descend: [true]}}",
     "PercentileRankOneFeature needs the parameter(s) feature"),
    ("models: {triage.component.catwalk.baselines.thresholders.SimpleThresholder: {rules: [['x >> 1']]}}",
     "Operator '>>' extracted from rule is not a supported operator"),
])
def test_triage_keys_the_grid_cannot_honour_are_refused(tmp_path, section, problem):
    path = tmp_path / "prodline.yaml"
    path.write_text(PROJECT.removesuffix("  models:\n") + "  " + section + "\n")
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


TRIAGE = "triage.component.catwalk"


@pytest.mark.parametrize(("path", "params"), [
    (f"{TRIAGE}.baselines.rankers.PercentileRankOneFeature", {"feature": "b_1"}),
    (f"{TRIAGE}.baselines.rankers.BaselineRankMultiFeature",
     {"rules": [{"feature": "c_1", "low_value_high_score": True},
                {"feature": "a_2", "low_value_high_score": False}]}),
    (f"{TRIAGE}.baselines.thresholders.SimpleThresholder",
     {"rules": ["a_1 > 0", {"feature_name": "b_1", "operator": "<=", "threshold": 0.5}],
      "logical_operator": "and"}),
    (f"{TRIAGE}.estimators.classifiers.ScaledLogisticRegression", {"C": 0.5, "penalty": "l1"})])
def test_triage_s_classes_train_score_and_store_like_any_model(path, params):
    """Fitted from the matrix's arrays (by name where they read features by name), scored, and
    stored with skops, as the models asset and the model store do."""
    import skops.io

    from prodline.pipeline.models.grid import ModelSpec
    from prodline.pipeline.models.training import fit, scores

    rng = np.random.default_rng(0)
    features = ["a_1", "a_2", "b_1", "c_1"]
    X, y = rng.random((60, 4)), rng.integers(0, 2, 60).astype(float)
    spec = ModelSpec(path, params, ("all: True",), tuple(features))
    fitted = fit(spec, X, y, features)
    predicted = scores(fitted, X, features)
    assert predicted.shape == (60,) and np.isfinite(predicted).all()
    data = skops.io.dumps(fitted.model)
    loaded = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    assert np.array_equal(scores(type(fitted)(spec, loaded, 0.0, 60), X, features), predicted)
