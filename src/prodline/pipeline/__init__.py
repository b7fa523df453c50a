"""The plain library (no Dagster), one folder per stage in the data's order: raw, transforms, as_of
(cohort, labels, features), matrices, models, evaluations, selection, gate, champion, predictions,
monitoring; what the stages share sits beside them (see docs/architecture.md)."""
