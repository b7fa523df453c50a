"""Differential test: prodline's model selection against Triage 6.0.0's own Audition, run in Triage's
virtual environment (`make triage`) on the same evaluations, in a PostgreSQL database of the test's own
(the tables and columns Audition's queries read: triage_metadata.models and .model_groups,
test_results.evaluations).

Random model groups over five irregular train end times, values on a coarse grid so that ties are
common, some groups with two models (seeds) per time, a group that lacks a time, evaluations of a
subset and later evaluations that Audition must ignore. For every case and every rule of a grid of all
Audition's rules and their parameters, under several numpy seeds (Audition breaks ties at random):

- the distance-from-best table (value, best, distance, next time's value and distance) is prodline's
  to 1e-9;
- Audition's filter keeps exactly the documented difference: a group close to the best at one time or
  more (Audition's code), where prodline keeps one close at every time (Audition's documentation);
- on Audition's kept groups, at the newest time and at every earlier one, the group Audition picks is
  one prodline counts as tied for best, prodline picks the smallest of those (or, where Audition
  picks at random among every group, a fixed one), and each regret is prodline's to 1e-9;
- where no tie was broken, the chosen groups and the mean regret of every rule are identical.
"""

import datetime as dt
import math
import random

import pandas as pd
import pytest
import sqlalchemy as sa

from conftest import postgres_database
from prodline.config.metrics import greater_is_better
from prodline.pipeline.selection import rules

SEEDS = (0, 1)
# Irregular gaps, so that recency weights differ from evenly spaced ones.
TIMES = [dt.date(2015, 1, 1), dt.date(2015, 7, 1), dt.date(2016, 1, 1), dt.date(2016, 4, 1),
         dt.date(2017, 1, 1)]
# metric, parameter, second metric (for best_average_two_metrics), agg_type, max_from_best, threshold
CASES = [
    ("precision@", "10_pct", ("recall@", "10_pct"), "worst", 0.45, 0.1),
    ("precision@", "100_abs", ("recall@", "100_abs"), "mean", 1.0, 0.0),
    ("fpr@", "5_pct", ("false positives@", "5_pct"), "best", 0.5, 0.9),
    ("roc_auc", "", ("average precision score", ""), "worst", 0.4, 0.3),
]
GROUPS = 14


def _rule_grid(metric, parameter, metric2, parameter2) -> list[dict]:
    """Every Audition rule, with lists of parameters expanded by Audition's own grid maker."""
    return [
        {"shared_parameters": [{"metric": metric, "parameter": parameter}],
         "selection_rules": [
             {"name": "best_current_value"},
             {"name": "best_current_value", "n": 3},
             {"name": "best_average_value"},
             {"name": "lowest_metric_variance"},
             {"name": "most_frequent_best_dist", "dist_from_best_case": [0.0, 0.05, 0.1]},
             {"name": "best_avg_var_penalized", "stdev_penalty": [0.5, 2.0]},
             {"name": "best_avg_recency_weight", "curr_weight": [1.5, 5.0],
              "decay_type": ["linear", "exponential"]},
         ]},
        # random_model_group takes no metric: a group of its own with no shared parameters.
        {"shared_parameters": [{}],
         "selection_rules": [{"name": "random_model_group"}]},
        {"shared_parameters": [{"metric1": metric, "parameter1": parameter}],
         "selection_rules": [{"name": "best_average_two_metrics", "metric2": metric2,
                              "parameter2": parameter2, "metric1_weight": [0.3, 0.5]}]},
    ]


