"""Matrices, models and evaluations, one partition per temporal split.

A backfill over every split is the research experiment. Each step reads what the one before left:
the matrices of a split are Parquet files named by their definition, models are MLflow runs listed
in `results.models`, and evaluations land in `results.evaluations`.
"""

import base64
import datetime as dt
import itertools
import json
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from prodline.assets.as_of import COHORT, COHORT_TABLE, LABELS, LABELS_TABLE, feature_key, resolve_choices
from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.pipeline import features_sql as fsql
from prodline.pipeline.evaluation import Threshold, evaluate
from prodline.pipeline.grid import expand
from prodline.pipeline.matrices import MatrixSpec, existing, matrix_selects, read_matrix, write_matrix
from prodline.pipeline.scores import read_scores, write_scores
from prodline.pipeline.splits import Split, SplitError, make_splits
from prodline.pipeline.timeline import timeline_png
from prodline.pipeline.training import Fitted, fit, importances, importances_png, precision_recall_png, scores
from prodline.resources.warehouse import POOL

MATRICES, MODELS, EVALUATIONS = (
    dg.AssetKey(["matrices"]),
    dg.AssetKey(["models"]),
    dg.AssetKey(["evaluations"]),
)
MODELS_TABLE, EVALUATIONS_TABLE = "models", "evaluations"  # in the results schema


SPLITS = dg.DynamicPartitionsDefinition(name="splits")  # production splits that follow the data


def modeling_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    if config.temporal is None or config.grid is None:
        return []
    if config.temporal.open_ended:
        splits, partitions = None, SPLITS  # added by the new_splits sensor as labels mature
    else:
        splits = {s.key: s for s in make_splits(config.temporal)}
        partitions = dg.StaticPartitionsDefinition(list(splits))
    return [
        _matrices_asset(config, splits, partitions),
        _models_asset(config, splits, partitions),
        _evaluations_asset(config, splits, partitions),
    ]


