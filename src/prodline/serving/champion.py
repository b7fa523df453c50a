"""The model being served, loaded whole before it is used: the champion's estimator, its features,
and its scores for everyone in the newest cohort (what `POST /score` answers for entity ids)."""

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from prodline.config import ProjectConfig
from prodline.pipeline.as_of.cohort_labels import newest_cohort_date
from prodline.pipeline.champion.records import gate_results, model_name, promotions
from prodline.pipeline.evaluations.history import evaluation_history
from prodline.pipeline.matrices.building import spec_maker, stream_matrix
from prodline.pipeline.matrices.files import arrays
from prodline.pipeline.models.training import positions
from prodline.pipeline.predictions import on_request as scoring
from prodline.pipeline.tables import entity_type

log = logging.getLogger("prodline.serving")


@dataclass(frozen=True)
class Served:
    name: str
    version: str
    run_id: str
    model: object
    features: list[str]
    as_of_date: dt.date | None  # the newest cohort, which entity ids are scored in
    index: dict  # entity id -> row of `scores`
    scores: np.ndarray
    reference: np.ndarray  # the same scores, sorted: where a new score falls among them
    card: dict = field(default_factory=dict)  # what /model and the model card show
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    predictor: Callable[[np.ndarray], np.ndarray] | None = None  # see `scoring.predictor`
    integer_ids: bool = True

    def key(self, given):
        """An entity id as the cohort holds it (an integer id may come as text), or None if it
        cannot be one."""
        if not self.integer_ids:
            return str(given)
        if isinstance(given, int):
            return given
        try:
            return int(given)
        except ValueError:
            return None

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not len(X):
            return np.empty(0)
        return self.predictor(X) if self.predictor is not None else self.model.predict_proba(X)[:, 1]

    def lineage(self) -> dict:
        return {"name": self.name, "version": self.version, "run_id": self.run_id}


def champion_version(config: ProjectConfig, store) -> str | None:
    found = store.alias(model_name(config), "champion")
    return None if found is None else str(found.version)


def load_served(config: ProjectConfig, store, warehouse, version: str) -> Served:
    """Version `version` of the project's model, ready to answer: a failure anywhere raises, and
    the caller keeps what it served before."""
    name = model_name(config)
    found = store.version(name, version)
    model = store.load_model(found.run_id)
    if "n_jobs" in model.get_params():  # one row scores 4x faster without a pool of workers
        model.set_params(n_jobs=1)
    features = store.document(found.run_id, "features.json")
    day = newest_cohort_date(warehouse, config.tables)
    keys, X, columns = cohort_features(config, warehouse, day)
    scores, fast = np.empty(0), scoring.predictor(model)
    if len(X):
        X = X[:, positions(features, columns, f"version {version}")]
        scores = model.predict_proba(X)[:, 1]
        if not np.array_equal(fast(X), scores):  # never seen; if it were, correct beats fast
            log.warning("version %s: the fast path scores differently; serving with predict_proba", version)
            fast = None
    entities = keys.column("entity_id").to_pylist()
    return Served(
        name=name,
        version=str(version),
        run_id=found.run_id,
        model=model,
        features=features,
        as_of_date=day,
        index={e: i for i, e in enumerate(entities)},
        scores=scores,
        reference=np.sort(scores),
        predictor=fast,
        integer_ids=pa.types.is_integer(keys.column("entity_id").type),
        card=model_card(config, warehouse, name, found),
    )


def cohort_features(
    config: ProjectConfig, warehouse, day: dt.date | None
) -> tuple[pa.Table, np.ndarray, list]:
    """(keys, features, feature names) of one as-of date's cohort, read into memory (no file)."""
    if day is None:
        return pa.table({"entity_id": pa.array([], pa.int64())}), np.empty((0, 0)), []
    spec = spec_maker(config, warehouse)("score", [day], "null")
    entity = entity_type(warehouse, config.tables)
    rows = stream_matrix(warehouse, spec, entity, tables=config.tables)
    table = pa.Table.from_batches(list(rows), spec.schema(entity))
    keys, X, _ = arrays(table)
    return keys, X, list(spec.features)


def model_card(config: ProjectConfig, warehouse, name: str, version) -> dict:
    """Facts about a version: where it came from, its promotion, the gate's evidence and its metric
    over the splits beside its group's other models."""
    selection = config.selection
    history = evaluation_history(config, warehouse)
    group = version.tags.get("model_group_id")
    ours = history[history["model_group_id"] == group]
    baselines = history[history["baseline"]]
    promoted = [p for p in promotions(warehouse, name, config.tables)
                if p["to_version"] == str(version.version)]
    return {
        "split": version.tags.get("split"),
        "model_group_id": group,
        "class_path": None if ours.empty else ours["class_path"].iloc[-1],
        "metric": selection.name,
        "metrics": {s: round(float(v), 4) for s, v in zip(ours["split"], ours["value"], strict=True)},
        "best_baseline": {
            str(s): round(float(v), 4) for s, v in baselines.groupby("split")["value"].max().items()
        },
        "promoted_at": promoted[-1]["promoted_at"].isoformat() if promoted else None,
        "promotion": promoted[-1]["kind"] if promoted else None,
        "gate": [
            {
                **{k: g[k] for k in ("check_name", "passed", "severity", "summary")},
                "evidence": json.loads(g["evidence"]),
            }
            for g in gate_results(warehouse, name, str(version.version), config.tables)
        ],
    }
