"""Test scores of trained models, one Parquet file per model (by its MLflow run id), in each test
matrix's row order: the evaluations read them instead of loading every model back."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_scores(folder: Path, run_id: str, predicted: dict[str, np.ndarray]) -> None:
    """Test scores of a model, in each test matrix's row order (its keys are in the matrix)."""
    folder.mkdir(parents=True, exist_ok=True)
    # The matrix column as a dictionary built from positions: a Python string per row cost ~40 ms.
    lengths = [len(s) for s in predicted.values()]
    matrix = pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)), pa.array(list(predicted))
    )
    scores = np.concatenate(list(predicted.values())) if predicted else np.empty(0)
    table = pa.table({"matrix": matrix, "score": scores})
    pq.write_table(table, folder / f"{run_id}.parquet.partial")
    (folder / f"{run_id}.parquet.partial").rename(folder / f"{run_id}.parquet")


def read_scores(folder: Path, run_id: str) -> dict[str, np.ndarray] | None:
    path = folder / f"{run_id}.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path)
    matrix = table.column("matrix").combine_chunks()
    if not isinstance(matrix, pa.DictionaryArray):  # written by hand or by another tool
        matrix = matrix.dictionary_encode()
    codes, names = matrix.indices.to_numpy(zero_copy_only=False), matrix.dictionary.to_pylist()
    score = table.column("score").to_numpy()
    return {name: score[codes == c] for c, name in enumerate(names)}
