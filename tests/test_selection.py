"""Model selection in the manner of Triage's Audition: each rule, the filter and regrets, by hand."""

import datetime as dt
import math
import re

import pandas as pd
import pytest

from prodline.pipeline.selection.rules import (
    DEFAULT_PARAMS,
    RULES,
    TWO_METRICS,
    aggregate,
    best_average_value,
    best_avg_recency_weight,
    best_avg_var_penalized,
    best_current_value,
    distance_from_best,
    filter_groups,
    pick,
    recency_weights,
    regrets,
    rule_problems,
    rule_regrets,
    select,
    tied,
)

# Three splits ten days apart, so recency weights fall on t/tmax = 0, 1/2, 1.
SPLITS = [dt.date(2021, 1, 1), dt.date(2021, 1, 11), dt.date(2021, 1, 21)]


def history(values: dict[str, list[float]], splits=SPLITS) -> pd.DataFrame:
    """One row per (group, split); a None value leaves the row out, a NaN keeps it undefined."""
    rows = [
        (group, split, f"{group}-{i + 1}", value)
        for group, series in values.items()
        for i, (split, value) in enumerate(zip(splits, series, strict=False))
        if value is not None
    ]
    return pd.DataFrame(rows, columns=["model_group_id", "split_time", "model_id", "value"])


# Each rule picks a different group (greater is better; best per split .90, .78, .90):
#   A  .30 .30 .90  best at the newest split (.90)
#   B  .90 .72 .50  best mean: 2.12/3 = .7067 (E .6933, F .6467, D .6133, A = C = .50)
#   C  .50 .50 .50  steadiest: std 0
#   D  .86 .78 .20  within .05 of the best at 2 of 3 splits (s1 .04, s2 0); A, B, F once each
#   E  .70 .70 .68  std .0115, so mean - .5 * (std - 0) = .6876; B .7067 - .5 * .2003 = .6065,
#                   F .6467 - .5 * .2203 = .5365, D .6133 - .5 * .3602 = .4332
#   F  .42 .66 .86  linear recency, curr_weight 3: weights 1, 2, 3 give (.42 + 1.32 + 2.58) / 6 = .72;
#                   E 4.14/6 = .69, B 3.84/6 = .64, A 3.6/6 = .60
SIX = {
    "A": [0.30, 0.30, 0.90],
    "B": [0.90, 0.72, 0.50],
    "C": [0.50, 0.50, 0.50],
    "D": [0.86, 0.78, 0.20],
    "E": [0.70, 0.70, 0.68],
    "F": [0.42, 0.66, 0.86],
}


@pytest.mark.parametrize(
    ("rule", "params", "expected"),
    [
        ("best_current_value", {}, "A"),
        ("best_average_value", {}, "B"),
        ("lowest_metric_variance", {}, "C"),
        ("most_frequent_best_dist", {"dist_from_best_case": 0.05}, "D"),
        ("best_avg_var_penalized", {"stdev_penalty": 0.5}, "E"),
        ("best_avg_recency_weight", {"curr_weight": 3.0, "decay_type": "linear"}, "F"),
        ("best_avg_recency_weight", {"curr_weight": 3.0, "decay_type": "exponential"}, "F"),
    ],
)
def test_each_rule_picks_its_group(rule, params, expected):
    assert RULES[rule](history(SIX), True, **params) == expected


def test_distance_from_best_by_hand():
    # s1: best .6 (p); s2: best .7 (r), q undefined.
    frame = history({"p": [0.6, 0.4], "q": [0.5, math.nan], "r": [0.3, 0.7]})
    up = distance_from_best(frame, greater_is_better=True)
    assert up["best_value"].tolist() == [0.6, 0.7, 0.6, 0.7, 0.6, 0.7]
    assert up["dist_from_best"].tolist() == pytest.approx([0.0, 0.3, 0.1, math.nan, 0.3, 0.0], nan_ok=True)
    # Lower is better: s1 best .3 (r), s2 best .4 (p); distances are still >= 0.
    down = distance_from_best(frame, greater_is_better=False)
    assert down["best_value"].tolist() == [0.3, 0.4, 0.3, 0.4, 0.3, 0.4]
    assert down["dist_from_best"].tolist() == pytest.approx([0.3, 0.0, 0.2, math.nan, 0.0, 0.3], nan_ok=True)


