"""Choosing a model group from its past evaluations, in the manner of Triage's Audition.

Audition first drops the model groups that were ever far from the best (or worse than a threshold),
then lets a selection rule pick among the rest, and judges each rule by its regret: how far the group
it would have picked at each past split fell behind the best group at the next split. The rules follow
Audition's definitions (triage/component/audition/selection_rules.py, Triage 6.0.0) with these changes,
each measured by tests/test_audition_parity.py:

- where Audition shuffles to break a tie, or picks at random, we take the smallest model_group_id (and
  `random_model_group` a fixed pseudo-random one), so a rerun on the same history picks the same model;
  `tied` names the groups Audition picks among;
- the filter drops a group that is too far from the best at ANY split, as Audition's documentation
  says; Audition's code keeps a group that is close to the best at one split or more;
- an undefined value (NaN) is left out of the best at its split; Audition's SQL then ranks the NULL
  first, so the best and every distance at that split are NULL.

`history` holds one row per (model group, split) for one metric, with columns `model_group_id`,
`split_time` (the split's train end time; larger is newer), `model_id` and `value` (NaN if undefined);
`best_average_two_metrics` also reads `value2`, the second metric.
"""

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from prodline.config.metrics import GREATER_IS_BETTER

COLUMNS = ("model_group_id", "split_time", "model_id", "value")
DECAY_TYPES = ("linear", "exponential")
# How the models of one group at one split (e.g. random seeds) become one value, as Audition's agg_type.
AGG_TYPES = ("worst", "best", "mean")
Params = Mapping[str, Any]
# The parameters each rule takes, with the values used when a rule is judged without configuration.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "best_current_value": {},
    "best_average_value": {},
    "lowest_metric_variance": {},
    "most_frequent_best_dist": {"dist_from_best_case": 0.05},
    "best_avg_var_penalized": {"stdev_penalty": 0.5},
    "best_avg_recency_weight": {"curr_weight": 2.0, "decay_type": "linear"},
    "random_model_group": {},
}
# Needs a second metric, so it is judged only when configured.
TWO_METRICS = "best_average_two_metrics"
_TWO_METRICS_NEEDS = ("metric2", "parameter2")
_TWO_METRICS_MAY = {"metric1_weight": 0.5, "metric1": None, "parameter1": None}
# Every Audition rule takes n, the number of groups it returns; the challenger is the first of them.
_ANY_RULE_MAY = ("n",)
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


def aggregate(history: pd.DataFrame, agg_type: str, greater_is_better: bool) -> pd.DataFrame:
    """One row per (group, split): the worst, best or mean value of its models there (NaN left out,
    as SQL's min, max and avg do); its model is the one with the best value."""
    if agg_type not in AGG_TYPES:
        raise ValueError(f"agg_type must be one of {', '.join(AGG_TYPES)}; got {agg_type!r}")
    keys = ["model_group_id", "split_time"]
    if not history.duplicated(keys).any():
        return history
    worst, best = ("min", "max") if greater_is_better else ("max", "min")
    how = {"worst": worst, "best": best, "mean": "mean"}[agg_type]
    ordered = history.sort_values(["value", "model_id"], ascending=[not greater_is_better, True])
    first = ordered.groupby(keys, sort=False).first().reset_index()
    values = history.groupby(keys)[[c for c in ("value", "value2") if c in history]].agg(how)
    return first.drop(columns=values.columns).merge(values.reset_index(), on=keys)[list(history.columns)]


def distance_from_best(history: pd.DataFrame, greater_is_better: bool) -> pd.DataFrame:
    """history plus `best_value` at each split and `dist_from_best` (>= 0; NaN where value is NaN)."""
    _check(history)
    best = history.groupby("split_time")["value"].transform("max" if greater_is_better else "min")
    dist = best - history["value"] if greater_is_better else history["value"] - best
    return history.assign(best_value=best, dist_from_best=dist)


def complete(history: pd.DataFrame) -> pd.DataFrame:
    """The rows of the groups evaluated at every split. As Audition's model_groups_filter, a group
    that lacks a split is no candidate and does not set the best at the splits it has."""
    splits = history["split_time"].nunique()
    counts = history.groupby("model_group_id")["split_time"].transform("nunique")
    return history[counts == splits]


def _scored(history: pd.DataFrame, greater_is_better: bool) -> pd.DataFrame:
    """Distances from the best as given (over every group, as Audition's table), else computed."""
    return history if "dist_from_best" in history else distance_from_best(history, greater_is_better)


