"""Each trained model logged to MLflow, with its pictures and test scores, by a separate process at
the lowest priority, while the next model trains.

Why a process and not a thread: logging is Python (MLflow, SQLAlchemy, matplotlib) and holds the
GIL, and a thread that holds it slows the fits next to it far more than its own CPU time. Measured
on two cores, with a logger kept busy drawing beside 14 fits of the demo grid (14.3 s alone): a
thread made them 545 s (gradient boosting's OpenMP threads wait on the GIL and on each other), a
thread at the lowest priority 52 s, a process at normal priority 41 s, a process at the lowest
priority 16.8 s. Such a process only takes the cores a fit leaves idle.
"""

import datetime as dt
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from prodline.pipeline.models.grid import short_name
from prodline.pipeline.models.individual import uniform
from prodline.pipeline.models.pictures import importances_svg, precision_recall_svg
from prodline.pipeline.models.training import Fitted, importances
from prodline.stores.matrix_store import MatrixStore
from prodline.stores.model_store import ModelStore


class ModelLogger:
    """`with ModelLogger(store, matrix_store) as logger: logger.submit(...)`, then `logger.rows()`:
    one row of `results.models` per model, in the order submitted; the first failure raises there."""

    def __init__(self, store: ModelStore, matrix_store: MatrixStore, grid=None):
        self._settings, self._pending = store.settings(), []
        # What every model keeps from the grid section: the user's metadata, individual importances.
        importance = getattr(grid, "individual_importance", None)
        uniform = importance is not None and "uniform" in importance.methods
        self._kept = {"user_metadata": dict(getattr(grid, "user_metadata", None) or {}),
                      "n_ranks": importance.n_ranks if uniform else None}
        self._matrix_settings = matrix_store.model_dump()
        # A fresh interpreter: forking a process that runs Dagster's and DuckDB's threads could copy
        # a lock some thread holds. Its imports (~2 s) overlap the first fit.
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_lowest_priority)

    def __enter__(self) -> "ModelLogger":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def submit(self, fitted: Fitted, key: str, index: dict, predicted: dict, curves: list) -> None:
        self._pending.append(self._pool.submit(
            log_model_run, self._settings, fitted, key, index, predicted, curves, self._matrix_settings,
            **self._kept))

    def rows(self) -> list[dict]:
        return [f.result() for f in self._pending]


def refuse_while_starting_up() -> None:
    """Refuse to build definitions while the logging process starts up. A script that runs a job
    without an `if __name__ == "__main__":` guard is run again by every process started with
    Python's 'spawn' method (as Dagster's multiprocess executor does too); here its job would wait
    for the concurrency pool its parent holds, forever. Python itself checks the same private flag."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "prodline: a script that runs a Dagster job was started again by the process that logs "
            "models to MLflow (Python's 'spawn' start method re-imports the main script). Put the "
            "script's code under `if __name__ == \"__main__\":`."
        )


def _lowest_priority() -> None:
    if hasattr(os, "nice"):
        os.nice(19)


_stores: dict[tuple, ModelStore] = {}


def _store(settings: dict) -> ModelStore:
    """One store per settings in the logging process: its client, experiment and trusted types are
    built once, not once per model."""
    key = tuple(sorted(settings.items()))
    if key not in _stores:
        _stores[key] = ModelStore(**settings)
    return _stores[key]


def log_model_run(settings: dict, fitted: Fitted, key: str, index: dict, predicted: dict, curves: list,
                  matrix_settings: dict, user_metadata: dict | None = None,
                  n_ranks: int | None = None) -> dict:
    """Log one trained model as an MLflow run, with its pictures, and keep its test scores (Parquet,
    by run id), which the evaluations read instead of loading every model back. The precision and
    recall curves depend only on those scores and the test labels, so they are drawn here rather
    than in the evaluations, which would wait for them. The user's metadata is kept as tags and
    params (`user_metadata.<key>`), the model group's arguments as `model_group.json`, and Triage's
    uniform individual importances, when asked for, as `individual_importances.json`.
    Returns its row of `results.models`."""
    spec, short = fitted.spec, short_name(fitted.spec.class_path)
    user = {f"user_metadata.{k}": v for k, v in (user_metadata or {}).items()}
    documents = {"features.json": list(spec.features),
                 "feature_importances.json": importances(fitted.model, list(spec.features)),
                 "model_group.json": spec.group_arguments}
    if n_ranks is not None:
        documents["individual_importances.json"] = {
            "method": "uniform", "n_ranks": n_ranks,
            "features": uniform(fitted.model, list(spec.features), n_ranks)}
    title = f"{short}, split {key}"
    weights = documents["feature_importances.json"]
    images = {"precision_recall.svg": precision_recall_svg(curves, title)}
    if weights:
        images["feature_importances.svg"] = importances_svg(weights, title)
    logged = _store(settings).log_model(
        fitted.model,
        name=f"{short} {key}",
        params={
            "class_path": spec.class_path,
            **spec.params,
            "feature_groups": list(spec.feature_groups),
            **user,
            "split": key,
            "train_matrix": index["train"],
            "test_matrices": index["tests"],
        },
        metrics={"train_rows": fitted.rows, "train_seconds": fitted.seconds},
        tags={"model_group_id": spec.group_id, "split": key, "prodline.baseline": str(spec.is_baseline),
              **{k: str(v) for k, v in user.items()}},
        documents=documents,
        images=images,
    )
    MatrixStore(**matrix_settings).write_scores(logged.run_id, predicted)
    return {
        "model_id": logged.run_id,
        "model_group_id": spec.group_id,
        "split": key,
        "class_path": spec.class_path,
        "params": json.dumps(spec.params, sort_keys=True, default=str),
        "feature_groups": json.dumps(list(spec.feature_groups)),
        "feature_count": len(spec.features),
        "train_matrix": index["train"],
        "train_rows": fitted.rows,
        "seconds": round(fitted.seconds, 3),
        "run_url": logged.url,
        "baseline": spec.is_baseline,
        "trained_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
    }