# Best per split .80, .72, .75. Distances: G1 0 .02 0; G2 .02 0 .15 (one bad split); G3 .05 NaN .01;
# G4 .08 .06 .05 (but .66 at s2); G5 has no row at s3.
FIVE = {
    "G1": [0.80, 0.70, 0.75],
    "G2": [0.78, 0.72, 0.60],
    "G3": [0.75, math.nan, 0.74],
    "G4": [0.72, 0.66, 0.70],
    "G5": [0.80, 0.72, None],
}


@pytest.mark.parametrize(
    ("max_from_best", "threshold", "kept"),
    [
        (0.10, None, ["G1", "G4"]),  # G2 out for s3 alone, G3 for its NaN, G5 for its missing split
        (0.20, None, ["G1", "G2", "G4"]),
        (0.10, 0.70, ["G1"]),  # G4 falls below the threshold at s2
        (0.10, 0.66, ["G1", "G4"]),  # equal to the threshold is not worse
        (0.01, None, []),
    ],
)
def test_filter_groups(max_from_best, threshold, kept):
    assert filter_groups(history(FIVE), max_from_best, threshold, greater_is_better=True) == kept


def test_filter_lower_is_better():
    # Errors: best .10 at both splits; x is .10 off at s2, y .05 off at s1; y is above .12 at s1.
    frame = history({"x": [0.10, 0.20], "y": [0.15, 0.10]})
    assert filter_groups(frame, 0.07, None, greater_is_better=False) == ["y"]
    assert filter_groups(frame, 0.07, 0.12, greater_is_better=False) == []
    assert filter_groups(frame, 0.20, 0.16, greater_is_better=False) == ["y"]


@pytest.mark.parametrize(
    ("rule", "chosen", "regret"),
    [
        # s1: B is best (.90) but .72 at s2, where the best is .78: .06.
        # s2: D is best (.78) but .20 at s3, where the best is .90: .70.
        ("best_current_value", ["B", "D"], [0.06, 0.70]),
        # s2 means over s1-s2 only: D .82 beats B .81 (seeing s3 would make it B, .7067 against .6133).
        ("best_average_value", ["B", "D"], [0.06, 0.70]),
        # s1: one split, no spread, so the best mean (B). s2: A, C and E all have std 0 over s1-s2; A is
        # the smallest id, and A is the best at s3, so no regret.
        ("lowest_metric_variance", ["B", "A"], [0.06, 0.0]),
    ],
)
def test_regrets_by_hand(rule, chosen, regret):
    got = regrets(history(SIX), rule, DEFAULT_PARAMS[rule], greater_is_better=True)
    assert got["split_time"].tolist() == SPLITS[:2]
    assert got["next_split_time"].tolist() == SPLITS[1:]
    assert got["chosen"].tolist() == chosen
    assert got["best_next_value"].tolist() == [0.78, 0.90]
    assert got["regret"].tolist() == pytest.approx(regret)
    assert (got["best_next_value"] - got["chosen_next_value"]).tolist() == pytest.approx(regret)


def test_regrets_sees_only_the_past():
    assert best_average_value(history(SIX), True) == "B"  # with s3 in view
    assert regrets(history(SIX), "best_average_value", {}, True)["chosen"].tolist()[-1] == "D"


def test_regrets_among_candidates_against_every_group():
    # C and E only: E leads both times; the best at s3 is A (.90) though A is not a candidate.
    got = regrets(history(SIX), "best_current_value", {}, True, candidates=["C", "E"])
    assert got["chosen"].tolist() == ["E", "E"]
    assert got["regret"].tolist() == pytest.approx([0.08, 0.22])


def test_regret_is_nan_when_the_pick_is_undefined_next():
    frame = history({"x": [0.9, math.nan], "y": [0.5, 0.6]})
    got = regrets(frame, "best_current_value", {}, True)
    assert got["chosen"].tolist() == ["x"]
    assert math.isnan(got["regret"].iloc[0]) and math.isnan(got["chosen_next_value"].iloc[0])
    assert got["best_next_value"].tolist() == [0.6]
    table = rule_regrets(frame, True).set_index("rule")
    assert table.loc["best_current_value", "splits"] == 0