def _asset(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # BackfillPolicy is beta in Dagster 1.13
        return dg.asset(group_name="modeling", backfill_policy=dg.BackfillPolicy.single_run(), **kwargs)


def current_splits(config: ProjectConfig, warehouse) -> list[Split]:
    """The splits the data allows now: those whose test labels have matured (open-ended configs),
    or the config's own. Production split times are anchored, so a split never changes once made."""
    temporal = config.temporal
    if not temporal.open_ended:
        return make_splits(temporal)
    newest = (
        warehouse.scalar(f"SELECT max(as_of_date) FROM {LABELS_TABLE}")
        if warehouse.columns("features", "labels")
        else None
    )
    if newest is None:
        return []
    newest = newest if isinstance(newest, dt.date) else dt.date.fromisoformat(str(newest))
    try:
        return make_splits(temporal.ending(newest))
    except SplitError:
        return []  # not enough labelled history yet for a first split


def matrix_specs(config: ProjectConfig, warehouse, split: Split) -> tuple[MatrixSpec, list[MatrixSpec]]:
    """The training matrix and test matrices of a split, with the feature columns the tables have now."""
    tables = tuple(
        (
            f"features.{f.prefix}",
            tuple(c for c in warehouse.columns("features", f.prefix) if c not in ("as_of_date", "entity_id")),
        )
        for f in config.features
    )
    label = config.label
    definition = json.dumps(
        {
            "cohort": config.cohort.sql(),
            "label": [label.sql(), label.name, label.timespan],
            "features": [f.model_dump(mode="json") for f in config.features],
        },
        sort_keys=True,
        default=str,
    )

    def spec(kind: str, dates, missing: str) -> MatrixSpec:
        return MatrixSpec(kind, tuple(dates), label.name, label.timespan, missing, tables, definition)

    train = spec("train", split.train.as_of_dates, label.missing.train)
    return train, [spec("test", t.as_of_dates, label.missing.test) for t in split.tests]


def missing_inputs(warehouse, config: ProjectConfig, split: Split) -> list[str]:
    """As-of partitions a split needs that are not in the warehouse yet, per table."""
    wanted = set(split.as_of_dates)
    problems = []
    for table in [COHORT_TABLE, LABELS_TABLE, *(f"features.{f.prefix}" for f in config.features)]:
        schema, name = table.split(".")
        have = set()
        if warehouse.columns(schema, name):
            have = {
                r["as_of_date"]
                for r in warehouse.rows(
                    f"SELECT DISTINCT as_of_date FROM {table} WHERE as_of_date BETWEEN :s AND :e",
                    s=min(wanted),
                    e=max(wanted),
                )
            }
        if lacking := sorted(
            wanted - {d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in have}
        ):
            problems.append(
                f"{table} has no rows for {len(lacking)} date(s): "
                + ", ".join(map(str, lacking[:6]))
                + (", ..." if len(lacking) > 6 else "")
            )
    return problems


def _png_markdown(png: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _matrices_asset(config: ProjectConfig, splits: dict[str, Split], partitions) -> dg.AssetsDefinition:
    deps = [COHORT, LABELS, *(feature_key(f.prefix) for f in config.features)]

    @_asset(
        key=MATRICES,
        partitions_def=partitions,
        required_resource_keys={"warehouse"},
        kinds={"parquet"},
        pool=POOL,
        deps=[dg.AssetDep(k, partition_mapping=dg.AllPartitionMapping()) for k in deps],
        description="Training and test matrices of a split (Parquet, with a manifest each).",
    )
    def matrices(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse, folder = context.resources.warehouse, home_of(config).matrices
        known = splits or {s.key: s for s in current_splits(config, warehouse)}
        if unknown := [k for k in context.partition_keys if k not in known]:
            raise dg.Failure(
                description=f"no split {', '.join(unknown)} in the config's splits", allow_retries=False
            )
        chosen = [known[k] for k in context.partition_keys]
        if problems := [f"split {s.key}: {p}" for s in chosen for p in missing_inputs(warehouse, config, s)]:
            raise dg.Failure(
                description="the splits need as-of partitions that are not built yet "
                "(materialize cohort, labels and features for them first):\n" + "\n".join(problems),
                allow_retries=False,
            )
        entity = _entity_type(warehouse)
        built = []
        for split in chosen:
            train, tests = matrix_specs(config, warehouse, split)
            for spec in [train, *tests]:
                manifest, reused = existing(folder, spec), True
                if manifest is None:
                    reused = False
                    manifest = write_matrix(
                        stream_matrix(warehouse, spec, entity), folder, spec, spec.schema(entity)
                    )
                built.append(
                    {
                        "split": split.key,
                        "kind": spec.kind,
                        "uuid": spec.uuid,
                        "rows": manifest["rows"],
                        **manifest["labels"],
                        "reused": reused,
                    }
                )
            _write_split_index(folder, split.key, train, tests)
        return dg.MaterializeResult(
            metadata={
                "matrices": dg.MetadataValue.md(_table(built)),
                "rows": sum(b["rows"] for b in built),
                "reused": sum(b["reused"] for b in built),
                "timeline": _png_markdown(timeline_png(chosen, f"{len(chosen)} split(s)"), "splits"),
            }
        )

    return matrices


def stream_matrix(warehouse, spec: MatrixSpec, entity: pa.DataType, batch_rows: int = 16_384):
    """The matrix's rows as Arrow batches, one as-of date after the other (see `matrix_selects`)."""
    schema = spec.schema(entity)
    return itertools.chain.from_iterable(
        warehouse.stream(q, schema, batch_rows) for q in matrix_selects(spec, COHORT_TABLE, LABELS_TABLE)
    )


def _entity_type(warehouse) -> pa.DataType:
    kind = warehouse.columns("features", "cohort").get("entity_id", "bigint")
    return pa.string() if "char" in kind or kind == "text" else pa.int64()


def _write_split_index(folder, key: str, train: MatrixSpec, tests: list[MatrixSpec]) -> None:
    path = folder / "splits" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"train": train.uuid, "tests": [t.uuid for t in tests]}))


def split_index(config: ProjectConfig, key: str) -> dict:
    path = home_of(config).matrices / "splits" / f"{key}.json"
    if not path.exists():
        raise dg.Failure(
            description=f"split {key} has no matrices yet: materialize matrices for it first",
            allow_retries=False,
        )
    return json.loads(path.read_text())


def feature_group_columns(config: ProjectConfig, warehouse) -> dict[str, list[str]]:
    """Named groups (by prefix, interval or metric) of feature columns, each with its `_imp` flag."""
    groups: dict[str, list[str]] = {}
    for feature in config.features:
        columns = fsql.feature_columns(feature, resolve_choices(warehouse, feature))
        flags = {c.name: c.flag for c in columns if c.flag}
        for name, members in fsql.feature_groups(columns, list(config.feature_groups)).items():
            groups.setdefault(name, []).extend(m for c in members for m in (c, flags.get(c)) if m)
    return groups


def _models_asset(config: ProjectConfig, splits: dict[str, Split], partitions) -> dg.AssetsDefinition:
    grid = config.grid

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
        folder = home_of(config).matrices
        groups = feature_group_columns(config, warehouse)
        began, pending, predictions = time.perf_counter(), [], home_of(config).root / "predictions"
        store.prepare()
        # Training uses one core; drawing and logging each model runs beside the next one's fit.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodline-mlflow") as logger:
            for key in context.partition_keys:
                index = split_index(config, key)
                _, X, y = read_matrix(folder, index["train"])
                features = json.loads((folder / f"{index['train']}.json").read_text())["features"]
                tests = [(uuid, read_matrix(folder, uuid)[1]) for uuid in index["tests"]]
                present = {g: [c for c in cs if c in features] for g, cs in groups.items()}
                specs = expand(
                    grid.models,
                    {g: cs for g, cs in present.items() if cs},
                    grid.feature_group_strategies,
                    grid.seed,
                )
                for spec in specs:
                    fitted = fit(spec, X, y, features)
                    context.log.info(f"split {key}: {spec.class_path} {spec.params}: {fitted.seconds:.2f} s")
                    predicted = {uuid: scores(fitted, X_test, features) for uuid, X_test in tests}
                    pending.append(logger.submit(_log_one, store, fitted, key, index, predicted, predictions))
            rows = [f.result() for f in pending]  # the first failure, if any, fails the step
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


