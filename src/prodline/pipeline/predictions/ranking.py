"""The ranked list people act on: one order, the same on every run.

Scores tie (trees give few distinct values), and whoever sits at the cutoff inside a tie is on or off
the list. Ties are broken by entity id so that a re-run, the API and the gate all see one list.
"""

import numpy as np


def order(scores: np.ndarray, entities: np.ndarray) -> np.ndarray:
    """Row positions from the highest score down; equal scores by ascending entity id."""
    return np.lexsort((entities, -np.asarray(scores, dtype=float)))


def rank(scores: np.ndarray, entities: np.ndarray) -> np.ndarray:
    """Each row's place on the list, 1 for the highest score."""
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order(scores, entities)] = np.arange(1, len(scores) + 1)
    return ranks


def top(scores: np.ndarray, entities: np.ndarray, k: int) -> np.ndarray:
    """The entity ids of the first k rows of the list."""
    return np.asarray(entities)[order(scores, entities)[:k]]


def percentile(ranks: np.ndarray) -> np.ndarray:
    """100 for the first of n rows, 100/n for the last: the top 5% are those above 95."""
    n = len(ranks)
    return 100.0 * (n - np.asarray(ranks) + 1) / n if n else np.empty(0)