def test_rule_regrets_table():
    table = rule_regrets(history(SIX), True).set_index("rule")
    assert list(table.index) == list(DEFAULT_PARAMS)  # best_average_two_metrics only when configured
    assert table.loc["best_current_value"].tolist() == pytest.approx([0.38, 0.70, 2])
    assert table.loc["lowest_metric_variance"].tolist() == pytest.approx([0.03, 0.06, 2])
    # Configured params replace the defaults: a penalty of 0 is the best average (B, then D).
    tuned = rule_regrets(history(SIX), True, {"best_avg_var_penalized": {"stdev_penalty": 0.0}})
    assert tuned.set_index("rule").loc["best_avg_var_penalized"].tolist() == pytest.approx([0.38, 0.70, 2])


def test_lower_is_better_current_value():
    frame = history({"p": [0.6, 0.4], "q": [0.5, math.nan], "r": [0.3, 0.7]})
    assert best_current_value(frame, greater_is_better=False) == "p"  # q's NaN is never best
    assert best_current_value(frame, greater_is_better=True) == "r"


def test_lower_is_better_penalty_adds():
    # X: mean .20, std .1414; Y: mean .22, std 0. The penalty makes X .20 + .5 * .1414 = .2707 > .22.
    frame = history({"X": [0.10, 0.30], "Y": [0.22, 0.22]})
    assert best_avg_var_penalized(frame, False, stdev_penalty=0.0) == "X"
    assert best_avg_var_penalized(frame, False, stdev_penalty=0.5) == "Y"


def test_penalty_and_variance_on_one_split_fall_back_to_the_mean():
    frame = history({"a": [0.4], "b": [0.6]})
    assert best_avg_var_penalized(frame, True, stdev_penalty=0.5) == "b"
    assert RULES["lowest_metric_variance"](frame, True) == "b"
    assert RULES["lowest_metric_variance"](frame, False) == "a"


@pytest.mark.parametrize(
    ("splits", "decay_type", "expected"),
    [
        (SPLITS, "linear", [1.0, 2.0, 3.0]),
        (SPLITS, "exponential", [1.0, math.sqrt(3), 3.0]),
        # 0, 5 and 20 days in: t/tmax = 0, 1/4, 1.
        ([dt.date(2021, 1, 1), dt.date(2021, 1, 6), dt.date(2021, 1, 21)], "linear", [1.0, 1.5, 3.0]),
        ([dt.date(2021, 1, 21), dt.date(2021, 1, 1)], "exponential", [3.0, 1.0]),  # any row order
        ([dt.date(2021, 1, 1)] * 2, "exponential", [1.0, 1.0]),  # one split
    ],
)
def test_recency_weights(splits, decay_type, expected):
    assert recency_weights(pd.Series(splits), 3.0, decay_type).tolist() == pytest.approx(expected)


def test_recency_weight_by_hand_can_overturn_the_mean():
    # up: mean .5, weighted (.3 + .5 * 2 + .7 * 3) / 6 = .5667; flat .55 either way.
    frame = history({"flat": [0.55, 0.55, 0.55], "up": [0.3, 0.5, 0.7]})
    assert best_average_value(frame, True) == "flat"
    assert best_avg_recency_weight(frame, True, curr_weight=3.0, decay_type="linear") == "up"
    assert best_avg_recency_weight(frame, True, curr_weight=1.0, decay_type="exponential") == "flat"


@pytest.mark.parametrize("rule", [r for r in DEFAULT_PARAMS if r != "random_model_group"])
def test_ties_go_to_the_smallest_id(rule):
    same = [0.5, 0.7, 0.6]
    frame = history({"c": same, "a": same, "b": same}).sample(frac=1, random_state=0)
    assert RULES[rule](frame, True, **DEFAULT_PARAMS[rule]) == "a"


@pytest.mark.parametrize("first", ["x", "y"])
def test_rounding_noise_is_a_tie(first):
    # .1 + .2 + .3 and .3 + .2 + .1 differ in the last bit; the means are equal all the same.
    other = "y" if first == "x" else "x"
    frame = history({first: [0.1, 0.2, 0.3], other: [0.3, 0.2, 0.1]})
    assert best_average_value(frame, True) == "x"