def _log_one(store, fitted: Fitted, key: str, index: dict, predicted: dict, folder) -> dict:
    """Log one trained model as an MLflow run and keep its test scores (Parquet, by run id), which
    the evaluations read instead of loading every model back."""
    spec = fitted.spec
    weights = importances(fitted.model, list(spec.features))
    images = {"feature_importances.png": importances_png(weights, _short(spec.class_path))} if weights else {}
    logged = store.log_model(
        fitted.model,
        name=f"{_short(spec.class_path)} {key}",
        params={
            "class_path": spec.class_path,
            **spec.params,
            "feature_groups": list(spec.feature_groups),
            "split": key,
            "train_matrix": index["train"],
            "test_matrices": index["tests"],
        },
        metrics={"train_rows": fitted.rows, "train_seconds": fitted.seconds},
        tags={"model_group_id": spec.group_id, "split": key, "prodline.baseline": str(spec.is_baseline)},
        documents={"features.json": list(spec.features), "feature_importances.json": weights},
        images=images,
    )
    write_scores(folder, logged.run_id, predicted)
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


def thresholds(config: ProjectConfig) -> list[Threshold]:
    return [Threshold(n, "abs") for n in config.scoring.top_n] + [
        Threshold(p, "pct") for p in config.scoring.percentiles
    ]


def _evaluations_asset(config: ProjectConfig, splits: dict[str, Split], partitions) -> dg.AssetsDefinition:
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
        warehouse, store, folder = (
            context.resources.warehouse,
            context.resources.model_store,
            home_of(config).matrices,
        )
        cutoffs, table = thresholds(config), _results_table(warehouse, EVALUATIONS_TABLE, EVALUATIONS_COLUMNS)
        leaderboard = []
        for key in context.partition_keys:
            index = split_index(config, key)
            trained = warehouse.rows(
                f"SELECT * FROM results.{MODELS_TABLE} WHERE split = :k ORDER BY trained_at", k=key
            )
            if not trained:
                raise dg.Failure(
                    description=f"split {key} has no models yet: materialize models for it first",
                    allow_retries=False,
                )
            tests = [(uuid, *read_matrix(folder, uuid)[1:]) for uuid in index["tests"]]
            features = json.loads((folder / f"{index['train']}.json").read_text())["features"]
            rows, pending = [], []
            store.prepare()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodline-mlflow") as logger:
                for model_row in trained:
                    found, curves, metrics = _evaluate_one(
                        store,
                        model_row,
                        tests,
                        features,
                        cutoffs,
                        leaderboard,
                        home_of(config).root / "predictions",
                    )
                    rows += found
                    pending.append(logger.submit(_log_results, store, model_row, metrics, curves))
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


def _evaluate_one(store, model_row: dict, tests, features, cutoffs, leaderboard: list, predictions) -> tuple:
    """Metrics of a model on the split's test matrices: (rows, curves, run metrics). Scores come from
    the model's stored test scores, else from the model loaded back from MLflow. The run's metrics
    and plots are logged by a thread while the next model is evaluated."""
    used = json.loads(model_row["feature_groups"])
    stored = read_scores(predictions, model_row["model_id"]) or {}
    if any(uuid not in stored for uuid, _, _ in tests):
        model = store.load_model(model_row["model_id"])
        positions = [features.index(c) for c in store.document(model_row["model_id"], "features.json")]
        stored = {uuid: model.predict_proba(X[:, positions])[:, 1] for uuid, X, _ in tests}
    now, rows, metrics, curves = dt.datetime.now(dt.UTC).replace(tzinfo=None), [], {}, []
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
        curves.append((uuid, score, y))
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
    return rows, curves, metrics


def _log_results(store, model_row: dict, metrics: dict, curves: list) -> None:
    title = _short(model_row["class_path"])
    images = {
        f"precision_recall_{uuid[:8]}.png": precision_recall_png(score, y, f"{title} on {uuid[:8]}")
        for uuid, score, y in curves
    }
    store.log_results(model_row["model_id"], metrics, images)


def _top(board: list[dict], n: int = 30) -> list[dict]:
    return sorted(board, key=lambda r: (r["split"], -(r["value"] if r["value"] is not None else -1)))[:n]


def _short(class_path: str) -> str:
    return class_path.rsplit(".", 1)[-1]


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += [
        "| " + " | ".join("" if r[h] is None else str(r[h]).replace("|", "/") for h in head) + " |"
        for r in rows
    ]
    return "\n".join(lines)
