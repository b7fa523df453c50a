"""The metrics a model group can be selected on, by Triage's names, and which way each is better.

The names and directions are those of Triage's `ModelEvaluator.available_metrics` (catwalk/metrics.py):
a count of false positives or negatives, and the false positive rate, are better when lower.
"""

GREATER_IS_BETTER: dict[str, bool] = {
    "precision@": True,
    "recall@": True,
    "fbeta@": True,
    "f1": True,
    "accuracy": True,
    "roc_auc": True,
    "average precision score": True,
    "true positives@": True,
    "true negatives@": True,
    "false positives@": False,
    "false negatives@": False,
    "fpr@": False,
}
# Computed over the whole ranking: no cutoff, so their parameter is ''.
WITHOUT_CUTOFF = ("roc_auc", "average precision score")
# Counts are not rates: a distance from the best or a threshold on them is not bounded by 1.
COUNTS = ("true positives@", "true negatives@", "false positives@", "false negatives@")
# prodline's names before issue 17, refused with the name to write instead (one spelling in the
# evaluations table, the UI and MLflow).
RENAMED = {"auc_roc": "roc_auc", "average_precision": "average precision score"}


def greater_is_better(metric: str) -> bool:
    return GREATER_IS_BETTER[metric]
