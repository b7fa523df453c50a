"""Individual feature importances, Triage's `uniform` method (catwalk.individual_importance): every
entity gets the model's `n_ranks` most important features, each scored with its global importance,
beside the entity's value of it. Since the features and scores are the same for every entity, a
model keeps them once (`individual_importances.json` in its MLflow run); an entity's values are its
row of the test matrix.

Global importances are Triage's (catwalk.feature_importances): `feature_importances_`, else the odds
ratios exp(coef) of a (scaled) logistic regression, the coefficients of a linear SVC, else none.
"""

import numpy as np


def global_importances(model) -> np.ndarray | None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    from prodline.pipeline.models.scaled_logistic import ScaledLogisticRegression

    if hasattr(model, "feature_importances_"):
        values = model.feature_importances_
    elif isinstance(model, LogisticRegression | ScaledLogisticRegression):
        values = np.exp(model.coef_).squeeze()
    elif isinstance(model, SVC) and model.get_params()["kernel"] == "linear":
        values = model.coef_.squeeze()
    else:
        return None
    values = np.asarray(values, dtype=float)
    return values.reshape((1,)) if values.shape == () else values


def uniform(model, features: list[str], n_ranks: int) -> list[dict]:
    """The top `n_ranks` features by global importance, as Triage stores and then reads them (rounded
    to 10 digits, highest first; ties in feature order, where Triage's SQL leaves them unordered).
    Empty when the model cannot say what it uses (Triage then stores one placeholder feature)."""
    values = global_importances(model)
    if values is None:
        return []
    rounded = [round(float(v), 10) for v in values]
    order = sorted(range(len(rounded)), key=lambda i: -rounded[i])[:n_ranks]
    return [{"feature": features[i], "importance": rounded[i]} for i in order]