def _generate(case_no: int, case) -> dict:
    """Evaluations of one case: model group ids case_no * 100 + 1.., model ids case_no * 1000 + ..
    Values on a grid of `step`, so that ties are common (more so the coarser the grid)."""
    metric, parameter, (metric2, parameter2), agg_type, *_ = case
    rng = random.Random(f"audition-{case_no}")
    step = (0.1, 0.01, 0.05, 0.02)[case_no - 1]  # a coarse grid: ties
    groups = [case_no * 100 + g for g in range(1, GROUPS + 1)]
    models, evaluations, model_id = [], [], case_no * 1000
    for group in groups:
        level = rng.random()
        for t, time in enumerate(TIMES):
            if group == groups[-1] and t == len(TIMES) - 1:
                continue  # no model at the newest time: Audition and prodline leave the group out
            for _ in range(2 if agg_type != "worst" or group % 3 == 0 else 1):
                model_id += 1
                models.append((model_id, group, time))
                for m, p in ((metric, parameter), (metric2, parameter2)):
                    scale = 100 if "positives" in m else 1  # a count
                    value = min(1.0, max(0.0, level + rng.gauss(0, 0.15)))
                    value = round(round(value / step) * step, 10) * scale
                    start = dt.datetime.combine(time, dt.time())
                    evaluations.append((model_id, "", start, start + dt.timedelta(days=30), m, p, value))
                    # Audition reads the whole cohort ('' subset) and each model's first evaluation only.
                    evaluations.append((model_id, "a1b2", start, start, m, p, -7.0))
                    later = start + dt.timedelta(days=60)
                    evaluations.append((model_id, "", later, later, m, p, -5.0))
    return {"groups": groups, "models": models, "evaluations": evaluations}


def _load(url: str, data: list[dict]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE SCHEMA triage_metadata; CREATE SCHEMA test_results;"
            "CREATE TABLE triage_metadata.model_groups (model_group_id int PRIMARY KEY, model_type text);"
            "CREATE TABLE triage_metadata.models (model_id int PRIMARY KEY, model_group_id int, "
            "train_end_time timestamp);"
            "CREATE TABLE test_results.evaluations (model_id int, subset_hash varchar(36), "
            "evaluation_start_time timestamp, evaluation_end_time timestamp, metric varchar, "
            "parameter varchar, stochastic_value numeric)"))
        for case in data:
            conn.execute(sa.text("INSERT INTO triage_metadata.model_groups VALUES (:g, 'sklearn.tree.Tree')"),
                         [{"g": g} for g in case["groups"]])
            conn.execute(sa.text("INSERT INTO triage_metadata.models VALUES (:m, :g, :t)"),
                         [{"m": m, "g": g, "t": t} for m, g, t in case["models"]])
            conn.execute(sa.text("INSERT INTO test_results.evaluations "
                                 "VALUES (:m, :s, :a, :b, :metric, :p, :v)"),
                         [dict(zip(("m", "s", "a", "b", "metric", "p", "v"), e, strict=True))
                          for e in case["evaluations"]])
    engine.dispose()


def _history(case, data) -> pd.DataFrame:
    """prodline's history: each model's first whole-cohort evaluation, one row per model and split,
    with the second metric as value2; group ids zero-padded so that their order is Audition's."""
    metric, parameter, (metric2, parameter2), agg_type, *_ = case
    first = {}
    for model_id, subset, _start, _end, m, p, value in data["evaluations"]:
        if subset == "" and (model_id, m, p) not in first:
            first[(model_id, m, p)] = value
    frame = pd.DataFrame(
        [(f"{g:05d}", pd.Timestamp(t), str(mid), first[(mid, metric, parameter)],
          first[(mid, metric2, parameter2)]) for mid, g, t in data["models"]],
        columns=["model_group_id", "split_time", "model_id", "value", "value2"])
    return rules.aggregate(frame, agg_type, greater_is_better(metric))


def _audition_kept(scored: pd.DataFrame, max_from_best: float, threshold: float, gib: bool) -> list[str]:
    """The documented difference: Audition's code keeps a group that is less than max_from_best from
    the best at ONE time or more (and no worse than threshold at every time)."""
    close = (scored["dist_from_best"] < max_from_best - 1e-12).groupby(scored["model_group_id"]).any()
    above = (scored["value"] >= threshold - 1e-12) if gib else (scored["value"] <= threshold + 1e-12)
    above = above.groupby(scored["model_group_id"]).all()
    return sorted(close.index[close & above])


def _params(args: dict) -> dict:
    return {k: v for k, v in args.items() if k not in ("metric", "parameter")}


# An undefined value: group 903 has none at the second time (NULL in PostgreSQL, NaN in prodline).
UNDEFINED = {(901, 0): 0.5, (902, 0): 0.6, (903, 0): 0.7, (901, 1): 0.4, (902, 1): 0.8, (903, 1): None}


