"""Each model of a split scored on the split's test matrices: the rows of `results.evaluations`, the
metrics added to its MLflow run, and a leaderboard row for the UI."""

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from prodline.config.cutoffs import Threshold
from prodline.pipeline.evaluations.metrics import evaluate
from prodline.pipeline.models.grid import short_name
from prodline.pipeline.models.training import positions


def test_scores(model_row: dict, tests: list[str], matrix_store, model_store) -> dict[str, np.ndarray]:
    """A model's scores on each test matrix: those stored with the model, else the model loaded back
    from the registry and run on the split's matrices."""
    stored = matrix_store.scores(model_row["model_id"]) or {}
    if all(uuid in stored for uuid in tests):
        return stored
    model, split = model_store.load_model(model_row["model_id"]), matrix_store.split(model_row["split"])
    columns = positions(model_store.document(model_row["model_id"], "features.json"), split.features,
                        f"model {model_row['model_id']}")
    return {uuid: model.predict_proba(X[:, columns])[:, 1] for uuid, X, _ in split.tests}


def evaluation_rows(model_row: dict, tests: list[tuple[str, np.ndarray]], scores: dict[str, np.ndarray],
                    cutoffs: list[Threshold], now: dt.datetime) -> tuple[list[dict], dict[str, float]]:
    """(rows of `results.evaluations`, run metrics named `<metric>_<parameter>__<matrix>`)."""
    rows, metrics = [], {}
    for uuid, y in tests:
        for e in evaluate(scores[uuid], y, cutoffs):
            rows.append({
                "model_id": model_row["model_id"], "model_group_id": model_row["model_group_id"],
                "split": model_row["split"], "matrix": uuid, "metric": e.metric, "parameter": e.parameter,
                "value": e.mean, "worst_value": e.worst, "best_value": e.best,
                "labeled_rows": e.labeled_rows, "positives": e.positives, "rows_above": e.rows_above,
                "evaluated_at": now,
            })
            metrics[f"{e.metric.rstrip('@')}_{e.parameter}".rstrip("_") + f"__{uuid[:8]}"] = e.mean
    return rows, metrics


def leaderboard_row(model_row: dict, rows: list[dict]) -> dict:
    """The model's first precision@ and its AUC, as the UI's leaderboard shows them."""
    first = next((r for r in rows if r["metric"] == "precision@"), None)
    auc = next((r["value"] for r in rows if r["metric"] == "auc_roc" and r["value"] is not None), None)
    return {
        "split": model_row["split"],
        "model": short_name(model_row["class_path"]),
        "params": model_row["params"],
        "groups": ", ".join(json.loads(model_row["feature_groups"])),
        "metric": f"precision@{first['parameter']}" if first else "",
        "value": None if first is None or first["value"] is None else round(first["value"], 4),
        "auc": None if auc is None else round(auc, 4),
    }


def evaluate_split(trained: list[dict], index: dict, matrix_store, model_store,
                   cutoffs: list[Threshold]) -> tuple[list[dict], list[dict]]:
    """(evaluation rows, leaderboard rows) of a split's models. Only the test labels are read, unless
    a model's stored scores are missing; each run's metrics are logged by a thread while the next
    model is evaluated, and a failed log fails the whole."""
    tests = [(uuid, matrix_store.labels(uuid)) for uuid in index["tests"]]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows, board, pending = [], [], []
    model_store.prepare()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodline-mlflow") as logger:
        for model_row in trained:
            scores = test_scores(model_row, index["tests"], matrix_store, model_store)
            found, metrics = evaluation_rows(model_row, tests, scores, cutoffs, now)
            rows += found
            board.append(leaderboard_row(model_row, found))
            pending.append(logger.submit(model_store.log_results, model_row["model_id"], metrics))
        for done in pending:
            done.result()
    return rows, board


def best_first(board: list[dict], n: int = 30) -> list[dict]:
    """The leaderboard by split, best value first (no value last)."""
    return sorted(board, key=lambda r: (r["split"], -(r["value"] if r["value"] is not None else -1)))[:n]