def filter_groups(
    history: pd.DataFrame, max_from_best: float, threshold: float | None, greater_is_better: bool
) -> list[str]:
    """The groups less than max_from_best from the best, and no worse than threshold, at every split.

    A NaN value or a missing row fails its split: a kept group has a usable model at every split, so
    the rules compare kept groups over the same splits and the newest split always has its model.
    """
    scored = _scored(history, greater_is_better)
    # Strictly, as Audition; NaN compares False. Audition subtracts PostgreSQL numerics exactly: float
    # rounding of a distance (.55 - .5 = .0500000000000000444) must not move a group across a limit.
    ok = scored["dist_from_best"] < max_from_best - _TIE
    if threshold is not None:
        value = scored["value"]
        ok &= value >= threshold - _TIE if greater_is_better else value <= threshold + _TIE
    per_group = ok.groupby(scored["model_group_id"])
    passes = per_group.all() & (per_group.size() == scored["split_time"].nunique())
    return sorted(passes.index[passes])


@dataclass(frozen=True)
class _Scores:
    """A rule's score per group, and whether higher is better. `everyone`: Audition picks at random
    among every group here (no spread yet, or the random rule); prodline then picks by `scores`."""

    scores: pd.Series | None
    higher: bool
    everyone: bool = False


def _values(history: pd.DataFrame):
    return history.groupby("model_group_id")["value"]


def _current(history: pd.DataFrame, gib: bool) -> _Scores:
    """The value at the newest split: trusts only the latest evidence."""
    newest = history[history["split_time"] == history["split_time"].max()]
    return _Scores(newest.set_index("model_group_id")["value"], gib)


def _average(history: pd.DataFrame, gib: bool) -> _Scores:
    """The mean over splits (NaN values left out)."""
    return _Scores(_values(history).mean(), gib)


def _variance(history: pd.DataFrame, gib: bool) -> _Scores:
    """The sample standard deviation over splits, lowest first."""
    std = _values(history).std(ddof=1)
    if std.isna().all():
        # One split has no spread. Audition then picks at random; the best mean keeps runs repeatable.
        return _Scores(_values(history).mean(), gib, everyone=True)
    return _Scores(std, False)  # a group with a single value has no std: not eligible


def _frequent(history: pd.DataFrame, gib: bool, *, dist_from_best_case: float) -> _Scores:
    """The share of splits at which the group is within dist_from_best_case of the best of every group."""
    scored = _scored(history, gib)
    near = scored["dist_from_best"] <= dist_from_best_case + _TIE  # Audition: <= here, < in the filter
    # Dividing by all splits: a split the group lacks, or where its value is NaN, is not near the best.
    return _Scores(near.groupby(scored["model_group_id"]).sum() / history["split_time"].nunique(), True)


def _penalized(history: pd.DataFrame, gib: bool, *, stdev_penalty: float) -> _Scores:
    """The mean after a penalty for being less steady than the steadiest group."""
    mean, std = _values(history).mean(), _values(history).std(ddof=1)
    if std.isna().all():
        return _Scores(mean, gib)  # one split: nothing to penalise, as in Audition
    sign = 1.0 if gib else -1.0  # lower is better: the penalty makes the mean worse
    return _Scores(mean - sign * stdev_penalty * (std - std.min()), gib)


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


def _recency(history: pd.DataFrame, gib: bool, *, curr_weight: float, decay_type: str) -> _Scores:
    """The mean weighted toward recent splits."""
    weights = recency_weights(history["split_time"], curr_weight, decay_type)
    weights = weights.where(history["value"].notna(), 0.0)
    groups = history["model_group_id"]
    total = (history["value"].fillna(0.0) * weights).groupby(groups).sum()
    return _Scores(total / weights.groupby(groups).sum(), gib)


def _random(history: pd.DataFrame, gib: bool) -> _Scores:
    """A baseline for the regrets: any group."""
    return _Scores(None, gib, everyone=True)


def _two_metrics(history: pd.DataFrame, gib: bool, *, metric2: str, parameter2: str,
                 metric1_weight: float = 0.5, metric1: str | None = None,
                 parameter1: str | None = None) -> _Scores:
    """The mean over splits of metric1_weight * value + (1 - metric1_weight) * value2."""
    if "value2" not in history:
        raise ValueError(f"{TWO_METRICS} needs the values of {metric2}{parameter2} (column value2)")
    combined = metric1_weight * history["value"] + (1.0 - metric1_weight) * history["value2"]
    return _Scores(combined.groupby(history["model_group_id"]).mean(), gib)


_SCORERS = {
    "best_current_value": _current,
    "best_average_value": _average,
    "lowest_metric_variance": _variance,
    "most_frequent_best_dist": _frequent,
    "best_avg_var_penalized": _penalized,
    "best_avg_recency_weight": _recency,
    "random_model_group": _random,
    TWO_METRICS: _two_metrics,
}


