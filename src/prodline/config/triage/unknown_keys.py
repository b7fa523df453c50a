"""Keys Triage does not know, each with the closest key it does (difflib). Triage ignores an unknown
key without a word, so a misspelt `feature_aggregation` or `label_timespan` would quietly change the
experiment; prodline refuses it and says what was probably meant.

The known keys of a section are its native model's fields (the native sections take Triage's keys
verbatim), and the Triage spellings those sections translate before validation.
"""

import difflib
from typing import Any

from pydantic import BaseModel

from prodline.config.as_of import CohortConfig, LabelConfig
from prodline.config.bias import BiasAuditConfig, BiasThresholds
from prodline.config.features import Aggregate, Categorical, FeatureConfig
from prodline.config.scoring import MetricGroup, ScoringConfig, Subset, Thresholds
from prodline.config.temporal import TemporalConfig
from prodline.config.triage.renames import Origin, Renames
from prodline.config.triage.vocabulary import PRODLINE_SECTIONS, TRIAGE_KEYS

# Triage's top-level key -> the model that reads its value (a list of them for a list).
SECTIONS: dict[str, Any] = {
    "temporal_config": TemporalConfig, "cohort_config": CohortConfig, "label_config": LabelConfig,
    "feature_aggregations": [FeatureConfig], "scoring": ScoringConfig,
    "bias_audit_config": BiasAuditConfig,
}
# Inner keys that hold a model of their own.
CHILDREN: dict[tuple[type, str], Any] = {
    (FeatureConfig, "aggregates"): [Aggregate], (FeatureConfig, "categoricals"): [Categorical],
    (FeatureConfig, "array_categoricals"): [Categorical],
    (ScoringConfig, "testing_metric_groups"): [MetricGroup],
    (ScoringConfig, "training_metric_groups"): [MetricGroup], (ScoringConfig, "subsets"): [Subset],
    (MetricGroup, "thresholds"): Thresholds, (BiasAuditConfig, "thresholds"): BiasThresholds,
}
# Triage's spellings a native section translates before validation.
TRIAGE_SPELLINGS: dict[type, tuple[str, ...]] = {
    TemporalConfig: ("label_timespans",), LabelConfig: ("include_missing_labels_in_train_as",),
}


def closest(word: Any, known: list[str] | tuple[str, ...]) -> str:
    """'did you mean X?', or the known keys when none is close."""
    match = difflib.get_close_matches(str(word), known, n=1)
    return f"did you mean {match[0]}?" if match else f"the keys are {', '.join(known)}"


def unknown_top_level(key: Any, origin: Origin) -> str:
    return (f"{origin.where((key,))}: not a key of Triage's experiment config (v8) nor a prodline "
            f"section; {closest(key, [*TRIAGE_KEYS, *PRODLINE_SECTIONS])} (Triage would silently "
            "ignore it)")


def unknown_inner(value: Any, key: str, native: tuple, origin: Origin, renames: Renames) -> list[str]:
    """The unknown keys inside Triage's section `key` (its value moved to `native`)."""
    model = SECTIONS.get(key)
    return [] if model is None else _walk(value, model, (key,), native, origin, renames)


def _walk(value: Any, model: Any, written: tuple, native: tuple, origin: Origin,
          renames: Renames) -> list[str]:
    if isinstance(model, list):
        items = value if isinstance(value, list) else []
        return [p for i, item in enumerate(items)
                for p in _walk(item, model[0], (*written, i), (*native, i), origin, renames)]
    if not isinstance(value, dict) or not isinstance(model, type) or not issubclass(model, BaseModel):
        return []
    known = [*model.model_fields, *TRIAGE_SPELLINGS.get(model, ())]
    problems = []
    for inner, item in value.items():
        if inner not in known:
            renames.reported.add((*native, inner))  # pydantic would only say "unknown key"
            problems.append(f"{origin.where((*written, inner))}: not a key Triage knows here; "
                            f"{closest(inner, known)}")
        elif (child := CHILDREN.get((model, inner))) is not None:
            problems += _walk(item, child, (*written, inner), (*native, inner), origin, renames)
    return problems
