"""Model groups as Triage forms them (catwalk.model_grouping.ModelGrouper): the same method,
parameters and features across splits, plus the matrix's metadata named by `model_group_keys`
(Triage's defaults when none are given). A model group id is a hash of those arguments, so it is
stable across runs; Triage numbers them in its database instead."""

import hashlib
import json
from typing import Any

DEFAULT_KEYS = ("label_timespan", "label_name", "as_of_date_frequency", "max_training_history", "state",
                "cohort_name", "feature_groups")
CLASSIFIER_KEYS = ("class_path", "parameters")
# Triage's architect.Planner.make_metadata and timechop's matrix definitions.
PLANNER_KEYS = ("feature_start_time", "end_time", "indices", "feature_names", "feature_groups", "label_name",
                "label_type", "label_timespan", "state", "cohort_name", "matrix_id", "matrix_type")
TEMPORAL_KEYS = ("first_as_of_time", "last_as_of_time", "matrix_info_end_time", "as_of_times",
                 "training_label_timespan", "training_as_of_date_frequency", "max_training_history")


def allowed_keys(user_metadata: dict) -> list[str]:
    """What `model_group_keys` may name, in Triage's order (ModelGroupKeysValidator)."""
    return [*user_metadata, *PLANNER_KEYS, *TEMPORAL_KEYS, *CLASSIFIER_KEYS]


def group_arguments(keys: list[str], class_path: str, params: dict, metadata: dict) -> dict[str, Any]:
    """Triage's `_final_model_group_args`: with keys, only what they name (an unnamed class path is
    "", unnamed parameters {}, unnamed features []); without, everything and the default keys."""
    if not keys:
        return {"class_path": class_path, "parameters": params,
                "feature_names": list(metadata["feature_names"]),
                "model_config": {k: metadata[k] for k in DEFAULT_KEYS}}
    named = set(keys)
    return {"class_path": class_path if "class_path" in named else "",
            "parameters": params if "parameters" in named else {},
            "feature_names": list(metadata["feature_names"]) if "feature_names" in named else [],
            "model_config": {k: metadata[k]
                             for k in sorted(named - {"class_path", "parameters", "feature_names"})}}


def group_id(arguments: dict[str, Any]) -> str:
    # Features sorted: the same features in another order are the same model group here.
    text = json.dumps({**arguments, "feature_names": sorted(arguments["feature_names"])},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def matrix_metadata(split, train_uuid: str, label_name: str, cohort_name: str | None,
                    feature_start_time, user_metadata: dict) -> dict[str, Any]:
    """A split's training matrix described with Triage's metadata keys (its features and feature
    groups are added per model), and the user's metadata, as Triage's planner adds it."""
    train = split.train
    return {
        "feature_start_time": str(feature_start_time) if feature_start_time else None,
        "end_time": str(split.time), "indices": ["entity_id", "as_of_date"],
        "label_name": label_name, "label_type": "binary", "label_timespan": str(train.label_timespan),
        "state": "active", "cohort_name": cohort_name, "matrix_id": train_uuid, "matrix_type": "train",
        "first_as_of_time": str(train.as_of_dates[0]), "last_as_of_time": str(train.as_of_dates[-1]),
        "matrix_info_end_time": str(split.time), "as_of_times": [str(d) for d in train.as_of_dates],
        "training_label_timespan": str(train.label_timespan),
        "training_as_of_date_frequency": str(train.frequency), "as_of_date_frequency": str(train.frequency),
        "max_training_history": str(train.max_history),
        **user_metadata,
    }


def matrix_defaults() -> dict[str, Any]:
    """Metadata keys a spec made without a split still answers (None): tests and `prodline grid`."""
    return dict.fromkeys((*PLANNER_KEYS, *TEMPORAL_KEYS, "as_of_date_frequency"))
