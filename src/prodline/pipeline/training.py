"""Fit one model of the grid on a training matrix, score test matrices, and draw what a reviewer
looks at: precision and recall down the ranked list, and which features the model leans on."""

import io
import time
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from prodline.pipeline.grid import ModelSpec


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


def fit(spec: ModelSpec, X: np.ndarray, y: np.ndarray, features: list[str]) -> Fitted:
    """Train on the labeled rows (a training matrix has no others unless its rule keeps them)."""
    known = ~np.isnan(y)
    began = time.perf_counter()
    model = spec.build().fit(X[known][:, columns_of(spec, features)], y[known].astype(int))
    return Fitted(spec, model, time.perf_counter() - began, int(known.sum()))


def scores(fitted: Fitted, X: np.ndarray, features: list[str]) -> np.ndarray:
    return fitted.model.predict_proba(X[:, columns_of(fitted.spec, features)])[:, 1]


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


def precision_recall_png(score: np.ndarray, labels: np.ndarray, title: str) -> bytes:
    """Precision and recall of the top k rows for every k (labeled rows, best score first)."""
    known = ~np.isnan(labels)
    ranked = labels[known][np.argsort(-score[known], kind="stable")]
    hits = np.cumsum(ranked)
    k = np.arange(1, len(ranked) + 1)
    fig = Figure(figsize=(6, 3.5), dpi=80)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
    if len(ranked):
        shown = np.unique(np.linspace(0, len(ranked) - 1, 400).astype(int))  # enough points for a curve
        share = k[shown] / len(ranked) * 100
        ax.plot(share, (hits / k)[shown], label="precision")
        ax.plot(share, (hits / max(hits[-1], 1))[shown], label="recall")
    ax.set_xlabel("top k, % of the list")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9, loc="left")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def importances_png(values: dict[str, float], title: str, top: int = 20) -> bytes:
    shown = list(values.items())[:top][::-1]
    height = 1 + 0.22 * len(shown)
    fig = Figure(figsize=(6, height), dpi=80)
    ax = fig.subplots()
    # Fixed margins (room for long feature names) instead of tight_layout, which draws twice.
    fig.subplots_adjust(left=0.45, right=0.97, top=1 - 0.35 / height, bottom=0.4 / height)
    ax.barh(range(len(shown)), [v for _, v in shown], color="#1f77b4")
    ax.set_yticks(range(len(shown)), [n for n, _ in shown], fontsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})  # fast; small either way
    return buffer.getvalue()
