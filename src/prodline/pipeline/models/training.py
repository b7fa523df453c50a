"""Fit one model of the grid on a training matrix, score test matrices, and draw what a reviewer
looks at: precision and recall down the ranked list, and which features the model leans on."""

import io
import time
from dataclasses import dataclass

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

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


def precision_recall_svg(curves: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> bytes:
    """Precision (solid) and recall (dashed) of the top k rows for every k (labeled rows, best score
    first), one colour per test matrix: `curves` holds (legend label, scores, labels)."""
    fig = Figure(figsize=(6, 3.5), dpi=80)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
    for colour, (label, score, labels) in enumerate(curves):
        known = ~np.isnan(labels)
        ranked = labels[known][np.argsort(-score[known], kind="stable")]
        if not len(ranked):
            continue
        hits, k = np.cumsum(ranked), np.arange(1, len(ranked) + 1)
        shown = np.unique(np.linspace(0, len(ranked) - 1, 400).astype(int))  # enough points for a curve
        share = k[shown] / len(ranked) * 100
        ax.plot(share, (hits / k)[shown], color=f"C{colour}", label=f"precision, {label}")
        ax.plot(share, (hits / max(hits[-1], 1))[shown], color=f"C{colour}", linestyle="--",
                label=f"recall, {label}")
    ax.set_xlabel("top k, % of the list")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9, loc="left")
    if ax.lines:
        ax.legend(frameon=False, fontsize=7)
    return _svg(fig)


def importances_svg(values: dict[str, float], title: str, top: int = 20) -> bytes:
    """The `top` features the model leans on most, largest at the top."""
    shown = list(values.items())[:top][::-1]
    height = 1 + 0.22 * len(shown)
    fig = Figure(figsize=(6, height), dpi=80)
    ax = fig.subplots()
    # Fixed margins (room for long feature names) instead of tight_layout, which draws twice.
    fig.subplots_adjust(left=0.45, right=0.97, top=1 - 0.35 / height, bottom=0.4 / height)
    ax.barh(range(len(shown)), [v for _, v in shown], color="#1f77b4")
    ax.set_yticks(range(len(shown)), [n for n, _ in shown], fontsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    return _svg(fig)


def _svg(fig: Figure) -> bytes:
    """SVG with its text kept as text: half the time of a PNG (no glyphs to rasterise), smaller, and
    MLflow's artifact view shows it like a picture. A fixed salt keeps the file the same each time."""
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "prodline"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue().encode()
