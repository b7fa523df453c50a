"""What the production assets read and record: the evaluation history, registry versions, the
matrices a model is judged on, and the production tables (gate results, promotions).
"""

import datetime as dt
import json
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from prodline.assets.as_of import COHORT_TABLE
from prodline.assets.matrices import build_matrix, entity_type, spec_maker
from prodline.assets.modeling import current_splits, split_index
from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.pipeline.matrices.files import read_manifest, read_matrix
from prodline.pipeline.models.training import positions

GATE_COLUMNS = {
    "model_name": sa.String,
    "version": sa.String,
    "run_id": sa.String,
    "check_name": sa.String,
    "passed": sa.Boolean,
    "severity": sa.String,
    "summary": sa.String,
    "evidence": sa.String,
    "evaluated_at": sa.DateTime,
}
PROMOTION_COLUMNS = {
    "promoted_at": sa.DateTime,
    "model_name": sa.String,
    "kind": sa.String,
    "from_version": sa.String,
    "to_version": sa.String,
    "run_id": sa.String,
    "model_group_id": sa.String,
    "metric": sa.String,
    "value": sa.Float,
    "evidence": sa.String,
}


def model_name(config: ProjectConfig) -> str:
    return (config.promotion and config.promotion.model_name) or config.name


def aliased(config: ProjectConfig, store, alias: str, how: str):
    """The registry version behind an alias; a clear failure (saying `how` to get one) if none."""
    name = model_name(config)
    version = store.alias(name, alias)
    if version is None:
        raise dg.Failure(f"registered model {name!r} has no {alias} yet: {how}", allow_retries=False)
    return version


def production_table(warehouse, name: str, columns: dict, entity: bool = False) -> sa.Table:
    """A table of the production schema; lists (`entity`) lead with the cohort's entity id, in its type."""
    listed = [sa.Column(c, t) for c, t in columns.items()]
    if entity:
        kind = sa.String if entity_type(warehouse) == pa.string() else sa.BigInteger
        listed.insert(0, sa.Column("entity_id", kind))
    return warehouse.ensure_table("production", name, listed)


def evaluation_history(config: ProjectConfig, warehouse) -> pd.DataFrame:
    """One row per model and split on the selection metric (averaged over a split's test matrices):
    model_id, model_group_id, split, split_time, value, baseline, class_path."""
    selection = config.selection
    if not warehouse.columns("results", "evaluations"):
        return pd.DataFrame(
            columns=["model_id", "model_group_id", "split", "split_time", "value", "baseline", "class_path"]
        )
    rows = warehouse.rows(
        "SELECT e.model_id, e.model_group_id, e.split, avg(e.value) AS value, "
        "bool_or(m.baseline) AS baseline, max(m.class_path) AS class_path "
        "FROM results.evaluations AS e JOIN results.models AS m ON m.model_id = e.model_id "
        "WHERE e.metric = :metric AND e.parameter = :parameter "
        "GROUP BY e.model_id, e.model_group_id, e.split",
        metric=selection.metric,
        parameter=selection.parameter,
    )
    times = {s.key: s.time for s in current_splits(config, warehouse)}
    frame = pd.DataFrame(
        rows, columns=["model_id", "model_group_id", "split", "value", "baseline", "class_path"]
    )
    frame["split_time"] = frame["split"].map(times)
    return frame.dropna(subset=["split_time"]).sort_values(["split_time", "model_group_id"])


@dataclass(frozen=True)
class Matrix:
    uuid: str
    keys: pa.Table  # entity_id, as_of_date
    X: np.ndarray
    y: np.ndarray
    features: list[str]

    @property
    def entities(self) -> np.ndarray:
        return self.keys.column("entity_id").to_numpy(zero_copy_only=False)


def load_matrix(config: ProjectConfig, uuid: str) -> Matrix:
    folder = home_of(config).matrices
    keys, X, y = read_matrix(folder, uuid)
    return Matrix(uuid, keys, X, y, read_manifest(folder, uuid)["features"])


def newest_test_matrix(config: ProjectConfig, split: str) -> Matrix:
    return load_matrix(config, split_index(config, split)["tests"][-1])


def train_matrix(config: ProjectConfig, split: str) -> Matrix:
    return load_matrix(config, split_index(config, split)["train"])


def cohort_matrix(config: ProjectConfig, warehouse, day: dt.date) -> Matrix:
    """The cohort of one as-of date with every feature (and its label where known), rebuilt from the
    warehouse each time: a features partition written again must be scored as it is now."""
    spec = spec_maker(config, warehouse)("score", [day], "null")
    manifest, _ = build_matrix(warehouse, home_of(config).matrices, spec, reuse=False)
    return load_matrix(config, manifest["uuid"])


def newest_cohort_date(warehouse) -> dt.date | None:
    if not warehouse.columns(*COHORT_TABLE.split(".")):
        return None
    return warehouse.scalar(f"SELECT max(as_of_date) FROM {COHORT_TABLE}")


def score_matrix(model, model_features: list[str], matrix: Matrix) -> np.ndarray:
    """A model's scores on a matrix, its columns picked by name; a missing one is a clear error."""
    used = positions(model_features, matrix.features, "the model")
    if not len(matrix.X):
        return np.empty(0)
    return model.predict_proba(matrix.X[:, used])[:, 1]


def record_gate(warehouse, name: str, version: str, run_id: str, verdicts) -> None:
    """The gate's verdicts on one version, replacing any earlier evaluation of it."""
    table = production_table(warehouse, "gate_results", GATE_COLUMNS)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        {
            "model_name": name,
            "version": version,
            "run_id": run_id,
            "check_name": v.check,
            "passed": v.passed,
            "severity": v.severity,
            "summary": v.summary,
            "evidence": json.dumps(v.evidence, default=str),
            "evaluated_at": now,
        }
        for v in verdicts
    ]
    with warehouse.engine.begin() as conn:
        conn.execute(table.delete().where(sa.and_(table.c.model_name == name, table.c.version == version)))
        if rows:
            conn.execute(table.insert(), rows)


def gate_results(warehouse, name: str, version: str) -> list[dict]:
    if not warehouse.columns("production", "gate_results"):
        return []
    return warehouse.rows(
        "SELECT * FROM production.gate_results WHERE model_name = :n AND version = :v ORDER BY check_name",
        n=name,
        v=version,
    )


def record_promotion(warehouse, row: dict) -> None:
    table = production_table(warehouse, "promotions", PROMOTION_COLUMNS)
    with warehouse.engine.begin() as conn:
        conn.execute(table.insert(), [{"promoted_at": dt.datetime.now(dt.UTC).replace(tzinfo=None), **row}])


def promotions(warehouse, name: str) -> list[dict]:
    """Every promotion and rollback of the model, oldest first."""
    if not warehouse.columns("production", "promotions"):
        return []
    return warehouse.rows(
        "SELECT * FROM production.promotions WHERE model_name = :n ORDER BY promoted_at", n=name
    )