def test_select_filters_then_applies_the_rule():
    # max_from_best .5 drops A (.60 off at s1) and D (.70 off at s3); of the rest F is best now.
    chosen = select(history(SIX), "best_current_value", {}, 0.5, None, greater_is_better=True)
    assert (chosen.model_group_id, chosen.model_id) == ("F", "F-3")
    assert (chosen.kept, chosen.dropped) == (("B", "C", "E", "F"), ("A", "D"))
    assert (chosen.rule, chosen.params) == ("best_current_value", {})
    params = {"curr_weight": 3.0, "decay_type": "linear"}
    assert select(history(SIX), "best_avg_recency_weight", params, 1.0, None, True).model_group_id == "F"


def test_select_refuses_when_the_filter_drops_everything():
    # E's worst split is .22 from the best (.90 - .68): the loosest max_from_best that keeps anything.
    with pytest.raises(ValueError, match=r"no model group passes max_from_best=0\.1:") as e_info:
        select(history(SIX), "best_current_value", {}, 0.1, None, True)
    assert "best value at the newest split is 0.9" in str(e_info.value)
    assert "closest group (E) is up to 0.22" in str(e_info.value)
    with pytest.raises(ValueError, match=r"max_from_best=1 and threshold=0\.95:"):
        select(history(SIX), "best_current_value", {}, 1.0, 0.95, True)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "best_curent_value",
            {},
            "unknown selection rule 'best_curent_value'; choose from best_current_value, "
            "best_average_value, lowest_metric_variance, most_frequent_best_dist, best_avg_var_penalized, "
            "best_avg_recency_weight",
        ),
        ("best_avg_var_penalized", {}, "rule best_avg_var_penalized needs stdev_penalty"),
        ("best_current_value", {"foo": 1}, "unexpected parameter 'foo' for best_current_value"),
        (
            "best_avg_recency_weight",
            {"curr_weight": 2.0, "decay_type": "cubic"},
            "decay_type must be one of linear, exponential; got 'cubic'",
        ),
        (
            "best_avg_recency_weight",
            {"curr_weight": 0, "decay_type": "linear"},
            "curr_weight for best_avg_recency_weight must be a number > 0; got 0",
        ),
        (
            "most_frequent_best_dist",
            {"dist_from_best_case": -0.1},
            "dist_from_best_case for most_frequent_best_dist must be a number >= 0; got -0.1",
        ),
        ("best_avg_var_penalized", {"stdev_penalty": "high"}, "stdev_penalty for best_avg_var_penalized "),
        ("best_avg_var_penalized", {"stdev_penalty": True}, "must be a number >= 0; got True"),
    ],
)
def test_bad_rule_config_is_named(name, params, message):
    problems = rule_problems(name, params)
    assert len(problems) == 1 and message in problems[0]
    # Refused before anything runs, with the same words.
    with pytest.raises(ValueError, match=re.escape(message)):
        select(history(SIX), name, params, 1.0, None, True)
    with pytest.raises(ValueError, match=re.escape(message)):
        regrets(history(SIX), name, params, True)


def test_defaults_are_valid_config():
    assert all(rule_problems(name, params) == [] for name, params in DEFAULT_PARAMS.items())
    assert set(DEFAULT_PARAMS) | {TWO_METRICS} == set(RULES)


def test_rule_regrets_refuses_bad_config():
    with pytest.raises(ValueError, match="unknown selection rule 'nope'"):
        rule_regrets(history(SIX), True, {"nope": {}})
    with pytest.raises(ValueError, match="decay_type must be one of linear, exponential"):
        rule_regrets(history(SIX), True, {"best_avg_recency_weight": {"decay_type": "step"}})


def test_bad_decay_type_is_named_when_called_directly():
    with pytest.raises(ValueError, match="decay_type must be one of linear, exponential; got 'step'"):
        best_avg_recency_weight(history(SIX), True, curr_weight=2.0, decay_type="step")


def test_bad_history_is_named():
    with pytest.raises(ValueError, match="history has 1 repeated"):
        distance_from_best(pd.concat([history(SIX), history(SIX).head(1)]), True)
    with pytest.raises(ValueError, match=r"history lacks columns \['value'\]"):
        filter_groups(history(SIX).drop(columns="value"), 0.1, None, True)


# --- Audition's other rules, its filter boundary, agg_type and groups lacking a split -----------------


