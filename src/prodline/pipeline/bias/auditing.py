"""Each model of a split audited on the split's test matrices: the rows of `results.aequitas`, as
Triage's evaluator stores them in `test_results.aequitas` (one row per model, matrix, cutoff, tie
breaker and group; `for` spelled `for_`, a reserved word in SQL)."""

import datetime as dt

import numpy as np
import sqlalchemy as sa

from prodline.config.bias import BiasAuditConfig
from prodline.pipeline.bias.attributes import matrix_attributes
from prodline.pipeline.bias.audit import DISPARITY_METRICS, audit
from prodline.pipeline.evaluations.evaluating import test_scores
from prodline.pipeline.tables import ONE, Tables

COUNTS = ("k", "pp", "pn", "fp", "fn", "tn", "tp", "group_label_pos", "group_label_neg", "group_size",
          "total_entities")
RATIOS = ("accuracy", "tpr", "tnr", "for_", "fdr", "fpr", "fnr", "npv", "precision", "ppr", "pprev", "prev")
AEQUITAS_COLUMNS = {
    "model_id": sa.String, "model_group_id": sa.String, "split": sa.String, "matrix": sa.String,
    "evaluation_start_time": sa.Date, "evaluation_end_time": sa.Date, "parameter": sa.String,
    "tie_breaker": sa.String, "attribute_name": sa.String, "attribute_value": sa.String,
    **{c: sa.BigInteger for c in COUNTS}, **{c: sa.Double for c in RATIOS},
    **{f"{m}_disparity": sa.Double for m in DISPARITY_METRICS},
    **{f"{m}_ref_group_value": sa.String for m in DISPARITY_METRICS},
    "evaluated_at": sa.DateTime,
}


def _stored(value):
    """NaN (an undefined ratio) is stored as NULL."""
    return None if isinstance(value, float) and np.isnan(value) else value


def audit_split(trained: list[dict], index: dict, matrix_store, model_store, warehouse,
                config: BiasAuditConfig, tables: Tables = ONE) -> list[dict]:
    """The audit rows of a split's models on each of its test matrices."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    matrices = []
    for uuid in index["tests"]:
        matrix = matrix_store.matrix(uuid)
        keys = matrix.keys.to_pandas()
        dates = sorted(keys["as_of_date"])
        attributes = matrix_attributes(warehouse, config, keys, tables)
        matrices.append((uuid, matrix.y, attributes, dates[0], dates[-1]))
    rows = []
    for model_row in trained:
        scores = test_scores(model_row, index["tests"], matrix_store, model_store)
        for uuid, y, attributes, start, end in matrices:
            for row in audit(scores[uuid], y, attributes, config.thresholds.parameters(),
                             config.ref_groups_method, config.ref_groups):
                row["for_"] = row.pop("for")
                rows.append({"model_id": model_row["model_id"], "model_group_id": model_row["model_group_id"],
                             "split": model_row["split"], "matrix": uuid, "evaluation_start_time": start,
                             "evaluation_end_time": end, "evaluated_at": now,
                             **{k: _stored(v) for k, v in row.items()}})
    return rows
