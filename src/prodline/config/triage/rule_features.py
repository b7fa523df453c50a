"""Triage's baselines in the grid name features: BaselineRankMultiFeature's rules
(`[{feature: ..., low_value_high_score: ...}]`), PercentileRankOneFeature's `feature`, and
SimpleThresholder's rules (`'feature > 0'` or `{feature_name, operator, threshold}`). A name no
feature aggregation produces would fail only when the baseline is trained (Triage: "not included in
the training matrix"); here it is refused at load, with the closest names the aggregations produce.
"""

import difflib
from typing import Any

from pydantic import ValidationError

from prodline.config.features import FeatureConfig
from prodline.config.triage.renames import Renames

# A baseline's class name -> its parameter that names features, and the key a rule names one by.
NAMED_BY = {"BaselineRankMultiFeature": ("rules", "feature"),
            "PercentileRankOneFeature": ("feature", None),
            "SimpleThresholder": ("rules", "feature_name")}
_PACKAGES = ("triage.component.catwalk.baselines.", "prodline.pipeline.models.")


def rule_feature_problems(native: dict, renames: Renames) -> list[str]:
    """Each feature a baseline of `grid.models` names that `features` do not produce."""
    grid, aggregations = native.get("grid"), native.get("features")
    models = grid.get("models") if isinstance(grid, dict) else None
    if not isinstance(models, dict) or not isinstance(aggregations, list):
        return []
    features, unknown = [], []
    for aggregation in aggregations:
        try:
            features.append(FeatureConfig.model_validate(aggregation))
        except ValidationError:  # reported as such; its names are not judged
            prefix = aggregation.get("prefix") if isinstance(aggregation, dict) else None
            unknown.append(f"{prefix}_" if isinstance(prefix, str) else "")
    produced = produced_names(features)
    problems = []
    for path, params in models.items():
        named = NAMED_BY.get(str(path).rsplit(".", 1)[-1]) if str(path).startswith(_PACKAGES) else None
        if named is None or not isinstance(params, dict) or named[0] not in params:
            continue
        for where, name in _names(params[named[0]], (named[0],), named[1]):
            if not _produced(name, produced, features) and not name.startswith(tuple(unknown)):
                problems.append(f"{renames.where(('grid', 'models', path, *where))}: {name!r} is not a "
                                f"feature the feature aggregations produce; {_closest(name, produced)}")
    return problems


def produced_names(features: list[FeatureConfig]) -> list[str]:
    """Every feature name the aggregations make, with Triage's imputation flags (`..._imp`)."""
    from prodline.pipeline.as_of.feature_columns import feature_columns  # the library imports config

    names = []
    for feature in features:
        choices = {f"{section}.{i}": list(c.choices or [])
                   for section in ("categoricals", "array_categoricals")
                   for i, c in enumerate(getattr(feature, section))}
        columns = feature_columns(feature, choices)
        names += [c.name for c in columns] + list(dict.fromkeys(c.flag for c in columns if c.flag))
    return names


def _names(value: Any, where: tuple, key: str | None) -> list[tuple[tuple, str]]:
    """(path, feature name) of every rule in a parameter's value(s), lists walked."""
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _names(item, (*where, i), key)]
    if key is None:
        return [(where, value)] if isinstance(value, str) else []
    if isinstance(value, dict):
        name = value.get(key)
        return [((*where, key), name)] if isinstance(name, str) else []
    if isinstance(value, str) and key == "feature_name":
        parts = value.rsplit(" ", 2)  # Triage's parse: 'feature > 3'; malformed rules are the grid's
        return [(where, parts[0])] if len(parts) == 3 else []
    return []


def _produced(name: str, produced: list[str], features: list[FeatureConfig]) -> bool:
    if name in produced:
        return True
    # A choice_query's choices are known when the features are built: any name of its pattern may be.
    for feature in features:
        for cat in feature.categoricals + feature.array_categoricals:
            if cat.choice_query is not None and any(
                    name.startswith(f"{feature.prefix}_entity_id_{interval}_{cat.column}_")
                    and name.endswith(tuple(f"_{m.value}" for m in cat.metrics))
                    for interval in feature.intervals):
                return True
    return False


def _closest(name: str, produced: list[str]) -> str:
    close = difflib.get_close_matches(name, produced, n=5, cutoff=0.5)
    if close:
        return "the closest: " + ", ".join(close)
    return f"none is close; they are named like {', '.join(produced[:3])}" if produced else \
        "the aggregations produce none"
