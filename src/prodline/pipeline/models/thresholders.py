"""Triage's SimpleThresholder (triage.component.catwalk.baselines.thresholders): 1 for a row that
meets any of the rules (`logical_operator: or`) or all of them (`and`), else 0.

A rule is `"feature > 5"` (an integer threshold, as Triage parses it) or
`{feature_name, operator, threshold}`. Triage rewrites the operator of a dict rule in place, in the
config itself; here the rules are kept as given and read when scoring.
"""

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from prodline.pipeline.models.rankers import importances_of

OPERATOR_METHODS = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "==": "eq"}
REQUIRED_KEYS = frozenset(["feature_name", "operator", "threshold"])
COMBINATIONS = {"or": "any", "and": "all"}


def operator_method(operator: str) -> str:
    if operator not in OPERATOR_METHODS:
        raise ValueError(f"Operator '{operator}' extracted from rule is not a supported operator "
                         f"({', '.join(OPERATOR_METHODS)}).")
    return OPERATOR_METHODS[operator]


def parsed(rule) -> dict:
    """A rule as {feature_name, operator (pandas' method), threshold}, or why it cannot be one."""
    if isinstance(rule, str):
        parts = rule.rsplit(" ", 2)
        if len(parts) < 3:
            raise ValueError(f'feature_name, operator and threshold could not be parsed from rule "{rule}". '
                             "Are they all present and separated by spaces?")
        try:
            threshold = int(parts[2])
        except ValueError:
            raise ValueError(f'Threshold "{parts[2]}" parsed from rule "{rule}" is not an int.') from None
        return {"feature_name": parts[0], "operator": operator_method(parts[1]), "threshold": threshold}
    if not isinstance(rule, dict):
        raise ValueError(f'Rule "{rule}" is not of a supported type (string or dict).')
    if not rule.keys() >= REQUIRED_KEYS:
        raise ValueError(f'Rule "{rule}" missing one or more required keys '
                         f'({", ".join(sorted(REQUIRED_KEYS))}).')
    return {**rule, "operator": operator_method(rule["operator"])}


class SimpleThresholder(ClassifierMixin, BaseEstimator):
    takes_frame = True
    _parameter_constraints: ClassVar[dict] = {}  # checked in __init__, as Triage does

    def __init__(self, rules, logical_operator="or", random_state=42):
        if logical_operator not in COMBINATIONS:
            raise ValueError(f"logical_operator must be 'or' or 'and', not {logical_operator!r}")
        self._parsed = [parsed(r) for r in (rules if isinstance(rules, list) else [rules])]
        self.rules = rules
        self.logical_operator = logical_operator
        self.random_state = random_state

    @property
    def all_feature_names(self) -> list[str]:
        return [rule["feature_name"] for rule in self._parsed]

    def fit(self, x, y):
        self.feature_importances_ = importances_of(x, self.all_feature_names, "SimpleThresholder's rules")
        self.classes_, self.n_features_in_ = np.array([0, 1]), len(x.columns)
        return self

    def predict_proba(self, x):
        met = pd.concat([getattr(x[r["feature_name"]], r["operator"])(r["threshold"]) for r in self._parsed],
                        axis=1)
        scores = getattr(met, COMBINATIONS[self.logical_operator])(axis=1).astype(int).to_numpy()
        return np.array([scores, scores]).transpose()

    def predict(self, x):
        return self.predict_proba(x)[:, 1]