def _score(history: pd.DataFrame, name: str, params: Params, gib: bool) -> _Scores:
    _check_rule(name, params)
    if history.empty:
        raise ValueError("no model group to select from")
    return _SCORERS[name](history, gib, **{k: v for k, v in params.items() if k not in _ANY_RULE_MAY})


def _tie_set(scores: pd.Series, higher: bool) -> list[str]:
    scores = scores.dropna()
    if scores.empty:
        raise ValueError("no model group has a defined score to select on")
    best = scores.max() if higher else scores.min()
    return sorted(scores.index[np.isclose(scores, best, rtol=_TIE, atol=_TIE)])


def tied(history: pd.DataFrame, name: str, params: Params, greater_is_better: bool) -> list[str]:
    """The groups Audition's rule picks among at random (its shuffle before idxmax): those with the
    best score, or every group where the rule has no score to go by."""
    found = _score(history, name, params, greater_is_better)
    if found.everyone:
        return sorted(history["model_group_id"].unique())
    return _tie_set(found.scores, found.higher)


def pick(history: pd.DataFrame, name: str, params: Params, greater_is_better: bool) -> str:
    """The group the rule picks: of those tied, the smallest model_group_id; for random_model_group,
    a pseudo-random group fixed by the groups and the newest split, so a rerun picks it again."""
    found = _score(history, name, params, greater_is_better)
    if found.scores is None:
        groups = sorted(history["model_group_id"].unique())
        seed = "|".join([*groups, str(history["split_time"].max())]).encode()
        return groups[int(hashlib.sha256(seed).hexdigest(), 16) % len(groups)]
    return _tie_set(found.scores, found.higher)[0]


def _rule(name: str):
    def rule(history: pd.DataFrame, greater_is_better: bool, **params) -> str:
        return pick(history, name, params, greater_is_better)

    rule.__name__ = name
    rule.__doc__ = _SCORERS[name].__doc__
    return rule


RULES = {name: _rule(name) for name in _SCORERS}
best_current_value = RULES["best_current_value"]
best_average_value = RULES["best_average_value"]
lowest_metric_variance = RULES["lowest_metric_variance"]
most_frequent_best_dist = RULES["most_frequent_best_dist"]
best_avg_var_penalized = RULES["best_avg_var_penalized"]
best_avg_recency_weight = RULES["best_avg_recency_weight"]
random_model_group = RULES["random_model_group"]
best_average_two_metrics = RULES[TWO_METRICS]


def _number_problem(name: str, p: str, value: Any) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if p == "n":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return f"n for {name} must be a whole number >= 1; got {value!r}"
        return None
    if p == "metric1_weight":
        ok = number and 0 <= value <= 1
        return None if ok else f"metric1_weight must be between 0 and 1; got {value!r}"
    # A zero curr_weight has no logarithm; zero distance or penalty are legitimate extremes.
    if not number or value < 0 or (p == "curr_weight" and value == 0):
        bound = "> 0" if p == "curr_weight" else ">= 0"
        return f"{p} for {name} must be a number {bound}; got {value!r}"
    return None


def rule_problems(name: str, params: Params, metric: str | None = None) -> list[str]:
    """What is wrong with a rule name and its parameters, so bad config is refused before a run.
    `metric`: the selection metric, which best_average_two_metrics's metric1 must be."""
    if name not in _SCORERS:
        return [f"unknown selection rule {name!r}; choose from {', '.join(_SCORERS)}"]
    needs = _TWO_METRICS_NEEDS if name == TWO_METRICS else tuple(DEFAULT_PARAMS[name])
    may = (*needs, *(_TWO_METRICS_MAY if name == TWO_METRICS else ()), *_ANY_RULE_MAY)
    problems = [f"rule {name} needs {p}" for p in needs if p not in params]
    problems += [f"unexpected parameter {p!r} for {name}" for p in params if p not in may]
    for p, value in params.items():
        if p not in may:
            continue
        if p == "decay_type":
            if value not in DECAY_TYPES:
                problems.append(_decay_problem(value))
        elif p in ("metric1", "metric2"):
            problems += _metric_problems(p, value, metric)
        elif p in ("parameter1", "parameter2"):
            if not isinstance(value, str):
                problems.append(f"{p} for {name} must be a metric parameter such as '100_abs'; got {value!r}")
        elif problem := _number_problem(name, p, value):
            problems.append(problem)
    if name == TWO_METRICS and metric is not None and params.get("metric1", metric) != metric:
        problems.append(f"metric1 {params['metric1']!r} differs from the selection metric {metric!r}")
    return problems


