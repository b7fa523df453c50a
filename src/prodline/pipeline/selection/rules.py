"""Choosing a model group from its past evaluations, in the manner of Triage's Audition.

Audition first drops the model groups that were ever far from the best (or worse than a threshold),
then lets a selection rule pick among the rest, and judges each rule by its regret: how far the group
it would have picked at each past split fell behind the best group at the next split. The rules follow
Audition's definitions with one change: where Audition shuffles to break ties or picks at random, we
take the smallest model_group_id, so a rerun on the same history picks the same model.

`history` holds one row per (model group, split) for one metric, with columns `model_group_id`,
`split_time` (the split's train end time; larger is newer), `model_id` and `value` (NaN if undefined).
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ("model_group_id", "split_time", "model_id", "value")
DECAY_TYPES = ("linear", "exponential")
Params = Mapping[str, Any]
# The parameters each rule takes, with the values used when a rule is judged without configuration.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "best_current_value": {},
    "best_average_value": {},
    "lowest_metric_variance": {},
    "most_frequent_best_dist": {"dist_from_best_case": 0.05},
    "best_avg_var_penalized": {"stdev_penalty": 0.5},
    "best_avg_recency_weight": {"curr_weight": 2.0, "decay_type": "linear"},
}
# Scores this close count as tied, so float rounding (the order of a sum) cannot decide the pick.
_TIE = 1e-12


@dataclass(frozen=True)
class Selection:
    """The chosen model group, its model at the newest split, and what the filter kept and dropped."""

    model_group_id: str
    model_id: str
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    rule: str
    params: Params


def distance_from_best(history: pd.DataFrame, greater_is_better: bool) -> pd.DataFrame:
    """history plus `best_value` at each split and `dist_from_best` (>= 0; NaN where value is NaN)."""
    _check(history)
    best = history.groupby("split_time")["value"].transform("max" if greater_is_better else "min")
    dist = best - history["value"] if greater_is_better else history["value"] - best
    return history.assign(best_value=best, dist_from_best=dist)


def filter_groups(
    history: pd.DataFrame, max_from_best: float, threshold: float | None, greater_is_better: bool
) -> list[str]:
    """The groups never more than max_from_best from the best, nor worse than threshold, at any split.

    A NaN value or a missing row fails its split: a kept group has a usable model at every split, so
    the rules compare kept groups over the same splits and the newest split always has its model.
    """
    scored = distance_from_best(history, greater_is_better)
    ok = scored["dist_from_best"] <= max_from_best  # NaN compares False
    if threshold is not None:
        ok &= scored["value"] >= threshold if greater_is_better else scored["value"] <= threshold
    per_group = ok.groupby(scored["model_group_id"])
    passes = per_group.all() & (per_group.size() == scored["split_time"].nunique())
    return sorted(passes.index[passes])


def _best(scores: pd.Series, greater_is_better: bool) -> str:
    """The group with the best defined score; a tie goes to the smallest model_group_id."""
    scores = scores.dropna()
    if scores.empty:
        raise ValueError("no model group has a defined score to select on")
    best = scores.max() if greater_is_better else scores.min()
    return min(scores.index[np.isclose(scores, best, rtol=_TIE, atol=_TIE)])


def _values(history: pd.DataFrame):
    return history.groupby("model_group_id")["value"]


def best_current_value(history: pd.DataFrame, greater_is_better: bool) -> str:
    """The best value at the newest split: trusts only the latest evidence."""
    newest = history[history["split_time"] == history["split_time"].max()]
    return _best(newest.set_index("model_group_id")["value"], greater_is_better)


def best_average_value(history: pd.DataFrame, greater_is_better: bool) -> str:
    """The best mean over splits (NaN values left out)."""
    return _best(_values(history).mean(), greater_is_better)


def lowest_metric_variance(history: pd.DataFrame, greater_is_better: bool) -> str:
    """The steadiest group: lowest sample standard deviation over splits."""
    std = _values(history).std(ddof=1)
    if std.isna().all():
        # One split has no spread. Audition then picks at random; the best mean keeps runs repeatable.
        return best_average_value(history, greater_is_better)
    return _best(std, greater_is_better=False)  # a group with a single value has no std: not eligible


def most_frequent_best_dist(
    history: pd.DataFrame, greater_is_better: bool, *, dist_from_best_case: float
) -> str:
    """The group most often within dist_from_best_case of the best, as a share of all splits."""
    near = distance_from_best(history, greater_is_better)["dist_from_best"] <= dist_from_best_case
    # Dividing by all splits: a split the group lacks, or where its value is NaN, is not near the best.
    share = near.groupby(history["model_group_id"]).sum() / history["split_time"].nunique()
    return _best(share, greater_is_better=True)


def best_avg_var_penalized(history: pd.DataFrame, greater_is_better: bool, *, stdev_penalty: float) -> str:
    """The best mean after a penalty for being less steady than the steadiest group."""
    mean, std = _values(history).mean(), _values(history).std(ddof=1)
    if std.isna().all():
        return _best(mean, greater_is_better)  # one split: nothing to penalise, as in Audition
    sign = 1.0 if greater_is_better else -1.0  # lower is better: the penalty makes the mean worse
    return _best(mean - sign * stdev_penalty * (std - std.min()), greater_is_better)


def recency_weights(split_times: pd.Series, curr_weight: float, decay_type: str) -> pd.Series:
    """Each row's weight: 1 at the first split rising to curr_weight at the newest, by days elapsed."""
    if decay_type not in DECAY_TYPES:
        raise ValueError(_decay_problem(decay_type))
    times = pd.to_datetime(split_times)
    days = (times - times.min()).dt.days.astype(float)
    elapsed = days / max(days.max(), 1.0)  # a single split: every row is 0 days in, so every weight is 1
    if decay_type == "linear":
        return (curr_weight - 1.0) * elapsed + 1.0
    return np.exp(np.log(curr_weight) * elapsed)