def _undefined() -> dict:
    models = [(9000 + i, g, TIMES[t]) for i, (g, t) in enumerate(UNDEFINED)]
    evaluations = [(m, "", dt.datetime.combine(t, dt.time()), dt.datetime.combine(t, dt.time()),
                    "precision@", "10_pct", UNDEFINED[(g, TIMES.index(t))]) for m, g, t in models]
    return {"groups": [901, 902, 903], "models": models, "evaluations": evaluations}


@pytest.fixture(scope="module")
def audition(triage):
    """Audition's answers on every case (the last: UNDEFINED), and the data they came from."""
    data = [_generate(i + 1, case) for i, case in enumerate(CASES)] + [_undefined()]
    with postgres_database("prodline_audition") as text:
        url = sa.make_url(text)
        _load(url, data)
        payload = {"db_url": url.render_as_string(hide_password=False), "cases": [
            {"model_group_ids": d["groups"], "train_end_times": [t.isoformat() for t in TIMES],
             "filters": [{"metric": m, "parameter": p, "max_from_best": mfb, "threshold_value": th},
                         # the second metric in the distance table, for best_average_two_metrics only
                         {"metric": m2, "parameter": p2, "max_from_best": 1e9,
                          "threshold_value": -1e9 if greater_is_better(m2) else 1e9}],
             "agg_type": agg, "distance_table": f"best_distance_{i}", "seeds": list(SEEDS),
             "rules": _rule_grid(m, p, m2, p2)}
            for i, ((m, p, (m2, p2), agg, mfb, th), d) in enumerate(zip(CASES, data, strict=False))]}
        payload["cases"].append(
            {"model_group_ids": [901, 902, 903], "train_end_times": [t.isoformat() for t in TIMES[:2]],
             "filters": [{"metric": "precision@", "parameter": "10_pct", "max_from_best": 0.15,
                          "threshold_value": 0.0}],
             "agg_type": "worst", "distance_table": "best_distance_undefined", "seeds": [0],
             "rules": [{"shared_parameters": [{"metric": "precision@", "parameter": "10_pct"}],
                        "selection_rules": [{"name": "best_average_value"}]}]})
        answers = triage("audition.py", payload, seconds=300)
    return data, answers


@pytest.mark.parametrize("case_no", range(len(CASES)))
def test_distance_table(audition, case_no):
    data, answers = audition
    case = CASES[case_no]
    gib = greater_is_better(case[0])
    history = _history(case, data[case_no])
    whole = rules.complete(history)
    assert history["model_group_id"].nunique() - whole["model_group_id"].nunique() == 1  # the partial group
    scored = rules.distance_from_best(whole, gib).set_index(["model_group_id", "split_time"]).sort_index()
    nxt = scored.groupby(level="model_group_id")[["value", "dist_from_best"]].shift(-1)
    rows = [r for r in answers[case_no]["distances"] if r["metric"] == case[0]]
    assert len(rows) == len(scored) == (GROUPS - 1) * len(TIMES)
    for r in rows:
        key = (f"{r['model_group_id']:05d}", pd.Timestamp(r["train_end_time"]))
        ours = scored.loc[key]
        assert r["raw_value"] == pytest.approx(ours["value"], abs=1e-9)
        assert r["best_case"] == pytest.approx(ours["best_value"], abs=1e-9)
        assert r["dist_from_best_case"] == pytest.approx(ours["dist_from_best"], abs=1e-9)
        if math.isnan(nxt.loc[key, "value"]):
            assert r["raw_value_next_time"] is None and r["dist_from_best_case_next_time"] is None
        else:
            assert r["raw_value_next_time"] == pytest.approx(nxt.loc[key, "value"], abs=1e-9)
            following = nxt.loc[key, "dist_from_best"]
            assert r["dist_from_best_case_next_time"] == pytest.approx(following, abs=1e-9)


def _scored(case_no, data):
    case = CASES[case_no]
    gib = greater_is_better(case[0])
    return rules.distance_from_best(rules.complete(_history(case, data[case_no])), gib), gib


def _group(audition_id) -> str:
    return f"{audition_id:05d}"


