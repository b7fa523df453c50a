"""Triage 6.0.0's estimators, baselines, grid presets, feature groups and model grouping on the
inputs prodline's test gives: run by Triage's interpreter (`make triage`), not prodline's. Reads a
JSON list of tasks on stdin; writes, for each, Triage's answer or the error Triage raised."""

import json
import logging
import sys

import loading  # first: Triage's modules import aequitas and s3fs
import numpy as np
import pandas as pd

# triage/experiments/__init__.py imports the experiment runner, which needs plotly (not installed,
# never used here): its modules load from their files without it.
loading.bare_package("triage.experiments")

from triage.component.architect.feature_group_creator import FeatureGroupCreator  # noqa: E402
from triage.component.architect.feature_group_mixer import FeatureGroupMixer  # noqa: E402
from triage.component.catwalk.feature_importances import get_feature_importances  # noqa: E402
from triage.component.catwalk.model_grouping import ModelGrouper  # noqa: E402
from triage.experiments.defaults import model_grid_preset  # noqa: E402
from triage.experiments.validate import FeatureGroupDefinitionValidator, ModelGroupKeysValidator  # noqa: E402


def import_object(path: str):
    """A class by its path, as Triage's trainer loads it (importlib, then getattr)."""
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def estimator(task: dict) -> dict:
    cls = import_object(task["class_path"])
    model = cls(**task["params"])
    frame = task.get("frame", False)
    columns = task["columns"]
    train = pd.DataFrame(task["X_train"], columns=columns) if frame else np.array(task["X_train"])
    test = pd.DataFrame(task["X_test"], columns=columns) if frame else np.array(task["X_test"])
    model.fit(train, np.array(task["y_train"]))
    importances = get_feature_importances(model)
    return {"proba": np.asarray(model.predict_proba(test), dtype=float).tolist(),
            "importances": None if importances is None else np.asarray(importances, dtype=float).tolist()}


def groups(task: dict) -> dict:
    creator = FeatureGroupCreator(task["definition"])
    creator.validate()
    mixes = FeatureGroupMixer(task["strategies"]).generate(creator.subsets(task["dictionary"]))
    return {"mixes": [{"names": list(m.names), "tables": {t: list(cs) for t, cs in m.items()}}
                      for m in mixes]}


def validate(task: dict) -> dict:
    """Triage's refusal of a definition or of model group keys, or None."""
    FeatureGroupDefinitionValidator(strict=True).run(task["definition"], task["aggregations"])
    ModelGroupKeysValidator(strict=True).run(task["keys"], task["user_metadata"])
    return {"valid": True}


def answer(task: dict) -> dict:
    try:
        if task["kind"] == "estimator":
            return estimator(task)
        if task["kind"] == "preset":
            return {"grid": model_grid_preset(task["preset"], task.get("grid"))}
        if task["kind"] == "groups":
            return groups(task)
        if task["kind"] == "group_args":
            return {"args": ModelGrouper(task["keys"])._final_model_group_args(
                task["class_path"], task["parameters"], task["metadata"])}
        if task["kind"] == "validate":
            return validate(task)
        raise ValueError(f"unknown task {task['kind']!r}")
    except Exception as err:  # every refusal is an answer to compare
        return {"error": f"{type(err).__name__}: {err}"}


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)  # Triage logs to stdout, where the answer goes
    print(json.dumps([answer(t) for t in json.load(sys.stdin)]))