def best_avg_recency_weight(
    history: pd.DataFrame, greater_is_better: bool, *, curr_weight: float, decay_type: str
) -> str:
    """The best mean weighted toward recent splits."""
    weights = recency_weights(history["split_time"], curr_weight, decay_type)
    weights = weights.where(history["value"].notna(), 0.0)
    groups = history["model_group_id"]
    total = (history["value"].fillna(0.0) * weights).groupby(groups).sum()
    return _best(total / weights.groupby(groups).sum(), greater_is_better)


_ALL = (best_current_value, best_average_value, lowest_metric_variance, most_frequent_best_dist)
RULES = {rule.__name__: rule for rule in (*_ALL, best_avg_var_penalized, best_avg_recency_weight)}


def rule_problems(name: str, params: Params) -> list[str]:
    """What is wrong with a rule name and its parameters, so bad config is refused before a run."""
    if name not in RULES:
        return [f"unknown selection rule {name!r}; choose from {', '.join(RULES)}"]
    expected = DEFAULT_PARAMS[name]
    problems = [f"rule {name} needs {p}" for p in expected if p not in params]
    problems += [f"unexpected parameter {p!r} for {name}" for p in params if p not in expected]
    for p, value in params.items():
        if p == "decay_type" and p in expected and value not in DECAY_TYPES:
            problems.append(_decay_problem(value))
        elif p in expected and p != "decay_type":
            number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            # A zero curr_weight has no logarithm; zero distance or penalty are legitimate extremes.
            if not number or value < 0 or (p == "curr_weight" and value == 0):
                bound = "> 0" if p == "curr_weight" else ">= 0"
                problems.append(f"{p} for {name} must be a number {bound}; got {value!r}")
    return problems


def _decay_problem(decay_type: Any) -> str:
    return f"decay_type must be one of {', '.join(DECAY_TYPES)}; got {decay_type!r}"


def _check_rule(name: str, params: Params) -> None:
    if problems := rule_problems(name, params):
        raise ValueError("; ".join(problems))


def _check(history: pd.DataFrame) -> None:
    if missing := [c for c in COLUMNS if c not in history.columns]:
        raise ValueError(f"history lacks columns {missing}")
    if (twice := history.duplicated(["model_group_id", "split_time"])).any():
        raise ValueError(f"history has {int(twice.sum())} repeated (model_group_id, split_time) rows")


