"""Scoring on request: rows of features checked against a model's feature list, and where a score
falls among the scores of the newest list."""

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from prodline.pipeline.training import _svg


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, where it is (`loc`, FastAPI's shape) and of which kind."""

    loc: tuple
    msg: str
    kind: str


def feature_rows(rows: list[dict], features: list[str]) -> tuple[np.ndarray, list[Problem]]:
    """The rows as a matrix in the model's column order, or every problem with them: a feature
    missing, one the model does not know, or a value that is not a finite number."""
    known, problems = set(features), []
    for i, row in enumerate(rows):
        problems += [Problem((i, f), "Field required", "missing") for f in features if f not in row]
        problems += [
            Problem(
                (i, f), f"Extra inputs are not permitted: the model has no feature {f!r}", "extra_forbidden"
            )
            for f in row
            if f not in known
        ]
        problems += [
            Problem((i, f), "Input should be a finite number", "finite_number")
            for f, v in row.items()
            if f in known and not _finite(v)
        ]
    if problems:
        return np.empty((0, len(features))), problems
    return np.array([[row[f] for f in features] for row in rows], dtype=float).reshape(-1, len(features)), []


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def percentiles(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Where each score falls among `reference` (sorted ascending): the share of it at or below the
    score, in percent. For a member of the list this is `ranking.percentile` of its rank (100 for the
    first of n, 100/n for the last); NaN when there is no reference."""
    if not len(reference):
        return np.full(len(scores), np.nan)
    return 100.0 * np.searchsorted(reference, scores, side="right") / len(reference)


def history_svg(series: dict[str, list[tuple[str, float]]], title: str, metric: str) -> bytes:
    """A metric over splits, one line per series of (split, value), splits in the order given."""
    fig = Figure(figsize=(6, 3), dpi=80)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.2)
    for colour, (label, points) in enumerate(series.items()):
        if points:
            ax.plot(
                [p[0] for p in points], [p[1] for p in points], marker="o", color=f"C{colour}", label=label
            )
    ax.set_ylabel(metric, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    if ax.lines:
        ax.legend(frameon=False, fontsize=7)
    return _svg(fig)