def _metric_problems(p: str, value: Any, metric: str | None) -> list[str]:
    from prodline.config.metrics import RENAMED

    if value in RENAMED:
        return [f"{p} {value!r} is now called {RENAMED[value]!r}, as in Triage"]
    if value not in GREATER_IS_BETTER:
        return [f"{p} {value!r} is not a metric; choose from {', '.join(GREATER_IS_BETTER)}"]
    opposite = metric in GREATER_IS_BETTER and GREATER_IS_BETTER[value] != GREATER_IS_BETTER[metric]
    if p == "metric2" and opposite:
        return [f"metric2 {value!r} and {metric!r} are better in opposite directions"]
    return []


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
    pass the kept groups to judge as Audition does); the best at the next split, and every distance
    the rules read, are over every group evaluated at every split (as Audition's distance table).
    Regret is NaN when the chosen group has no value at the next split.
    """
    _check_rule(rule_name, params)
    scored = distance_from_best(complete(history), greater_is_better)
    pool = scored if candidates is None else scored[scored["model_group_id"].isin(list(candidates))]
    rows, best = [], scored.groupby("split_time")["best_value"].first()
    by_key = scored.set_index(["split_time", "model_group_id"])[["value", "dist_from_best"]]
    for now, after in pairwise(best.index):
        chosen = pick(pool[pool["split_time"] <= now], rule_name, params, greater_is_better)
        value, regret = by_key.reindex([(after, chosen)]).iloc[0]  # NaN when the group has no row
        rows.append((now, after, chosen, value, best[after], regret))
    columns = ["split_time", "next_split_time", "chosen", "chosen_next_value", "best_next_value", "regret"]
    return pd.DataFrame(rows, columns=columns)


def rule_regrets(
    history: pd.DataFrame,
    greater_is_better: bool,
    params_by_rule: Mapping[str, Params] | None = None,
    candidates: Iterable[str] | None = None,
    judged: Iterable[tuple[str, Params]] = (),
) -> pd.DataFrame:
    """Every rule's regret (configured params over DEFAULT_PARAMS): mean, max and the splits they cover.

    best_average_two_metrics is judged only when configured. `judged`: more (rule, params) pairs, each
    named as Audition names it (`most_frequent_best_dist_0.1`). Mean and max leave out splits whose
    regret is NaN; `splits` counts the splits they cover.
    """
    params_by_rule = params_by_rule or {}
    names = [*DEFAULT_PARAMS, *(n for n in params_by_rule if n not in DEFAULT_PARAMS)]
    merged = {name: {**DEFAULT_PARAMS.get(name, {}), **params_by_rule.get(name, {})} for name in names}
    for name in params_by_rule:
        _check_rule(name, merged[name])
    candidates = None if candidates is None else list(candidates)
    labelled = {name: (name, params) for name, params in merged.items()}
    for name, params in judged:
        _check_rule(name, params)
        labelled.setdefault(descriptive_name(name, params), (name, dict(params)))
    rows = []
    for label, (name, params) in labelled.items():
        regret = regrets(history, name, params, greater_is_better, candidates)["regret"]
        rows.append((label, regret.mean(), regret.max(), int(regret.count())))
    return pd.DataFrame(rows, columns=["rule", "mean_regret", "max_regret", "splits"])


def descriptive_name(name: str, params: Params) -> str:
    """The rule with its parameter values, as Audition's BoundSelectionRule names it."""
    return "_".join([name, *(str(params[k]) for k in _SIGNATURE_ORDER if k in params)])


# Audition's rule functions take their parameters in this order (selection_rules.py).
_SIGNATURE_ORDER = ("metric1", "parameter1", "metric2", "parameter2", "metric1_weight", "dist_from_best_case",
                    "stdev_penalty", "curr_weight", "decay_type")


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
    if (whole := complete(history)).empty:
        raise ValueError("no model group was evaluated at every split")
    scored = distance_from_best(whole, greater_is_better)
    kept = filter_groups(scored, max_from_best, threshold, greater_is_better)
    if not kept:
        raise ValueError(_nothing_kept(scored, max_from_best, threshold))
    pool = scored[scored["model_group_id"].isin(kept)]
    chosen = pick(pool, rule_name, params, greater_is_better)
    newest = pool[(pool["split_time"] == pool["split_time"].max()) & (pool["model_group_id"] == chosen)]
    dropped = sorted(set(history["model_group_id"]) - set(kept))
    return Selection(chosen, newest["model_id"].iloc[0], tuple(kept), tuple(dropped), rule_name, dict(params))


def _nothing_kept(scored: pd.DataFrame, max_from_best: float, threshold: float | None) -> str:
    """Why the filter kept nothing, with the numbers a user needs to loosen it."""
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