def regrets(
    history: pd.DataFrame,
    rule_name: str,
    params: Params,
    greater_is_better: bool,
    candidates: Iterable[str] | None = None,
) -> pd.DataFrame:
    """At each split but the newest, what following the rule would have cost at the next split.

    The rule sees only splits up to `split_time` and picks among `candidates` (default: every group;
    pass the kept groups to judge as Audition does); the best at the next split is over every group.
    Regret is NaN when the chosen group has no value at the next split.
    """
    _check_rule(rule_name, params)
    scored = distance_from_best(history, greater_is_better)
    pool = scored if candidates is None else scored[scored["model_group_id"].isin(list(candidates))]
    rows, best = [], scored.groupby("split_time")["best_value"].first()
    by_key = scored.set_index(["split_time", "model_group_id"])[["value", "dist_from_best"]]
    for now, after in pairwise(best.index):
        chosen = RULES[rule_name](pool[pool["split_time"] <= now], greater_is_better, **params)
        value, regret = by_key.reindex([(after, chosen)]).iloc[0]  # NaN when the group has no row
        rows.append((now, after, chosen, value, best[after], regret))
    columns = ["split_time", "next_split_time", "chosen", "chosen_next_value", "best_next_value", "regret"]
    return pd.DataFrame(rows, columns=columns)


def rule_regrets(
    history: pd.DataFrame,
    greater_is_better: bool,
    params_by_rule: Mapping[str, Params] | None = None,
    candidates: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every rule's regret (configured params over DEFAULT_PARAMS): mean, max and the splits they cover.

    Mean and max leave out splits whose regret is NaN; `splits` counts the splits they cover.
    """
    params_by_rule = params_by_rule or {}
    merged = {name: {**DEFAULT_PARAMS.get(name, {}), **params_by_rule.get(name, {})} for name in RULES}
    for name in params_by_rule:
        _check_rule(name, merged.get(name, {}))
    candidates = None if candidates is None else list(candidates)
    rows = []
    for name, params in merged.items():
        regret = regrets(history, name, params, greater_is_better, candidates)["regret"]
        rows.append((name, regret.mean(), regret.max(), int(regret.count())))
    return pd.DataFrame(rows, columns=["rule", "mean_regret", "max_regret", "splits"])


def select(
    history: pd.DataFrame,
    rule_name: str,
    params: Params,
    max_from_best: float,
    threshold: float | None,
    greater_is_better: bool,
) -> Selection:
    """Filter the groups, let the rule pick among those kept, and name the pick's newest model."""
    _check_rule(rule_name, params)
    kept = filter_groups(history, max_from_best, threshold, greater_is_better)
    if not kept:
        raise ValueError(_nothing_kept(history, max_from_best, threshold, greater_is_better))
    pool = history[history["model_group_id"].isin(kept)]
    chosen = RULES[rule_name](pool, greater_is_better, **params)
    newest = pool[(pool["split_time"] == pool["split_time"].max()) & (pool["model_group_id"] == chosen)]
    dropped = sorted(set(history["model_group_id"]) - set(kept))
    return Selection(chosen, newest["model_id"].iloc[0], tuple(kept), tuple(dropped), rule_name, dict(params))


def _nothing_kept(history: pd.DataFrame, max_from_best: float, threshold: float | None, gib: bool) -> str:
    """Why the filter kept nothing, with the numbers a user needs to loosen it."""
    scored = distance_from_best(history, gib)
    # The closest group's worst distance is the smallest max_from_best that could keep anything.
    worst = scored["dist_from_best"].fillna(np.inf).groupby(scored["model_group_id"]).max()
    best_now = scored.loc[scored["split_time"] == scored["split_time"].max(), "best_value"].iloc[0]
    limits = f"max_from_best={max_from_best:g}"
    limits += "" if threshold is None else f" and threshold={threshold:g}"
    return (
        f"no model group passes {limits}: the best value at the newest split is {best_now:.4g}, and the "
        f"closest group ({worst.idxmin()}) is up to {worst.min():.4g} from the best at some split; "
        "loosen max_from_best (or the threshold)"
    )
