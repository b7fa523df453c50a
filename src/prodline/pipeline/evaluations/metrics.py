"""Triage's metrics of a ranked list, with ties reported three ways.

A model's scores often tie (trees, rounded features), and the order inside a tie decides who is on
the list. As Triage's ModelEvaluator does, the list is cut on all its rows, unlabeled ones included
(they take places on the list a team would act on), and the unlabeled rows are then left out of the
counts. Every metric is reported for Triage's two orders of a tie: the worst (unlabeled rows, then
negatives, then positives) and the best (positives, negatives, unlabeled rows), and for the mean over
all orders of the tied rows. Triage estimates that mean from 30 random orders, and reports the worst
value when best and worst are within 1% of each other; here it is computed exactly: the rows a cut
takes from a tie follow a hypergeometric law, and given how many unlabeled rows it takes, every metric
is linear in the positives it takes.

AUC and average precision are Triage's (sklearn's) on the scores: a tied pair counts half, a tie is
one step of the precision-recall curve, so the three readings are equal. They are computed on the
labeled rows; Triage passes them every row's score and so gets NULL whenever a label is missing.

An undefined metric (precision of a cut without labeled rows, recall without positives, fpr without
negatives, AUC of one class, average precision without positives) is NULL, where sklearn, so
Triage, reports 0.0; the mean is taken over the orders where the metric is defined.
"""

from dataclasses import dataclass

import numpy as np

from prodline.config.cutoffs import Threshold
from prodline.config.scoring import MetricSpec

WHOLE_LIST = ("roc_auc", "average precision score")


@dataclass(frozen=True)
class Evaluation:
    metric: str  # Triage's name: "precision@", "roc_auc", "average precision score", ...
    parameter: str  # Triage's parameter string: "5_pct", "0.5_beta/100_abs", "" for the whole list
    worst: float | None
    best: float | None
    mean: float | None
    labeled_rows: int
    positives: int
    rows_above: int  # the rows the cutoff takes, unlabeled ones included (all rows for the whole list)
    labeled_above: int  # labeled rows among them, worst order (Triage's num_labeled_above_threshold)


@dataclass(frozen=True)
class _Ties:
    """Rows grouped by score, highest first: group sizes, positives and unlabeled rows per group."""

    sizes: np.ndarray
    hits: np.ndarray
    unknown: np.ndarray

    @classmethod
    def of(cls, scores, labels) -> "_Ties":
        scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
        if scores.shape != labels.shape:
            raise ValueError(f"{scores.size} scores for {labels.size} labels")
        if np.isnan(scores).any():
            raise ValueError(f"{int(np.isnan(scores).sum())} rows have no score")
        known = ~np.isnan(labels)
        if not np.isin(labels[known], (0.0, 1.0)).all():
            found = sorted(set(labels[known].tolist()) - {0.0, 1.0})[:5]
            raise ValueError(f"labels must be 0 or 1; found {found}")
        values, group, sizes = np.unique(-scores, return_inverse=True, return_counts=True)
        hits = np.bincount(group, weights=np.where(known, labels, 0.0), minlength=values.size)
        return cls(sizes.astype(float), hits, np.bincount(group, weights=~known, minlength=values.size))

    @property
    def n(self) -> int:
        return int(self.sizes.sum())

    @property
    def labeled(self) -> np.ndarray:
        return self.sizes - self.unknown

    @property
    def positives(self) -> int:
        return int(self.hits.sum())

    @property
    def negatives(self) -> int:
        return int(self.labeled.sum()) - self.positives


@dataclass(frozen=True)
class _Cut:
    """Positives (tp) and labeled negatives (fp) the top k rows hold: in the worst order, the best
    order, and every number of unlabeled rows the cut tie can give with its probability and the
    expected tp and fp then."""

    worst: tuple[float, float]
    best: tuple[float, float]
    chance: np.ndarray
    tp: np.ndarray
    fp: np.ndarray

    @classmethod
    def of(cls, ties: _Ties, k: int) -> "_Cut":
        if k == 0:
            return cls((0.0, 0.0), (0.0, 0.0), np.ones(1), np.zeros(1), np.zeros(1))
        ends = np.cumsum(ties.sizes)
        g = int(np.searchsorted(ends, k, side="left"))  # the tie holding the k-th row
        tp = float(ties.hits[:g].sum())
        fp = float(ties.labeled[:g].sum()) - tp
        taken = k - int(ends[g] - ties.sizes[g])
        size, hits, unknown = int(ties.sizes[g]), int(ties.hits[g]), int(ties.unknown[g])
        misses = size - hits - unknown
        # Worst: unlabeled rows first, then negatives (Triage sorts NaN first, then by label).
        u = min(taken, unknown)
        z = min(taken - u, misses)
        worst = (tp + taken - u - z, fp + z)
        h = min(taken, hits)
        best = (tp + h, fp + min(taken - h, misses))
        # Random order: x unlabeled rows taken (hypergeometric); the other taken rows are labeled,
        # positive in the tie's proportion.
        x = np.arange(max(0, taken - hits - misses), min(taken, unknown) + 1)
        chance = _hypergeom().pmf(x, size, unknown, taken) if unknown else np.ones(1)
        share = hits / (hits + misses) if hits + misses else 0.0
        labeled = taken - x
        return cls(worst, best, chance, tp + labeled * share, fp + labeled * (1 - share))


