"""Baselines trained beside every grid: a model that cannot beat them has learned nothing useful.

Both are scikit-learn classifiers, so they are stored, loaded and scored like any other model.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score


class RandomRanker(ClassifierMixin, BaseEstimator):
    """Scores drawn at random: the list a coin would make. Seeded, so scoring is repeatable."""

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X):
        scores = np.random.default_rng(self.random_state).random(len(X))
        return np.column_stack([1 - scores, scores])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class BestSingleFeature(ClassifierMixin, BaseEstimator):
    """Ranks by the one feature that best separates the training labels (AUC furthest from 0.5,
    in its better direction): what a rule of thumb such as "longest unemployed first" would do."""

    def fit(self, X, y):
        names = getattr(X, "columns", None)  # a DataFrame's, before it becomes an array
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        aucs = np.full(X.shape[1], 0.5)  # a constant column, or one label only: no information
        if len(set(y.tolist())) > 1:
            aucs = np.array([roc_auc_score(y, X[:, j]) if np.ptp(X[:, j]) > 0 else 0.5
                             for j in range(X.shape[1])])
        self.feature_index_ = int(np.argmax(np.abs(aucs - 0.5)))
        self.direction_ = 1.0 if aucs[self.feature_index_] >= 0.5 else -1.0
        self.auc_ = float(max(aucs[self.feature_index_], 1 - aucs[self.feature_index_]))
        self.feature_name_ = None if names is None else str(names[self.feature_index_])
        # Sorted training values: a score is the share of training rows at or below the value.
        self.reference_ = np.sort(self.direction_ * X[:, self.feature_index_])
        return self

    def predict_proba(self, X):
        values = self.direction_ * np.asarray(X, dtype=float)[:, self.feature_index_]
        scores = np.searchsorted(self.reference_, values, side="right") / max(len(self.reference_), 1)
        return np.column_stack([1 - scores, scores])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