def test_two_metrics_by_hand():
    # p: .9/.1 each split -> .5 * .9 + .5 * .1 = .5; q: .6/.6 -> .6; with metric1_weight .9, p .82 > q .6.
    frame = history({"p": [0.9, 0.9], "q": [0.6, 0.6]}).assign(value2=[0.1, 0.1, 0.6, 0.6])
    params = {"metric2": "recall@", "parameter2": "10_pct"}
    assert RULES[TWO_METRICS](frame, True, **params) == "q"
    assert RULES[TWO_METRICS](frame, True, **params, metric1_weight=0.9) == "p"
    with pytest.raises(ValueError, match="needs the values of recall@10_pct"):
        RULES[TWO_METRICS](history(SIX), True, **params)


def test_random_model_group_is_fixed_and_any_group():
    frame = history(SIX)
    picks = {RULES["random_model_group"](frame, True) for _ in range(3)}
    assert len(picks) == 1 and picks <= set(SIX)
    assert tied(frame, "random_model_group", {}, True) == sorted(SIX)


def test_tied_names_the_groups_audition_picks_among():
    frame = history({"b": [0.5, 0.7], "a": [0.6, 0.7], "c": [0.9, 0.6]})
    assert tied(frame, "best_current_value", {}, True) == ["a", "b"]
    assert pick(frame, "best_current_value", {}, True) == "a"
    # One split: no spread; Audition picks any group, prodline the best mean.
    first = frame[frame["split_time"] == SPLITS[0]]
    assert tied(first, "lowest_metric_variance", {}, True) == ["a", "b", "c"]
    assert pick(first, "lowest_metric_variance", {}, True) == "c"


def test_n_is_accepted_and_the_challenger_is_the_first():
    assert RULES["best_average_value"](history(SIX), True, n=3) == "B"
    assert rule_problems("best_average_value", {"n": 0}) == [
        "n for best_average_value must be a whole number >= 1; got 0"]


def test_filter_limit_is_strict_and_ignores_float_noise():
    # Distances .05 and .0500000000000000444 (.55 - .5): both exactly at the limit, both dropped.
    frame = history({"x": [0.5, 0.55], "y": [0.45, 0.5]})
    assert filter_groups(frame, 0.05, None, True) == ["x"]
    assert filter_groups(frame, 0.0500001, None, True) == ["x", "y"]


def test_agg_type_worst_best_mean():
    rows = [("g", SPLITS[0], "m1", 0.2), ("g", SPLITS[0], "m2", 0.6), ("h", SPLITS[0], "m3", 0.5)]
    frame = pd.DataFrame(rows, columns=["model_group_id", "split_time", "model_id", "value"])
    worst = aggregate(frame, "worst", True).set_index("model_group_id")["value"]
    assert worst.to_dict() == {"g": 0.2, "h": 0.5}
    assert aggregate(frame, "worst", False).set_index("model_group_id")["value"]["g"] == 0.6
    best = aggregate(frame, "best", True).set_index("model_group_id")
    assert best.loc["g", "value"] == 0.6 and best.loc["g", "model_id"] == "m2"
    assert aggregate(frame, "mean", True).set_index("model_group_id")["value"]["g"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="agg_type must be one of worst, best, mean; got 'median'"):
        aggregate(frame, "median", True)


def test_a_group_lacking_a_split_neither_chosen_nor_the_best():
    # z is best at s1 but has no s2: left out, so y (.8) is the best at s1 and x is .1 from it.
    frame = history({"x": [0.7, 0.6], "y": [0.8, 0.5], "z": [0.99, None]})
    chosen = select(frame, "best_current_value", {}, 0.15, None, True)
    assert (chosen.model_group_id, chosen.kept, chosen.dropped) == ("x", ("x", "y"), ("z",))


def test_judged_rules_in_the_regret_table_by_audition_names():
    judged = [("most_frequent_best_dist", {"dist_from_best_case": 0.1}),
              ("best_avg_recency_weight", {"curr_weight": 5.0, "decay_type": "exponential"})]
    table = rule_regrets(history(SIX), True, judged=judged)
    assert list(table["rule"])[-2:] == ["most_frequent_best_dist_0.1",
                                        "best_avg_recency_weight_5.0_exponential"]


# --- The selection section: Triage's metric names and Audition's config shape -------------------------


def _selection(**section):
    from prodline.config.production import SelectionConfig

    return SelectionConfig.model_validate(section)