@pytest.mark.parametrize("case_no", range(len(CASES)))
def test_filter(audition, case_no):
    """Audition keeps the groups close to the best at one time or more; prodline, at every time."""
    data, answers = audition
    _, _, _, _, max_from_best, threshold = CASES[case_no]
    scored, gib = _scored(case_no, data)
    theirs = [_group(g) for g in answers[case_no]["kept"]]
    assert theirs == _audition_kept(scored, max_from_best, threshold, gib)
    ours = rules.filter_groups(scored, max_from_best, threshold, gib)
    # Exactly the groups close to the best at some times but not at all of them.
    close = (scored["dist_from_best"] < max_from_best - 1e-12).groupby(scored["model_group_id"])
    sometimes = set(close.any().index[close.any() & ~close.all()])
    assert set(ours) <= set(theirs) and set(theirs) - set(ours) == sometimes & set(theirs)
    assert ours == sorted(set(close.all().index[close.all()]) & set(theirs))
    FILTERED[case_no] = (len(ours), len(theirs))


FILTERED: dict[int, tuple[int, int]] = {}


def _rule_checks(case_no, data, answer):
    """Each rule's picks and regrets on Audition's kept groups, against prodline's; returns
    (rule, tie broken?) for the summary."""
    scored, gib = _scored(case_no, data)
    kept = [_group(g) for g in answer["kept"]]
    pool = scored[scored["model_group_id"].isin(kept)]
    dist = scored.set_index(["split_time", "model_group_id"])["dist_from_best"]
    outcomes = []
    for rule in answer["rules"]:
        name, params = rule["name"], _params(rule["args"])
        at_random = name == "random_model_group"
        ours = rules.regrets(scored, name, params, gib, kept)
        broken, picks, same = False, 0, 0
        for run in rule["runs"]:
            # The newest time: what the Auditioner reports as the rule's pick (n groups, best first).
            newest = [_group(g) for g in run["newest"]]
            tied = rules.tied(pool, name, params, gib)
            ours_now = rules.pick(pool, name, params, gib)
            if name == "best_current_value" and params.get("n", 1) == 1:
                assert newest and set(newest) <= set(tied)  # Audition returns every tied group, shuffled
            else:
                assert len(newest) == min(params.get("n", 1), len(kept)), rule["descriptive"]
                assert newest[0] in tied, rule["descriptive"]
            assert ours_now in tied
            if not at_random:
                assert ours_now == tied[0]
            broken |= newest[0] != ours_now
            picks, same = picks + 1, same + (newest[0] == ours_now)
            # Every earlier time: the pick as seen then, and its regret at the next time.
            assert len(run["past"]) == len(TIMES) - 1
            for t, (past, row) in enumerate(zip(run["past"], ours.itertuples(), strict=True)):
                now = pd.Timestamp(past["time"])
                assert now == row.split_time
                seen = pool[pool["split_time"] <= now]
                tied_then = rules.tied(seen, name, params, gib)
                theirs = _group(past["chosen"])
                assert theirs in tied_then, (rule["descriptive"], now)
                # Where Audition picks at random among every group (the random rule; no spread yet at
                # the first time), prodline's pick is a fixed one; otherwise the smallest tied id.
                random_now = at_random or (name == "lowest_metric_variance" and t == 0)
                assert row.chosen in tied_then and (random_now or row.chosen == tied_then[0])
                after = TIMES[t + 1]
                assert past["regret"] == pytest.approx(dist[(pd.Timestamp(after), theirs)], abs=1e-9)
                if theirs == row.chosen:
                    assert past["regret"] == pytest.approx(row.regret, abs=1e-9)
                broken |= theirs != row.chosen
                picks, same = picks + 1, same + (theirs == row.chosen)
            if all(_group(p["chosen"]) == c for p, c in zip(run["past"], ours["chosen"], strict=True)):
                theirs_mean = sum(p["regret"] for p in run["past"]) / len(run["past"])
                assert theirs_mean == pytest.approx(ours["regret"].mean(), abs=1e-9)
        outcomes.append((name, broken, picks, same))
    return outcomes


