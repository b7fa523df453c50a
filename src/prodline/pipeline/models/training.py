"""Fit one model of the grid on a training matrix, score test matrices, and read which features the
model leans on (drawn by `pictures`)."""

import time
from dataclasses import dataclass

import numpy as np

from prodline.pipeline.models.grid import ModelSpec


@dataclass(frozen=True)
class Fitted:
    spec: ModelSpec
    model: object
    seconds: float
    rows: int


def positions(names: list[str], features: list[str], user: str) -> list[int]:
    """Positions of `names` among a matrix's features; a missing one is a clear error, not a shift."""
    position = {f: i for i, f in enumerate(features)}
    if missing := [f for f in names if f not in position]:
        raise ValueError(f"the matrix has no column(s) {', '.join(missing[:5])} that {user} uses")
    return [position[f] for f in names]


def columns_of(spec: ModelSpec, features: list[str]) -> list[int]:
    return positions(list(spec.features), features, f"model group {spec.group_id}")


def named(model, X: np.ndarray, names: list[str]):
    """The columns as a DataFrame for a model that reads features by name (Triage's baselines)."""
    if getattr(model, "takes_frame", False):
        import pandas as pd

        return pd.DataFrame(X, columns=names, copy=False)
    return X


def fit(spec: ModelSpec, X: np.ndarray, y: np.ndarray, features: list[str]) -> Fitted:
    """Train on the labeled rows (a training matrix has no others unless its rule keeps them)."""
    known = ~np.isnan(y)
    began = time.perf_counter()
    model = spec.build()
    model = model.fit(named(model, X[known][:, columns_of(spec, features)], list(spec.features)),
                      y[known].astype(int))
    return Fitted(spec, model, time.perf_counter() - began, int(known.sum()))


def scores(fitted: Fitted, X: np.ndarray, features: list[str]) -> np.ndarray:
    used = X[:, columns_of(fitted.spec, features)]
    return fitted.model.predict_proba(named(fitted.model, used, list(fitted.spec.features)))[:, 1]


def importances(model, features: list[str]) -> dict[str, float]:
    """What the model says it uses: tree importances, absolute coefficients, or the baseline's one
    feature; empty when the model cannot say (then no plot is drawn)."""
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    elif hasattr(model, "coef_"):
        values = np.abs(np.asarray(model.coef_, dtype=float)).ravel()
    elif hasattr(model, "feature_index_"):
        values = np.eye(len(features))[model.feature_index_]
    else:
        return {}
    return dict(sorted(zip(features, values.tolist(), strict=True), key=lambda kv: -kv[1]))


def train_split(specs: list[ModelSpec], key: str, split, legends: dict[str, str], submit, log) -> None:
    """Fit every model of `specs` on a split's training matrix and score its test matrices; each
    fitted model goes to `submit(fitted, key, index, test scores, curves)` (the logging process),
    which records it while the next one trains. `log(text)` hears how long each fit took."""
    for spec in specs:
        fitted = fit(spec, split.X, split.y, split.features)
        log(f"split {key}: {spec.class_path} {spec.params}: {fitted.seconds:.2f} s")
        predicted = {uuid: scores(fitted, X, split.features) for uuid, X, _ in split.tests}
        curves = [(legends[uuid], predicted[uuid], y) for uuid, _, y in split.tests]
        submit(fitted, key, split.index, predicted, curves)


def score_matrix(model, model_features: list[str], matrix) -> np.ndarray:
    """A model's scores on a matrix, its columns picked by name; a missing one is a clear error."""
    used = positions(model_features, matrix.features, "the model")
    if not len(matrix.X):
        return np.empty(0)
    return model.predict_proba(named(model, matrix.X[:, used], model_features))[:, 1]
