"""The `models` and `evaluations` assets: the grid trained on each split, every model an MLflow run
listed in `results.models`, and its metrics on the split's test matrices in `results.evaluations`."""

import datetime as dt
import json
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from prodline.assets.as_of import resolve_choices
from prodline.assets.model_logging import ModelLogger
from prodline.assets.modeling import (
    EVALUATIONS,
    EVALUATIONS_TABLE,
    MATRICES,
    MODELS,
    MODELS_TABLE,
    _asset,
    _short,
    _table,
    load_split,
    split_index,
)
from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.pipeline.as_of import feature_columns as fsql
from prodline.pipeline.evaluations.metrics import evaluate
from prodline.pipeline.matrices.files import read_labels, read_manifest
from prodline.pipeline.models.grid import ModelSpec, expand
from prodline.pipeline.models.stored_scores import read_scores
from prodline.pipeline.models.training import (
    fit,
    positions,
    scores,
)
from prodline.resources.warehouse import POOL


def feature_group_columns(config: ProjectConfig, warehouse) -> dict[str, list[str]]:
    """Named groups (by prefix, interval or metric) of feature columns, each with its `_imp` flag."""
    groups: dict[str, list[str]] = {}
    for feature in config.features:
        columns = fsql.feature_columns(feature, resolve_choices(warehouse, feature))
        flags = {c.name: c.flag for c in columns if c.flag}
        for name, members in fsql.feature_groups(columns, list(config.feature_groups)).items():
            groups.setdefault(name, []).extend(m for c in members for m in (c, flags.get(c)) if m)
    return groups


def grid_specs(config: ProjectConfig, groups: dict[str, list[str]], features: list[str]) -> list[ModelSpec]:
    """The grid's models for a matrix: feature groups narrowed to the columns the matrix has."""
    present = {g: [c for c in cs if c in features] for g, cs in groups.items()}
    grid = config.grid
    return expand(
        grid.models, {g: cs for g, cs in present.items() if cs}, grid.feature_group_strategies, grid.seed
    )


