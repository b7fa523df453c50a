"""Test scores of trained models, one Parquet file per model (by its MLflow run id), in each test
matrix's row order: the evaluations read them instead of loading every model back."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_scores(folder: Path, run_id: str, predicted: dict[str, np.ndarray]) -> None:
    """Test scores of a model, in each test matrix's row order (its keys are in the matrix)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "matrix": pa.array([u for u, s in predicted.items() for _ in range(len(s))]).dictionary_encode(),
            "score": np.concatenate(list(predicted.values())) if predicted else np.empty(0),
        }
    )
    pq.write_table(table, folder / f"{run_id}.parquet.partial")
    (folder / f"{run_id}.parquet.partial").rename(folder / f"{run_id}.parquet")


def read_scores(folder: Path, run_id: str) -> dict[str, np.ndarray] | None:
    path = folder / f"{run_id}.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path)
    matrix, score = np.array(table.column("matrix").to_pylist()), table.column("score").to_numpy()
    return {u: score[matrix == u] for u in dict.fromkeys(matrix.tolist())}