def test_rules_and_regrets(audition):
    """Every Audition rule on every case; a rule whose picks differ from Audition's did so only on a
    tie (checked in _rule_checks), and most (case, rule) pairs agree outright under every seed."""
    data, answers = audition
    names = {r["name"] for a in answers for r in a["rules"]}
    assert names == set(rules.RULES)
    outcomes = [o for case_no in range(len(CASES)) for o in _rule_checks(case_no, data, answers[case_no])]
    assert len(outcomes) == len(CASES) * 16
    outright = sum(not o[1] for o in outcomes)
    picks, same = sum(o[2] for o in outcomes), sum(o[3] for o in outcomes)
    by_rule = {}
    for name, broken, *_ in outcomes:
        by_rule.setdefault(name, []).append(broken)
    print(f"\n{outright} of {len(outcomes)} (case, rule) pairs identical under every seed; {same} of {picks} "
          f"picks identical, the rest tie-broken; filter kept (prodline, Audition) per case: {FILTERED}")
    print({k: f"{v.count(False)}/{len(v)}" for k, v in by_rule.items()})
    assert same >= picks // 2


def test_an_undefined_value_makes_audition_s_best_undefined(audition):
    """The documented difference: at a time where one group's value is NULL, Audition's ranking puts
    the NULL first (ORDER BY value DESC), so the best and every distance there are NULL, and no group
    is close to the best there; prodline leaves the undefined value out of the best."""
    _, answers = audition
    theirs = {(r["model_group_id"], r["train_end_time"]): r for r in answers[-1]["distances"]}
    second = TIMES[1].isoformat()
    assert all(theirs[(g, second)]["best_case"] is None for g in (901, 902, 903))
    assert all(theirs[(g, second)]["dist_from_best_case"] is None for g in (901, 902, 903))
    assert theirs[(901, TIMES[0].isoformat())]["dist_from_best_case"] == pytest.approx(0.2, abs=1e-9)
    frame = pd.DataFrame([(f"{g:05d}", pd.Timestamp(TIMES[t]), str(g), math.nan if v is None else v)
                          for (g, t), v in UNDEFINED.items()], columns=list(rules.COLUMNS))
    ours = rules.distance_from_best(frame, True).set_index(["model_group_id", "split_time"])
    at = pd.Timestamp(TIMES[1])
    assert ours.loc[("00901", at), "best_value"] == 0.8
    assert ours.loc[("00901", at), "dist_from_best"] == pytest.approx(0.4, abs=1e-9)
    assert math.isnan(ours.loc[("00903", at), "dist_from_best"])
    # Both keep 902 here: Audition as close to the best (.7) at the first time, 903 failing the
    # threshold where its value is NULL; prodline as .1 from the best at the first time and the best
    # (.8) at the second, 903 undefined there.
    assert answers[-1]["kept"] == [902]
    assert rules.filter_groups(frame, 0.15, 0.0, True) == ["00902"]


def test_audition_config_selects_as_audition(audition):
    """The Audition config the Triage side ran, read as prodline's selection section: where both filters
    keep the same groups (the second case), prodline's challenger is Audition's pick of the first rule
    (of the groups tied for it), and every other rule of the grid is judged."""
    from prodline.config.production import SelectionConfig

    data, answers = audition
    case_no = 1
    metric, parameter, (metric2, parameter2), agg_type, max_from_best, threshold = CASES[case_no]
    cfg = SelectionConfig.model_validate({
        "filter": {"metric": metric, "parameter": parameter, "max_from_best": max_from_best,
                   "threshold_value": threshold, "agg_type": agg_type, "distance_table": "best_distance_1",
                   "models_table": "models"},
        "rules": _rule_grid(metric, parameter, metric2, parameter2)})
    assert len(cfg.judged) == 15 and (cfg.rule, cfg.params) == ("best_current_value", {})
    history = _history(CASES[case_no], data[case_no])
    gib = cfg.greater_is_better
    chosen = rules.select(history, cfg.rule, cfg.params, cfg.max_from_best, cfg.threshold, gib)
    assert list(chosen.kept) == [_group(g) for g in answers[case_no]["kept"]]
    first = answers[case_no]["rules"][0]
    assert first["name"] == cfg.rule
    theirs = {_group(g) for run in first["runs"] for g in run["newest"]}
    assert chosen.model_group_id == min(theirs)
    judged = [(e["name"], {k: v for k, v in e.items() if k != "name"}) for e in cfg.judged]
    table = rules.rule_regrets(history, gib, {cfg.rule: cfg.params}, chosen.kept, judged)
    assert {"most_frequent_best_dist_0.05", "best_avg_recency_weight_5.0_exponential",
            "best_average_two_metrics_precision@_100_abs_recall@_100_abs_0.3"} <= set(table["rule"])
