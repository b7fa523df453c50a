"""Each model of a split scored on the split's test matrices (and, if Triage's
`training_metric_groups` asks, on its training matrix): the rows of `results.evaluations`, the
metrics added to its MLflow run, and a leaderboard row for the UI."""

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from prodline.config.scoring import MetricSpec
from prodline.pipeline.evaluations.metrics import evaluate
from prodline.pipeline.evaluations.subsets import matrix_keys, subset_masks
from prodline.pipeline.models.grid import short_name
from prodline.pipeline.models.training import positions

WHOLE = ""  # the subset of a row judged on the whole cohort


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


def train_scores(model_row: dict, split, model_store) -> np.ndarray:
    """A model's scores on its own training matrix (`split`: the split's matrices, read once)."""
    model = model_store.load_model(model_row["model_id"])
    columns = positions(model_store.document(model_row["model_id"], "features.json"), split.features,
                        f"model {model_row['model_id']}")
    return model.predict_proba(split.X[:, columns])[:, 1]


def run_metric_name(metric: str, parameter: str, uuid: str) -> str:
    """`precision_5_pct__aaaaaaaa`, `average_precision_score__aaaaaaaa`: MLflow's name of a metric."""
    name = "_".join(p for p in (metric.rstrip("@").replace(" ", "_"), parameter.replace("/", "_")) if p)
    return f"{name}__{uuid[:8]}"


def evaluation_rows(model_row: dict, tests: list[tuple[str, np.ndarray]], scores: dict[str, np.ndarray],
                    specs: list[MetricSpec], now: dt.datetime, subsets: dict | None = None,
                    matrix_type: str = "test") -> tuple[list[dict], dict[str, float]]:
    """(rows of `results.evaluations`, run metrics of the whole cohort named by `run_metric_name`).
    `subsets`: by matrix uuid, the rows of each subset (name -> mask); each is judged on its own."""
    rows, metrics = [], {}
    for uuid, y in tests:
        parts = [(WHOLE, slice(None)), *((subsets or {}).get(uuid, {}).items())]
        for subset, rows_of in parts:
            for e in evaluate(np.asarray(scores[uuid])[rows_of], np.asarray(y)[rows_of], specs):
                rows.append({
                    "model_id": model_row["model_id"], "model_group_id": model_row["model_group_id"],
                    "split": model_row["split"], "matrix": uuid, "matrix_type": matrix_type, "subset": subset,
                    "metric": e.metric, "parameter": e.parameter,
                    "value": e.mean, "worst_value": e.worst, "best_value": e.best,
                    "labeled_rows": e.labeled_rows, "positives": e.positives, "rows_above": e.rows_above,
                    "evaluated_at": now,
                })
                if subset == WHOLE and matrix_type == "test":
                    metrics[run_metric_name(e.metric, e.parameter, uuid)] = e.mean
    return rows, metrics


def leaderboard_row(model_row: dict, rows: list[dict]) -> dict:
    """The model's first precision@ and its AUC on the whole cohort, as the UI's leaderboard shows them."""
    whole = [r for r in rows if r.get("subset", WHOLE) == WHOLE and r.get("matrix_type", "test") == "test"]
    first = next((r for r in whole if r["metric"] == "precision@"), None)
    auc = next((r["value"] for r in whole if r["metric"] == "roc_auc" and r["value"] is not None), None)
    return {
        "split": model_row["split"],
        "model": short_name(model_row["class_path"]),
        "params": model_row["params"],
        "groups": ", ".join(json.loads(model_row["feature_groups"])),
        "metric": f"precision@{first['parameter']}" if first else "",
        "value": None if first is None or first["value"] is None else round(first["value"], 4),
        "auc": None if auc is None else round(auc, 4),
    }


def evaluate_split(trained: list[dict], index: dict, matrix_store, model_store, scoring,
                   warehouse=None) -> tuple[list[dict], list[dict]]:
    """(evaluation rows, leaderboard rows) of a split's models under the `scoring` section. Only the
    test labels are read, unless a model's stored scores are missing or training metrics are asked
    for; each run's metrics are logged by a thread while the next model is evaluated, and a failed
    log fails the whole."""
    tests = [(uuid, matrix_store.labels(uuid)) for uuid in index["tests"]]
    subsets = {uuid: subset_masks(warehouse, matrix_keys(matrix_store.folder, uuid), scoring.subsets)
               for uuid in index["tests"]} if scoring.subsets else {}
    specs, training = scoring.specs(), scoring.training_specs()
    split = matrix_store.split(trained[0]["split"]) if training and trained else None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows, board, pending = [], [], []
    model_store.prepare()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodline-mlflow") as logger:
        for model_row in trained:
            scores = test_scores(model_row, index["tests"], matrix_store, model_store)
            found, metrics = evaluation_rows(model_row, tests, scores, specs, now, subsets)
            if training:
                found += evaluation_rows(model_row, [(index["train"], split.y)],
                                         {index["train"]: train_scores(model_row, split, model_store)},
                                         training, now, matrix_type="train")[0]
            rows += found
            board.append(leaderboard_row(model_row, found))
            pending.append(logger.submit(model_store.log_results, model_row["model_id"], metrics))
        for done in pending:
            done.result()
    return rows, board


def best_first(board: list[dict], n: int = 30) -> list[dict]:
    """The leaderboard by split, best value first (no value last)."""
    return sorted(board, key=lambda r: (r["split"], -(r["value"] if r["value"] is not None else -1)))[:n]
