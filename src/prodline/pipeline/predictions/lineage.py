"""Why a person is on a list: the row of `production.predictions` (rank and score), the model that
scored it (registry name, version and MLflow run, model group, training split and its as-of dates),
the data versions of the partitions it was scored on, and the gate's evidence for that version."""

import datetime as dt
import json

from prodline.config import ProjectConfig
from prodline.pipeline.champion.records import gate_results
from prodline.pipeline.matrices.building import current_splits
from prodline.pipeline.predictions.stored_lists import chosen_date, list_dates
from prodline.pipeline.tables import has_table


def why_listed(config: ProjectConfig, warehouse, entity: str, day: dt.date) -> dict:
    """The lineage of `entity`'s row on the list of `day`; LookupError, saying what exists, when
    there is no list for that date or the entity is not on it."""
    tables = config.tables
    predictions = tables.production("predictions")
    day = chosen_date(list_dates(warehouse, tables), day, predictions)
    found = warehouse.rows(f"SELECT * FROM {predictions} WHERE as_of_date = :d "
                           "AND CAST(entity_id AS VARCHAR) = :e", d=day, e=entity)
    if not found:
        listed = warehouse.scalar(f"SELECT count(*) FROM {predictions} WHERE as_of_date = :d", d=day)
        raise LookupError(f"entity {entity!r} is not on the list of {day} ({listed} entities are)")
    row = found[0]
    versions = row.get("data_versions")
    return {
        "entity_id": row["entity_id"],
        "as_of_date": day.isoformat(),
        "rank": row["rank"],
        "score": row["score"],
        "percentile": row["percentile"],
        "predicted_at": _text(row["predicted_at"]),
        "dagster_run_id": row["dagster_run_id"],
        "model": _model(config, warehouse, row),
        # None on a row written before data versions were kept (its features_partition says its date)
        "data_versions": json.loads(versions) if versions else None,
        "gate": [{**{k: g[k] for k in ("check_name", "passed", "severity", "summary")},
                  "evidence": json.loads(g["evidence"]), "evaluated_at": _text(g["evaluated_at"])}
                 for g in gate_results(warehouse, row["model_name"], row["model_version"], tables)],
    }


def _model(config: ProjectConfig, warehouse, row: dict) -> dict:
    """The model behind a row: its registry entry, and the model group and split `results.models`
    lists for its run, with the split's as-of dates."""
    model = {"name": row["model_name"], "version": row["model_version"], "run_id": row["model_run_id"],
             "model_group_id": None, "class_path": None, "split": None, "train_as_of_dates": None,
             "test_as_of_dates": None, "train_matrix": None}
    trained = warehouse.rows(f"SELECT * FROM {config.tables.models} WHERE model_id = :r",
                             r=row["model_run_id"]) if has_table(warehouse, config.tables.models) else []
    if trained:
        found = trained[0]
        model.update({k: found[k] for k in ("model_group_id", "class_path", "split", "train_matrix")})
        split = next((s for s in current_splits(config, warehouse) if s.key == found["split"]), None)
        if split is not None:
            model["train_as_of_dates"] = [d.isoformat() for d in split.train.as_of_dates]
            model["test_as_of_dates"] = [d.isoformat() for t in split.tests for d in t.as_of_dates]
    return model


def _text(value):
    return value.isoformat() if isinstance(value, dt.date) else value
