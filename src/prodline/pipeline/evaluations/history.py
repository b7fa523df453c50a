"""The evaluation history the selection rule and the model card read: one value per model and split
on the selection metric, and the baselines' values on a matrix."""

import pandas as pd

from prodline.config import ProjectConfig
from prodline.pipeline.matrices.building import current_splits
from prodline.pipeline.models.grid import short_name
from prodline.pipeline.tables import ONE, Tables, has_table

HISTORY_COLUMNS = ["model_id", "model_group_id", "split", "split_time", "value", "baseline", "class_path"]


def evaluation_history(config: ProjectConfig, warehouse) -> pd.DataFrame:
    """One row per model and split on the selection metric (averaged over a split's test matrices, on
    the whole cohort: not a subset's rows, not the training matrix's):
    model_id, model_group_id, split, split_time, value, baseline, class_path."""
    selection = config.selection
    tables = config.tables
    if not has_table(warehouse, tables.evaluations):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    rows = warehouse.rows(
        "SELECT e.model_id, e.model_group_id, e.split, avg(e.value) AS value, "
        "bool_or(m.baseline) AS baseline, max(m.class_path) AS class_path "
        f"FROM {tables.evaluations} AS e JOIN {tables.models} AS m ON m.model_id = e.model_id "
        "WHERE e.metric = :metric AND e.parameter = :parameter AND e.matrix_type = 'test' AND e.subset = '' "
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


def baseline_values(warehouse, split: str, matrix: str, selection,
                    tables: Tables = ONE) -> dict[str, float | None]:
    """The best value of each baseline class on one test matrix, by short class name."""
    rows = warehouse.rows(
        f"SELECT m.class_path, max(e.value) AS value FROM {tables.evaluations} AS e "
        f"JOIN {tables.models} AS m ON m.model_id = e.model_id WHERE m.baseline AND e.split = :split "
        "AND e.matrix = :matrix AND e.metric = :metric AND e.parameter = :parameter AND e.subset = '' "
        "GROUP BY m.class_path",
        split=split,
        matrix=matrix,
        metric=selection.metric,
        parameter=selection.parameter,
    )
    return {short_name(r["class_path"]): r["value"] for r in rows}
