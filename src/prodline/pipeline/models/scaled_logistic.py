"""Triage's ScaledLogisticRegression (triage.component.catwalk.estimators.classifiers), the same
steps: features scaled to [0, 1] on the training rows, test values clipped to that range, then a
one-vs-rest logistic regression (saga by default). Kept here so that a Triage grid naming it runs
without Triage, and so that it is an ordinary scikit-learn estimator (Triage builds its pipeline
in __init__, so `set_params` and `clone` never reach the regression; here it is built in `fit`)."""

import inspect
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils import check_array

# scikit-learn 1.8 deprecated `penalty` (l1_ratio says it) and made `n_jobs` do nothing; Triage's
# estimator, written for 1.6, passes both. The same regression is asked for in the new words.
_PENALTY_RETIRED = inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"


def _penalty(penalty) -> dict:
    if _PENALTY_RETIRED and penalty in ("l1", "l2"):
        return {"l1_ratio": 1.0 if penalty == "l1" else 0.0}
    return {"penalty": penalty}


class CutOff(TransformerMixin, BaseEstimator):
    """Values outside `feature_range` set to its bounds (Triage's CutOff)."""

    def __init__(self, feature_range=(0, 1), copy=True):
        self.feature_range = feature_range
        self.copy = copy

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        low, high = self.feature_range
        X = check_array(X, copy=self.copy, ensure_2d=True)
        X[high < X] = high
        X[low > X] = low
        return X


class ScaledLogisticRegression(ClassifierMixin, BaseEstimator):
    """Min-max scaling, the cut-off and a logistic regression; Triage's parameters and defaults."""

    # scikit-learn checks the regression's parameters before any data (grid_problems relies on it)
    _parameter_constraints: ClassVar[dict] = dict(LogisticRegression._parameter_constraints)

    def __init__(self, penalty="l2", dual=False, tol=1e-4, C=1.0, fit_intercept=True, intercept_scaling=1,
                 class_weight=None, random_state=None, solver="saga", max_iter=100, verbose=0,
                 warm_start=False, n_jobs=1):
        self.penalty = penalty
        self.dual = dual
        self.tol = tol
        self.C = C
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    def _regression(self) -> LogisticRegression:
        return LogisticRegression(
            **_penalty(self.penalty), dual=self.dual, tol=self.tol, C=self.C,
            fit_intercept=self.fit_intercept,
            intercept_scaling=self.intercept_scaling, class_weight=self.class_weight,
            random_state=self.random_state, solver=self.solver, max_iter=self.max_iter, verbose=self.verbose,
            warm_start=self.warm_start, **({} if _PENALTY_RETIRED else {"n_jobs": self.n_jobs}))

    def fit(self, X, y=None):
        self.pipeline_ = Pipeline([("minmax_scaler", MinMaxScaler()), ("dsapp_cutoff", CutOff()),
                                   ("lr", OneVsRestClassifier(self._regression()))]).fit(X, y)
        scaler, regression = self.pipeline_.named_steps["minmax_scaler"], self.pipeline_.named_steps["lr"]
        self.min_, self.scale_ = scaler.min_, scaler.scale_
        self.data_min_, self.data_max_ = scaler.data_min_, scaler.data_max_
        self.data_range_ = scaler.data_range_
        self.coef_ = regression.estimators_[0].coef_
        self.intercept_ = regression.estimators_[0].intercept_
        self.classes_ = regression.estimators_[0].classes_
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X):
        return self.pipeline_.predict_proba(X)

    def predict_log_proba(self, X):
        return self.pipeline_.predict_log_proba(X)

    def predict(self, X):
        return self.pipeline_.predict(X)
