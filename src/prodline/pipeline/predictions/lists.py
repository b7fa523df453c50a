"""One as-of date's ranked list, as `production.predictions` keeps it, and how far its features
have drifted from the champion's training matrix (`production.drift`)."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa

from prodline.config.production import MonitoringConfig
from prodline.pipeline.matrices.files import Matrix
from prodline.pipeline.models.training import positions
from prodline.pipeline.monitoring import measures
from prodline.pipeline.predictions import ranking
from prodline.pipeline.tables import DRIFT_COLUMNS
from prodline.pipeline.verdict import Verdict


def ranked_list(cohort: Matrix, scores: np.ndarray, lineage: dict, data_versions: dict[str, str]) -> pa.Table:
    """The cohort ranked by score (ties broken by entity id), each row traced by `lineage`
    (the model's name, version and MLflow run id, and the Dagster run that made it) and by the data
    versions of the partitions it was scored on ({table: version})."""
    ranks = ranking.rank(scores, cohort.entities)
    n = len(scores)
    return pa.table({
        "entity_id": cohort.keys.column("entity_id"),
        "as_of_date": cohort.keys.column("as_of_date"),
        "score": scores,
        "rank": ranks.astype(np.int32),
        "percentile": ranking.percentile(ranks),
        "model_name": [lineage["model_name"]] * n,
        "model_version": [lineage["model_version"]] * n,
        "model_run_id": [lineage["model_run_id"]] * n,
        "data_versions": [json.dumps(data_versions, sort_keys=True)] * n,
        "dagster_run_id": [lineage["dagster_run_id"]] * n,
        "predicted_at": [dt.datetime.now(dt.UTC).replace(tzinfo=None)] * n,
    })


def scored_versions(manifest: dict, day: dt.date, labels_table: str) -> dict[str, str]:
    """{table: data version} of the partitions of `day` a cohort matrix (its manifest) was built
    from, its labels aside: what a list was scored on."""
    return {t: by_date[day.isoformat()] for t, by_date in manifest["data_versions"].items()
            if t != labels_table and day.isoformat() in by_date}


def list_drift(reference: Matrix, cohort: Matrix, features: list[str], watching: MonitoringConfig,
               day: dt.date, version: str) -> pd.DataFrame:
    """The PSI of every feature the model uses, between its training matrix and this cohort, with
    its level (stable, moderate, major): rows of `production.drift`."""
    columns = {"reference": positions(features, reference.features, "the champion"),
               "current": positions(features, cohort.features, "the champion")}
    drift = measures.feature_drift(
        {f: reference.X[:, i] for f, i in zip(features, columns["reference"], strict=True)},
        {f: cohort.X[:, i] for f, i in zip(features, columns["current"], strict=True)},
        bins=watching.bins,
    )
    drift["level"] = [measures.drift_level(p, watching.drift_warn, watching.drift_alert)
                      for p in drift["psi"]]
    return drift.assign(as_of_date=day, model_version=version)[list(DRIFT_COLUMNS)]


def drifted(drift: pd.DataFrame, warn: float) -> list[dict]:
    """The features of a date at or above `warn`, for the check's evidence."""
    found = drift[drift["psi"] >= warn][["as_of_date", "feature", "psi", "current_null_share"]].round(4)
    return [{**r, "as_of_date": str(r["as_of_date"])} for r in found.to_dict("records")]


def drift_verdict(check: str, drifts: list[dict], warn: float) -> Verdict:
    """WARN only: drift is worth seeing the day a list is made, but it blocks nothing."""
    summary = (f"{len(drifts)} feature-date(s) with PSI >= {warn:g}" if drifts
               else f"every feature's PSI below {warn:g}")
    return Verdict(check, not drifts, "WARN", summary, {"drifted": drifts[:50]})
