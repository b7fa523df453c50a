"""Metrics of a ranked list, with ties reported three ways.

A model's scores often tie (trees, rounded features), and the order inside a tie decides who is on
the list. Every metric is reported for the worst order (negatives first inside each tie), the best
order (positives first) and the mean over all orders of the tied rows. The mean is computed exactly,
not by sampling orders: the rows a cutoff takes from a tie hold its positives in proportion
(hypergeometric expectation), and average precision takes each tied positive's expected precision
over the positions it can hold.

Rows without a label are left out before anything is ranked: they can neither be hits nor misses.
"""

from dataclasses import dataclass

import numpy as np

from prodline.config.cutoffs import Threshold


@dataclass(frozen=True)
class Evaluation:
    metric: str  # "precision@", "recall@", "auc_roc", "average_precision"
    parameter: str  # the cutoff for @-metrics, "" otherwise
    worst: float | None
    best: float | None
    mean: float | None
    labeled_rows: int
    positives: int
    rows_above: int  # the rows the cutoff takes (all labeled rows for whole-list metrics)


@dataclass(frozen=True)
class _Ties:
    """Labeled rows grouped by score, highest first: group sizes and positives per group."""

    sizes: np.ndarray
    hits: np.ndarray

    @classmethod
    def of(cls, scores, labels) -> "_Ties":
        scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
        if scores.shape != labels.shape:
            raise ValueError(f"{scores.size} scores for {labels.size} labels")
        known = ~np.isnan(labels)
        scores, labels = scores[known], labels[known]
        if np.isnan(scores).any():
            raise ValueError(f"{int(np.isnan(scores).sum())} labeled rows have no score")
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError(f"labels must be 0 or 1; found {sorted(set(labels.tolist()) - {0.0, 1.0})[:5]}")
        values, group, sizes = np.unique(-scores, return_inverse=True, return_counts=True)
        return cls(sizes, np.bincount(group, weights=labels, minlength=values.size))

    @property
    def n(self) -> int:
        return int(self.sizes.sum())

    @property
    def positives(self) -> int:
        return int(self.hits.sum())

    def hits_in_top(self, k: int) -> tuple[float, float, float]:
        """Positives among the top k rows: worst, best and mean over the orders inside the cut tie."""
        ends = np.cumsum(self.sizes)
        if k == 0:
            return 0.0, 0.0, 0.0
        g = int(np.searchsorted(ends, k, side="left"))  # the tie holding the k-th row
        above, hits_above = int(ends[g] - self.sizes[g]), float(self.hits[:g].sum())
        taken, size, hits = k - above, float(self.sizes[g]), float(self.hits[g])
        worst = hits_above + max(0.0, taken - (size - hits))
        best = hits_above + min(float(taken), hits)
        return worst, best, hits_above + taken * hits / size


def evaluate(scores, labels, thresholds: list[Threshold]) -> list[Evaluation]:
    """precision@ and recall@ at each threshold, then AUC-ROC and average precision."""
    ties = _Ties.of(scores, labels)
    n, positives = ties.n, ties.positives
    out = []
    for threshold in thresholds:
        k = threshold.rows(n)
        found = ties.hits_in_top(k)
        out.append(Evaluation("precision@", threshold.parameter, *_ratios(found, k), n, positives, k))
        out.append(Evaluation("recall@", threshold.parameter, *_ratios(found, positives), n, positives, k))
    out.append(Evaluation("auc_roc", "", *_auc(ties), n, positives, n))
    out.append(Evaluation("average_precision", "", *_average_precision(ties), n, positives, n))
    return out


def _ratios(found: tuple[float, float, float], total: int) -> tuple[float | None, ...]:
    # Precision of an empty list and recall without positives are undefined: NULL, not 0.
    return tuple(f / total if total else None for f in found)


def _auc(ties: _Ties) -> tuple[float | None, ...]:
    """Share of (positive, negative) pairs in the right order; a tied pair counts 0, 1 or 1/2."""
    negatives_per = ties.sizes - ties.hits
    pairs = ties.positives * (ties.n - ties.positives)
    if not pairs:
        return None, None, None
    # Negatives in the groups scored lower than each group.
    below = np.concatenate([np.cumsum(negatives_per[::-1])[::-1][1:], [0.0]])
    strict = float((ties.hits * below).sum())
    tied = float((ties.hits * negatives_per).sum())
    return strict / pairs, (strict + tied) / pairs, (strict + tied / 2) / pairs


def _average_precision(ties: _Ties) -> tuple[float | None, ...]:
    """Mean, over the positives, of the precision at each positive's rank."""
    if not ties.positives:
        return None, None, None
    worst = best = mean = 0.0
    above = hits_above = 0.0
    for size, hits in zip(ties.sizes.tolist(), ties.hits.tolist(), strict=True):
        if hits:
            j = np.arange(1, size + 1, dtype=float)
            # Best: the tie's positives take its first places; worst: its last places.
            first, last = j[: int(hits)], j[int(size - hits):]
            best += float(((hits_above + first) / (above + first)).sum())
            worst += float(((hits_above + last - (size - hits)) / (above + last)).sum())
            # Mean: a tied positive is equally likely at any place j of the tie, with the tie's
            # other positives spread evenly over the places before it.
            others = (j - 1) * (hits - 1) / (size - 1) if size > 1 else np.zeros(1)
            mean += hits / size * float(((hits_above + 1 + others) / (above + j)).sum())
        above, hits_above = above + size, hits_above + hits
    return worst / ties.positives, best / ties.positives, mean / ties.positives