def models_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    @_asset(
        key=MODELS,
        partitions_def=partitions,
        deps=[MATRICES],
        kinds={"scikitlearn", "mlflow"},
        required_resource_keys={"warehouse", "model_store"},
        pool=POOL,
        description="Every model of the grid trained on each split's training matrix; one MLflow run each.",
    )
    def models(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, store = context.resources.warehouse, context.resources.model_store
        groups = feature_group_columns(config, warehouse)
        began, predictions = time.perf_counter(), home_of(config).root / "predictions"
        # Each model is logged by a low-priority process while the next one trains (model_logging).
        with ModelLogger(store, predictions) as logger:
            for key in context.partition_keys:
                split = load_split(config, key)
                legends = {uuid: _legend(home_of(config).matrices, uuid) for uuid, _, _ in split.tests}
                for spec in grid_specs(config, groups, split.features):
                    fitted = fit(spec, split.X, split.y, split.features)
                    context.log.info(f"split {key}: {spec.class_path} {spec.params}: {fitted.seconds:.2f} s")
                    predicted = {uuid: scores(fitted, X, split.features) for uuid, X, _ in split.tests}
                    curves = [(legends[uuid], predicted[uuid], y) for uuid, _, y in split.tests]
                    logger.submit(fitted, key, split.index, predicted, curves)
            rows = logger.rows()  # the first failure, if any, fails the step
        table = _results_table(warehouse, MODELS_TABLE, MODELS_COLUMNS)
        for key in context.partition_keys:
            warehouse.replace_window(
                table,
                pa.Table.from_pylist([r for r in rows if r["split"] == key], table_schema(table)),
                "split",
                key,
                key,
            )
        return dg.MaterializeResult(
            metadata={
                "models": len(rows),
                "seconds": round(time.perf_counter() - began, 2),
                "runs": dg.MetadataValue.md(
                    _table(
                        [
                            {
                                "split": r["split"],
                                "model": _short(r["class_path"]),
                                "params": r["params"],
                                "features": r["feature_count"],
                                "run": f"[{r['model_id'][:8]}]({r['run_url']})",
                            }
                            for r in rows[:200]
                        ]
                    )
                ),
            }
        )

    return models


# The results tables, column by column; each is replaced split by split.
MODELS_COLUMNS = {
    "model_id": sa.String,
    "model_group_id": sa.String,
    "split": sa.String,
    "class_path": sa.String,
    "params": sa.String,
    "feature_groups": sa.String,
    "feature_count": sa.Integer,
    "train_matrix": sa.String,
    "train_rows": sa.BigInteger,
    "seconds": sa.Float,
    "run_url": sa.String,
    "baseline": sa.Boolean,
    "trained_at": sa.DateTime,
}


EVALUATIONS_COLUMNS = {
    "model_id": sa.String,
    "model_group_id": sa.String,
    "split": sa.String,
    "matrix": sa.String,
    "metric": sa.String,
    "parameter": sa.String,
    "value": sa.Float,
    "worst_value": sa.Float,
    "best_value": sa.Float,
    "labeled_rows": sa.BigInteger,
    "positives": sa.BigInteger,
    "rows_above": sa.BigInteger,
    "evaluated_at": sa.DateTime,
}


def _results_table(warehouse, name: str, columns: dict) -> sa.Table:
    return warehouse.ensure_table(
        "results", name, [sa.Column(c, t) for c, t in columns.items()], index=["split"]
    )


def table_schema(table: sa.Table) -> pa.Schema:
    kinds = {
        sa.String: pa.string(),
        sa.Integer: pa.int32(),
        sa.BigInteger: pa.int64(),
        sa.Float: pa.float64(),
        sa.Boolean: pa.bool_(),
        sa.DateTime: pa.timestamp("us"),
    }
    return pa.schema([(c.name, kinds[type(c.type)]) for c in table.columns])


def evaluations_asset(config: ProjectConfig, partitions) -> dg.AssetsDefinition:
    @_asset(
        key=EVALUATIONS,
        partitions_def=partitions,
        deps=[MODELS],
        kinds={"mlflow"},
        required_resource_keys={"warehouse", "model_store"},
        pool=POOL,
        description="Each model scored on its split's test matrices: precision@ and recall@ at the "
        "configured cutoffs, AUC-ROC and average precision, ties as worst, best and mean.",
    )
    def evaluations(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, store = context.resources.warehouse, context.resources.model_store
        cutoffs = config.scoring.thresholds()
        table = _results_table(warehouse, EVALUATIONS_TABLE, EVALUATIONS_COLUMNS)
        leaderboard = []
        for key in context.partition_keys:
            trained = warehouse.rows(
                f"SELECT * FROM results.{MODELS_TABLE} WHERE split = :k ORDER BY trained_at", k=key
            )
            if not trained:
                raise dg.Failure(
                    description=f"split {key} has no models yet: materialize models for it first",
                    allow_retries=False,
                )
            # Scores were stored with the models: the test labels are all that is read here (the
            # matrices themselves only if a model's scores are missing and it must score again).
            folder, index = home_of(config).matrices, split_index(config, key)
            tests = [(uuid, None, read_labels(folder, uuid)) for uuid in index["tests"]]
            rows, pending = [], []
            store.prepare()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodline-mlflow") as logger:
                for model_row in trained:
                    found, metrics = _evaluate_one(
                        store,
                        model_row,
                        tests,
                        lambda k=key: load_split(config, k),
                        cutoffs,
                        leaderboard,
                        home_of(config).root / "predictions",
                    )
                    rows += found
                    pending.append(logger.submit(store.log_results, model_row["model_id"], metrics))
                for done in pending:
                    done.result()  # a failed log fails the step
            warehouse.replace_window(
                table, pa.Table.from_pylist(rows, table_schema(table)), "split", key, key
            )
        return dg.MaterializeResult(
            metadata={
                "evaluations": len(leaderboard),
                "leaderboard": dg.MetadataValue.md(_table(_top(leaderboard))),
            }
        )

    return evaluations


def _evaluate_one(store, model_row: dict, tests, split, cutoffs, leaderboard: list, predictions) -> tuple:
    """Metrics of a model on the split's test matrices (uuid, _, labels): (rows, run metrics).
    Scores come from the model's stored test scores, else from the model loaded back from MLflow and
    run on the matrices `split()` reads. The run's metrics are logged by a thread while the
    next model is evaluated."""
    used = json.loads(model_row["feature_groups"])
    stored = read_scores(predictions, model_row["model_id"]) or {}
    if any(uuid not in stored for uuid, _, _ in tests):
        model, matrices = store.load_model(model_row["model_id"]), split()
        columns = positions(store.document(model_row["model_id"], "features.json"), matrices.features,
                            f"model {model_row['model_id']}")
        stored = {uuid: model.predict_proba(X[:, columns])[:, 1] for uuid, X, _ in matrices.tests}
    now, rows, metrics = dt.datetime.now(dt.UTC).replace(tzinfo=None), [], {}
    for uuid, _, y in tests:
        score = stored[uuid]
        for e in evaluate(score, y, cutoffs):
            rows.append(
                {
                    "model_id": model_row["model_id"],
                    "model_group_id": model_row["model_group_id"],
                    "split": model_row["split"],
                    "matrix": uuid,
                    "metric": e.metric,
                    "parameter": e.parameter,
                    "value": e.mean,
                    "worst_value": e.worst,
                    "best_value": e.best,
                    "labeled_rows": e.labeled_rows,
                    "positives": e.positives,
                    "rows_above": e.rows_above,
                    "evaluated_at": now,
                }
            )
            metrics[f"{e.metric.rstrip('@')}_{e.parameter}".rstrip("_") + f"__{uuid[:8]}"] = e.mean
    first = next((r for r in rows if r["metric"] == "precision@"), None)
    leaderboard.append(
        {
            "split": model_row["split"],
            "model": _short(model_row["class_path"]),
            "params": model_row["params"],
            "groups": ", ".join(used),
            "metric": f"precision@{first['parameter']}" if first else "",
            "value": None if first is None or first["value"] is None else round(first["value"], 4),
            "auc": next(
                (round(r["value"], 4) for r in rows if r["metric"] == "auc_roc" and r["value"] is not None),
                None,
            ),
        }
    )
    return rows, metrics


def _legend(folder, uuid: str) -> str:
    dates = read_manifest(folder, uuid)["as_of_dates"]
    return f"as of {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "") + f" ({uuid[:8]})"


def _top(board: list[dict], n: int = 30) -> list[dict]:
    return sorted(board, key=lambda r: (r["split"], -(r["value"] if r["value"] is not None else -1)))[:n]