def _refusal(**section) -> list[tuple]:
    from pydantic import ValidationError

    from prodline.config.base import Located

    with pytest.raises(ValidationError) as e_info:
        _selection(**section)
    found = []
    for error in e_info.value.errors():
        located = (error.get("ctx") or {}).get("error")
        if isinstance(located, Located):
            found += located.problems
        else:
            found.append((error["loc"], error["msg"].removeprefix("Value error, ")))
    return found


def test_triage_metric_names():
    assert _selection(metric="roc_auc").parameter == ""  # no cutoff: the default 10_pct does not apply
    assert _selection(metric="average precision score", parameter="").name == "average precision score"
    assert _selection(metric="fpr@", parameter="5_pct").greater_is_better is False
    assert _refusal(metric="roc_auc", parameter="10_pct") == [
        (("parameter",), "roc_auc takes no parameter: write parameter: ''")]


@pytest.mark.parametrize(("old", "new"),
                         [("auc_roc", "roc_auc"), ("average_precision", "average precision score")])
def test_old_metric_names_point_at_triage_names(old, new):
    [(_, message)] = _refusal(metric=old, parameter="")
    assert message == f"{old!r} is now called {new!r}, as in Triage: write metric: {new}"


AUDITION = {
    "filter": {"metric": "precision@", "parameter": "50_abs", "max_from_best": 0.3,
               "threshold_value": 0.1, "distance_table": "distance_table", "models_table": "models",
               "agg_type": "mean"},
    "rules": [
        {"shared_parameters": [{"metric": "precision@", "parameter": "50_abs"}],
         "selection_rules": [{"name": "best_current_value", "n": 3},
                             {"name": "most_frequent_best_dist", "dist_from_best_case": [0.05, 0.1]}]},
        {"shared_parameters": [{"metric1": "precision@", "parameter1": "50_abs"}],
         "selection_rules": [{"name": "best_average_two_metrics", "metric2": "recall@",
                              "parameter2": "50_abs"}]},
    ],
}


def test_audition_config_is_the_selection_section():
    cfg = _selection(**AUDITION)
    assert (cfg.metric, cfg.parameter, cfg.max_from_best, cfg.threshold, cfg.agg_type) == (
        "precision@", "50_abs", 0.3, 0.1, "mean")
    assert (cfg.rule, cfg.params) == ("best_current_value", {"n": 3})
    assert cfg.judged == [
        {"name": "most_frequent_best_dist", "dist_from_best_case": 0.05},
        {"name": "most_frequent_best_dist", "dist_from_best_case": 0.1},
        {"name": "best_average_two_metrics", "metric2": "recall@", "parameter2": "50_abs",
         "metric1": "precision@", "parameter1": "50_abs"},
    ]
    assert _selection(threshold_value=0.2).threshold == 0.2


def test_audition_config_refusals_name_the_key():
    section = {**AUDITION, "model_groups": {"query": "SELECT 1"}, "time_stamps": {"query": "SELECT 1"}}
    problems = dict(_refusal(**section))
    assert "prodline chooses among the model groups of its grid" in problems[("model_groups",)]
    assert "prodline judges every split it has evaluated" in problems[("time_stamps",)]
    other = {**AUDITION, "rules": [{"shared_parameters": [{"metric": "recall@", "parameter": "50_abs"}],
                                    "selection_rules": [{"name": "best_current_value"}]}]}
    assert _refusal(**other) == [(("rules", 0, "shared_parameters", 0),
                                  "recall@50_abs differs from the filter's metric precision@50_abs: "
                                  "prodline selects and judges on one metric")]
    assert _refusal(filter={"metric": "precision@", "max_below_best": 0.1}) == [
        (("filter", "max_below_best"), "unknown key (Audition's filter has metric, parameter, "
                                       "max_from_best, threshold_value, agg_type, distance_table, "
                                       "models_table)")]
    assert _refusal(**{**AUDITION, "rule": "best_average_value"}) == [
        (("rules",), "given twice: rules and selection.rule/params")]
    assert _refusal(judged=[{"name": "best_avg_var_penalized"}]) == [
        (("judged", 0), "rule best_avg_var_penalized needs stdev_penalty")]
    assert _refusal(rule=TWO_METRICS, params={"metric2": "fpr@", "parameter2": "5_pct"}) == [
        (("rule",), "metric2 'fpr@' and 'precision@' are better in opposite directions")]
    [(loc, message)] = _refusal(max_from_best=0)
    assert loc == ("max_from_best",) and "greater than 0" in message
