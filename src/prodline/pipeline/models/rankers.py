"""Triage's ranking baselines (triage.component.catwalk.baselines.rankers), the same scores: a
list ordered by one or a few features, the rule of thumb a model has to beat.

They read features by name, so they are fitted and scored on a DataFrame (`takes_frame`). Unlike
Triage's, their parameters are kept as given, so scikit-learn's `get_params` and `clone` work.
"""

from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin


def importances_of(x: pd.DataFrame, names: list[str], what: str) -> np.ndarray:
    """1 for each feature the baseline uses, 0 for the others; a feature the matrix lacks is an error."""
    weights = np.zeros(len(x.columns), dtype=int)
    for name in names:
        if name not in x.columns:
            raise ValueError(f"{what} refers to a feature ({name}) not included in the training matrix")
        weights[x.columns.get_loc(name)] = 1
    return weights


class PercentileRankOneFeature(ClassifierMixin, BaseEstimator):
    """The share of rows ranked below each row by one feature (ties share the lowest rank), or above
    it with `low_value_high_score`. Triage's score is in the second column and 0 in the first."""

    takes_frame = True
    _parameter_constraints: ClassVar[dict] = {}  # checked in __init__, as Triage does

    def __init__(self, feature, low_value_high_score=None, descend=None, random_state=42):
        if descend is not None and low_value_high_score is not None:
            raise ValueError("Only one of `descend` or `low_value_high_score` can be specified for "
                             "PercentileRankOneFeature.")
        self.feature = feature
        self.low_value_high_score = low_value_high_score
        self.descend = descend  # Triage's deprecated name for low_value_high_score
        self.random_state = random_state

    @property
    def _low_high(self) -> bool:
        chosen = self.descend if self.descend is not None else self.low_value_high_score
        return bool(chosen) if chosen is not None else False

    def fit(self, x, y):
        self.feature_importances_ = importances_of(x, [self.feature], "PercentileRankOneFeature")
        self.classes_, self.n_features_in_ = np.array([0, 1]), len(x.columns)
        return self

    def predict_proba(self, x):
        values = x[self.feature]
        if self._low_high:
            ranks = 1 - stats.rankdata(values, "max") / len(values)
        else:
            ranks = (stats.rankdata(values, "min") - 1) / len(values)
        return np.array([np.zeros(len(values)), ranks]).transpose()

    def predict(self, x):
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


class BaselineRankMultiFeature(ClassifierMixin, BaseEstimator):
    """Rows sorted by several features in turn (each rule: `feature`, `low_value_high_score`), ties
    sharing a rank, ranks scaled to [0, 1]. Where Triage divides by zero (all rows tied, or one
    row), every score here is 0."""

    takes_frame = True
    _parameter_constraints: ClassVar[dict] = {}  # checked in __init__, as Triage does
    REQUIRED_KEYS = frozenset(["feature", "low_value_high_score"])

    def __init__(self, rules, random_state=42):
        for rule in rules if isinstance(rules, list) else [rules]:
            if not isinstance(rule, dict):
                raise ValueError("Rules for BaselineRankMultiFeature must be of type dict")
            if not rule.keys() >= self.REQUIRED_KEYS:
                raise ValueError(f'BaselineRankMultiFeature rule "{rule}" missing one or more required keys '
                                 f"({', '.join(sorted(self.REQUIRED_KEYS))})")
        self.rules = rules
        self.random_state = random_state

    @property
    def _rules(self) -> list[dict]:
        return self.rules if isinstance(self.rules, list) else [self.rules]

    @property
    def all_feature_names(self) -> list[str]:
        return [rule["feature"] for rule in self._rules]

    def fit(self, x, y):
        self.feature_importances_ = importances_of(x, self.all_feature_names, "BaselineRankMultiFeature")
        self.classes_, self.n_features_in_ = np.array([0, 1]), len(x.columns)
        return self

    def predict_proba(self, x):
        names = self.all_feature_names
        # ascending means low values get low scores, hence the negation (as in Triage)
        ordered = x[names].reset_index(drop=True).sort_values(
            names, ascending=[not rule["low_value_high_score"] for rule in self._rules])
        values = ordered.to_numpy()
        # A new rank wherever a row differs from the one before (NaN never equals, as in Triage).
        changed = np.ones(len(values), dtype=bool)
        changed[1:] = (values[1:] != values[:-1]).any(axis=1)
        ranks = np.cumsum(changed) - 1
        top = ranks[-1] if len(ranks) else 0
        scores = np.empty(len(values))
        scores[ordered.index.to_numpy()] = ranks / top if top else 0.0
        return np.array([1 - scores, scores]).transpose()

    def predict(self, x):
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)