def evaluate(scores, labels, specs: list) -> list[Evaluation]:
    """Each metric of `specs` (MetricSpec; a Threshold stands for precision@ and recall@ at it, and
    then AUC and average precision are added, prodline's shorthand) on the scored list."""
    if all(isinstance(s, Threshold) for s in specs):
        specs = shorthand(specs)
    ties = _Ties.of(scores, labels)
    n, positives = ties.n, ties.positives
    whole = {"roc_auc": _auc(ties), "average precision score": _average_precision(ties)}
    out, cuts = [], {}
    for spec in specs:
        k = n if spec.threshold is None else spec.threshold.rows(n)
        cut = cuts.get(k) or cuts.setdefault(k, _Cut.of(ties, k))
        if n == 0:  # Triage: nothing to judge, every metric NULL
            values = (None, None, None)
        elif spec.metric in whole:
            values = (whole[spec.metric],) * 3
        else:
            values = _readings(spec, cut, ties)
        out.append(Evaluation(spec.metric, spec.parameter, *values, int(ties.labeled.sum()), positives, k,
                              round(sum(cut.worst))))
    return out


def shorthand(thresholds: list[Threshold]) -> list[MetricSpec]:
    """prodline's shorthand: precision@ and recall@ at each cutoff, then AUC and average precision."""
    return [MetricSpec(m, t) for t in thresholds for m in ("precision@", "recall@")] + \
        [MetricSpec(m, None) for m in WHOLE_LIST]


def _readings(spec: MetricSpec, cut: _Cut, ties: _Ties) -> tuple[float | None, ...]:
    """(worst, best, mean) of a metric computed from the positives and negatives a cut holds."""
    worst, best = (_value(spec, np.array([tp]), np.array([fp]), ties)[0] for tp, fp in (cut.worst, cut.best))
    values = _value(spec, cut.tp, cut.fp, ties)
    defined = ~np.isnan(values)
    weight = float(cut.chance[defined].sum())
    mean = float((cut.chance[defined] * values[defined]).sum() / weight) if weight > 0 else np.nan
    return tuple(None if np.isnan(v) else float(v) for v in (worst, best, mean))


def _value(spec: MetricSpec, tp: np.ndarray, fp: np.ndarray, ties: _Ties) -> np.ndarray:
    """The metric where `tp` positives and `fp` negatives are on the list; NaN where undefined."""
    p, z = float(ties.positives), float(ties.negatives)
    with np.errstate(divide="ignore", invalid="ignore"):
        match spec.metric:
            case "precision@":
                return _ratio(tp, tp + fp)
            case "recall@":
                return _ratio(tp, np.full_like(tp, p))
            case "fbeta@" | "f1":
                b2 = spec.beta ** 2 if spec.metric == "fbeta@" else 1.0
                return _ratio((1 + b2) * tp, b2 * p + tp + fp)
            case "accuracy":
                return _ratio(tp + z - fp, np.full_like(tp, p + z))
            case "fpr@":
                return _ratio(fp, np.full_like(fp, z))
            case "true positives@":
                return tp
            case "true negatives@":
                return z - fp
            case "false positives@":
                return fp
            case "false negatives@":
                return p - tp
    raise ValueError(f"unknown metric {spec.metric!r}")


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def _auc(ties: _Ties) -> float | None:
    """sklearn's roc_auc_score on the labeled rows: the share of (positive, negative) pairs in the
    right order, a tied pair counting 1/2."""
    negatives_per = ties.labeled - ties.hits
    pairs = ties.positives * ties.negatives
    if not pairs:
        return None
    below = np.concatenate([np.cumsum(negatives_per[::-1])[::-1][1:], [0.0]])
    strict = float((ties.hits * below).sum())
    tied = float((ties.hits * negatives_per).sum())
    return (strict + tied / 2) / pairs


def _average_precision(ties: _Ties) -> float | None:
    """sklearn's average_precision_score on the labeled rows: precision at each distinct score,
    weighted by the recall it adds (a tie is one step)."""
    if not ties.positives:
        return None
    found, listed = np.cumsum(ties.hits), np.cumsum(ties.labeled)
    steps = ties.hits > 0
    return float((ties.hits[steps] / ties.positives * found[steps] / listed[steps]).sum())


def _hypergeom():
    # scipy.stats takes seconds to import: every run worker and code server imports this module,
    # and only a tie with unlabeled rows needs it.
    from scipy.stats import hypergeom

    return hypergeom
