"""Triage's Audition config (audition.yaml: `filter`, `rules`, `model_groups`, `time_stamps`) read as
another spelling of the `selection` section.

Audition simulates a grid of selection rules and leaves the choice to a person; prodline proposes one
challenger. So the first rule of the grid proposes it, and every rule of the grid is judged beside it
by its regret (`judged`), as Audition's plots do.
"""

from itertools import product
from typing import Any

from prodline.config.base import Located
from prodline.config.metrics import WITHOUT_CUTOFF

# filter key -> selection field
FILTER_KEYS = {"metric": "metric", "parameter": "parameter", "max_from_best": "max_from_best",
               "threshold_value": "threshold", "agg_type": "agg_type"}
# Names of Triage's own tables: prodline computes the distances in memory from its evaluations.
WITHOUT_EFFECT = ("distance_table", "models_table")
REFUSED = {
    "model_groups": "prodline chooses among the model groups of its grid (baselines left out); a query "
                    "on Triage's triage_metadata schema cannot be honoured: remove model_groups",
    "time_stamps": "prodline judges every split it has evaluated; a query on Triage's triage_metadata "
                   "schema cannot be honoured: remove time_stamps",
}
# Shared parameters naming the metric: the rules' metric must be the selection metric.
_METRIC_KEYS = (("metric", "parameter"), ("metric1", "parameter1"))


def from_audition(data: dict) -> dict:
    """`data` with Audition's keys replaced by the selection section's own; Located problems else."""
    data, problems = dict(data), []
    if "threshold_value" in data:
        if "threshold" in data:
            problems.append((("threshold_value",), "threshold_value is threshold: write one of them"))
        data["threshold"] = data.pop("threshold_value")
    problems += [((key,), why) for key, why in REFUSED.items() if key in data]
    if "filter" in data:
        problems += _filter(data, data.pop("filter"))
    if data.get("metric") in WITHOUT_CUTOFF and "parameter" not in data:
        data["parameter"] = ""  # the default cutoff does not apply to a metric without one
    if "rules" in data:
        problems += _rules(data, data.pop("rules"))
    if problems:
        raise Located(problems)
    return data


def _filter(data: dict, section: Any) -> list[tuple[tuple, str]]:
    if not isinstance(section, dict):
        return [(("filter",), "must be a mapping (metric, parameter, max_from_best, threshold_value)")]
    problems = []
    for key, value in section.items():
        if key in WITHOUT_EFFECT:
            continue
        if key not in FILTER_KEYS:
            known = ", ".join([*FILTER_KEYS, *WITHOUT_EFFECT])
            problems.append((("filter", key), f"unknown key (Audition's filter has {known})"))
        elif FILTER_KEYS[key] in data:
            problems.append((("filter", key), f"given twice: here and as selection.{FILTER_KEYS[key]}"))
        else:
            data[FILTER_KEYS[key]] = value
    return problems


def _rules(data: dict, groups: Any) -> list[tuple[tuple, str]]:
    """Audition's rule grid, expanded as its make_selection_rule_grid expands it."""
    if not isinstance(groups, list) or not groups:
        return [(("rules",), "must be a list of rule groups (shared_parameters, selection_rules)")]
    expanded, problems = [], []
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or set(group) != {"shared_parameters", "selection_rules"}:
            problems.append((("rules", g), "a rule group has shared_parameters and selection_rules"))
            continue
        shared, chosen = group["shared_parameters"], group["selection_rules"]
        if not isinstance(shared, list) or not isinstance(chosen, list) or not all(
                isinstance(x, dict) for x in [*shared, *chosen]):
            problems.append((("rules", g), "shared_parameters and selection_rules are lists of mappings"))
            continue
        for s, shared_set in enumerate(shared):
            problems += _same_metric(data, shared_set, ("rules", g, "shared_parameters", s))
            for rule in chosen:
                keys = list(rule)
                for values in product(*(v if isinstance(v, list) else [v] for v in rule.values())):
                    params = {**dict(zip(keys, values, strict=True)), **shared_set}
                    for key in ("metric", "parameter"):
                        params.pop(key, None)  # the selection metric, checked above
                    expanded.append(params)
    if problems:
        return problems
    first, *rest = expanded
    if "rule" in data or "params" in data:
        return [(("rules",), "given twice: rules and selection.rule/params")]
    data["rule"] = first.pop("name", None)
    data["params"] = first
    data["judged"] = [*data.get("judged", []), *rest]
    return []


def _same_metric(data: dict, shared: dict, at: tuple) -> list[tuple[tuple, str]]:
    """prodline judges every rule on the selection metric, so a shared metric must be that one."""
    problems = []
    for metric_key, parameter_key in _METRIC_KEYS:
        if metric_key in shared or parameter_key in shared:
            named = (shared.get(metric_key), str(shared.get(parameter_key, "")))
            wanted = (data.get("metric", "precision@"), str(data.get("parameter", "10_pct")))
            if named != wanted:
                problems.append((at, f"{named[0]}{named[1]} differs from the filter's metric "
                                     f"{wanted[0]}{wanted[1]}: prodline selects and judges on one metric"))
    return problems
