"""Monitoring a model in production: is the cohort it scores still like the one it learned from, and
does the list it made hold up once the labels arrive?

Drift is the population stability index (PSI) of each feature between the champion's training matrix
and one as-of date's features. Realized performance reuses `evaluation.evaluate`, so a stored list is
ranked, and its ties read, exactly as it was when the model was promoted.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prodline.config.cutoffs import Threshold
from prodline.pipeline.evaluations.metrics import evaluate

DRIFT_COLUMNS = ["feature", "psi", "reference_null_share", "current_null_share"]


def psi_bins(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Bin edges at the reference's deciles (for bins=10), open-ended at both ends.

    A bin is (left, right]; each edge is a value the reference holds (the lower quantile, found in
    integer arithmetic so 30% of 10 rows is 3 rows, not 3.0000000000000004). Equal quantiles merge, so a
    0/1 flag gets edges [-inf, 0, 1, inf]. NaN is not binned here: `psi` gives it a bin of its own.
    """
    values = np.sort(np.asarray(reference, dtype=float))
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.array([-np.inf, np.inf])
    ranks = -(-np.arange(1, bins) * values.size // bins) - 1  # ceil(i * n / bins) - 1
    return np.unique(np.concatenate([[-np.inf], values[ranks], [np.inf]]))


def _shares(sample: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of the sample in each bin of `edges`, then the share of NaN as one more bin."""
    sample = np.asarray(sample, dtype=float)
    missing = np.isnan(sample)
    # side="left" makes each bin closed on the right, matching the lower quantile picked as its edge.
    bin_of = np.searchsorted(edges[1:-1], sample[~missing], side="left")
    counts = np.append(np.bincount(bin_of, minlength=edges.size - 1), missing.sum())
    return counts / sample.size


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10, epsilon: float = 1e-4) -> float:
    """Sum over the bins of (current% - reference%) * ln(current% / reference%).

    Shares are floored at `epsilon` (not renormalised) so that a bin one side leaves empty adds a
    large but finite term instead of an infinity: a value the champion never saw still shows up.
    """
    if np.size(reference) == 0 or np.size(current) == 0:
        raise ValueError(
            f"PSI needs rows on both sides: {np.size(reference)} reference, {np.size(current)} current"
        )
    edges = psi_bins(reference, bins)
    ref = np.maximum(_shares(reference, edges), epsilon)
    cur = np.maximum(_shares(current, edges), epsilon)
    return float(((cur - ref) * np.log(cur / ref)).sum())


def _columns(sample: pd.DataFrame | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each feature as a float array, with pandas' missing markers (None, pd.NA) as NaN."""
    out = {}
    for name, values in sample.items():
        try:
            out[str(name)] = pd.Series(values).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise ValueError(f"feature {name!r} is not numeric: PSI bins numbers") from error
    return out


def feature_drift(
    reference: pd.DataFrame | dict[str, np.ndarray],
    current: pd.DataFrame | dict[str, np.ndarray],
    bins: int = 10,
) -> pd.DataFrame:
    """PSI and null shares of every feature, most drifted first.

    Both sides must hold the same features: one missing from the current matrix is a broken feed,
    not a feature without drift, so it is an error rather than a row left out.
    """
    ref, cur = _columns(reference), _columns(current)
    only_ref, only_cur = sorted(ref.keys() - cur.keys()), sorted(cur.keys() - ref.keys())
    if only_ref or only_cur:
        raise ValueError(f"features in one sample only: reference only {only_ref}, current only {only_cur}")
    rows = [
        (
            name,
            psi(ref[name], cur[name], bins),
            float(np.isnan(ref[name]).mean()),
            float(np.isnan(cur[name]).mean()),
        )
        for name in ref
    ]
    frame = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    return frame.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def drift_level(psi: float, warn: float = 0.1, alert: float = 0.25) -> str:
    """The usual reading of PSI: under `warn` "stable", under `alert` "moderate", else "major"."""
    if psi < warn:
        return "stable"
    return "moderate" if psi < alert else "major"


@dataclass(frozen=True)
class Realized:
    """How a stored list did once labels arrived; precision and recall keyed by `Threshold.parameter`.

    A value is None where it is undefined (no labeled rows in the cut, no positives yet), never 0.
    """

    precision: dict[str, float | None]
    recall: dict[str, float | None]
    labeled_rows: int
    positives: int
    labeled_share: float  # of all stored rows: how far the labels have come in


def realized(scores: np.ndarray, labels: np.ndarray, thresholds: list[Threshold]) -> Realized:
    """precision@ and recall@ of stored scores against labels known so far (NaN: not yet known).

    Values are the mean over the orders of tied rows, as in `evaluate`: the list is cut on all its rows,
    then its unlabeled rows are left out of the counts (Triage's way).
    """
    labels = np.asarray(labels, dtype=float)
    if labels.size == 0:
        raise ValueError("no stored predictions to monitor")
    results = evaluate(scores, labels, thresholds)
    by_metric = {(e.metric, e.parameter): e for e in results}
    params = [t.parameter for t in thresholds]
    whole = results[-1]  # every result carries the same labeled rows and positives
    return Realized(
        precision={p: by_metric[("precision@", p)].mean for p in params},
        recall={p: by_metric[("recall@", p)].mean for p in params},
        labeled_rows=whole.labeled_rows,
        positives=whole.positives,
        labeled_share=float((~np.isnan(labels)).mean()),
    )


def below_promotion(realized_value: float | None, promised_value: float, margin: float) -> bool:
    """True when realized performance fell short of the value recorded at promotion by more than
    `margin` (absolute: 0.05 is five points of precision). A shortfall of exactly `margin` is not below.
    """
    if realized_value is None or math.isnan(realized_value):
        raise ValueError("no realized value to compare: are there labeled rows in the cut yet?")
    # Rounded: 0.8 - 0.7 is 0.10000000000000009, which would put a drop of exactly 0.1 below a 0.1 margin.
    return round(promised_value - realized_value, 9) > margin
