"""The warehouse tables prodline writes after the as-of layer, column by column.

Numbers are `Double` (8 bytes) everywhere: SQLAlchemy's `Float` is a 4-byte REAL on DuckDB, which
read a promised 0.6 back as 0.6000000238 and tied scores 1e-9 apart.

The `results` schema holds the research record (every model and its evaluations), replaced split by
split; the `production` schema holds what people act on and audit (lists, drift, monitoring, gate
results, promotions). Tables are created on first use, so a new column here reaches a new warehouse.
"""

import pyarrow as pa
import sqlalchemy as sa

from prodline.config.naming import Tables
from prodline.pipeline.errors import StepRefused

ONE = Tables()  # a project of one problem

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
    "seconds": sa.Double,
    "run_url": sa.String,
    "baseline": sa.Boolean,
    "trained_at": sa.DateTime,
}
EVALUATIONS_COLUMNS = {
    "model_id": sa.String,
    "model_group_id": sa.String,
    "split": sa.String,
    "matrix": sa.String,
    "matrix_type": sa.String,  # "test", or "train" (Triage's training_metric_groups)
    "subset": sa.String,  # a subset's name (Triage's scoring.subsets); "" for the whole cohort
    "metric": sa.String,
    "parameter": sa.String,
    "value": sa.Double,
    "worst_value": sa.Double,
    "best_value": sa.Double,
    "labeled_rows": sa.BigInteger,
    "positives": sa.BigInteger,
    "rows_above": sa.BigInteger,
    "evaluated_at": sa.DateTime,
}
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
    "value": sa.Double,
    "evidence": sa.String,  # JSON: the gate's verdicts on to_version, and an override's reason
    # Who moved the champion and why (issue 19). A table made before gains them, NULL in its rows.
    "actor": sa.String,  # "dagster run <id>", an OS user, a sensor
    "reason": sa.String,
    "gate_passed": sa.Boolean,  # to_version passed every blocking check of the gate recorded for it
    "forced": sa.Boolean,  # the gate was overridden (`prodline rollback --force --reason`)
}
PREDICTION_COLUMNS = {  # after the cohort's entity_id
    "as_of_date": sa.Date,
    "score": sa.Double,
    "rank": sa.Integer,
    "percentile": sa.Double,
    "model_name": sa.String,
    "model_version": sa.String,
    "model_run_id": sa.String,
    # JSON {table: data version}: the cohort and features partitions the row was scored on (a table
    # made before kept its old `features_partition` column, NULL on rows written since)
    "data_versions": sa.String,
    "dagster_run_id": sa.String,
    "predicted_at": sa.DateTime,
}
DRIFT_COLUMNS = {
    "as_of_date": sa.Date,
    "model_version": sa.String,
    "feature": sa.String,
    "psi": sa.Double,
    "level": sa.String,
    "reference_null_share": sa.Double,
    "current_null_share": sa.Double,
}
MONITORING_COLUMNS = {
    "as_of_date": sa.Date,
    "model_version": sa.String,
    "metric": sa.String,
    "parameter": sa.String,
    "value": sa.Double,
    "labeled_rows": sa.BigInteger,
    "positives": sa.BigInteger,
    "labeled_share": sa.Double,
    "promised": sa.Double,
    "evaluated_at": sa.DateTime,
}


def entity_type(warehouse, tables: Tables = ONE) -> pa.DataType:
    """The cohort's entity id as Arrow has it: text ids stay text, everything else is an integer."""
    kind = warehouse.columns(*tables.cohort.split(".")).get("entity_id", "bigint")
    return pa.string() if "char" in kind or kind == "text" else pa.int64()


# Columns added after a table's first release: an existing warehouse gains them, and the rows it
# already holds take these values (every evaluation before issue 17 was of a test matrix, whole).
ADDED_DEFAULTS = {"matrix_type": "test", "subset": ""}


def results_table(warehouse, name: str, columns: dict, tables: Tables = ONE) -> sa.Table:
    listed = [sa.Column(c, t, server_default=ADDED_DEFAULTS.get(c)) for c, t in columns.items()]
    return warehouse.ensure_table(*tables.own("results", name).split("."), listed, index=["split"])


def production_table(warehouse, name: str, columns: dict, entity: bool = False,
                     tables: Tables = ONE) -> sa.Table:
    """A table of the production schema; lists (`entity`) lead with the cohort's entity id, in its type."""
    listed = [sa.Column(c, t) for c, t in columns.items()]
    if entity:
        kind = sa.String if entity_type(warehouse, tables) == pa.string() else sa.BigInteger
        listed.insert(0, sa.Column("entity_id", kind))
    return warehouse.ensure_table(*tables.production(name).split("."), listed)


def table_schema(table: sa.Table) -> pa.Schema:
    """The Arrow schema of rows written into `table`."""
    kinds = {
        sa.String: pa.string(),
        sa.Integer: pa.int32(),
        sa.BigInteger: pa.int64(),
        sa.Double: pa.float64(),
        sa.Boolean: pa.bool_(),
        sa.DateTime: pa.timestamp("us"),
        sa.Date: pa.date32(),
    }
    return pa.schema([(c.name, kinds[type(c.type)]) for c in table.columns])


def has_table(warehouse, reference: str) -> bool:
    return bool(warehouse.columns(*reference.split(".")))


def write_by_split(warehouse, name: str, columns: dict, rows: list[dict], keys: list[str],
                   tables: Tables = ONE) -> None:
    """Replace the rows of each split in `keys` of `results.<name>` with those of `rows`."""
    table = results_table(warehouse, name, columns, tables)
    for key in keys:
        mine = [r for r in rows if r["split"] == key]
        warehouse.replace_window(table, pa.Table.from_pylist(mine, table_schema(table)), "split", key, key)


def trained_models(warehouse, key: str, tables: Tables = ONE) -> list[dict]:
    """The models of a split, as `results.models` lists them (oldest first); refused if none."""
    found = warehouse.rows(f"SELECT * FROM {tables.models} WHERE split = :k ORDER BY trained_at", k=key) \
        if has_table(warehouse, tables.models) else []
    if not found:
        raise StepRefused(f"split {key} has no models yet: materialize models for it first")
    return found
