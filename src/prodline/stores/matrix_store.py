"""The matrices and the models' stored test scores: Parquet files under the project's home.

Matrices are named by their definition (see `prodline.pipeline.matrices.files`); each split has an
index of its training and test matrices; each model's test scores are kept by its MLflow run id,
so the evaluations and the gate read them instead of loading every model back.
"""

import datetime as dt
import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from prodline.config import ProjectConfig
from prodline.pipeline.errors import StepRefused
from prodline.pipeline.matrices.building import build_matrix, spec_maker
from prodline.pipeline.matrices.columns import triage_layout
from prodline.pipeline.matrices.files import (
    Matrix,
    MatrixSpec,
    SplitMatrices,
    read_labels,
    read_manifest,
    read_matrix,
    training_order,
)
from prodline.pipeline.models.stored_scores import read_scores, write_scores
from prodline.pipeline.tables import ONE, Tables


class MatrixStore(BaseModel):
    matrices_dir: str
    scores_dir: str
    # A problem of a deployment keeps its own split indexes (two problems may have a split of the
    # same date); matrices are named by their definition, label included, so they never collide.
    problem: str = ""
    triage_rows: bool = False  # train on rows in Triage's order (a Triage experiment's layout)

    @property
    def folder(self) -> Path:
        return Path(self.matrices_dir)

    def of(self, config: ProjectConfig) -> "MatrixStore":
        """The store as `config`'s problem sees it."""
        return MatrixStore(matrices_dir=self.matrices_dir, scores_dir=self.scores_dir, problem=config.problem,
                           triage_rows=triage_layout(config))

    def _index(self, key: str) -> Path:
        return self.folder / "splits" / self.problem / f"{key}.json"

    def build(self, warehouse, spec: MatrixSpec, reuse: bool = True,
              tables: Tables = ONE) -> tuple[dict, bool]:
        """(manifest, reused): the matrix with this definition if it exists (and `reuse`), else built."""
        return build_matrix(warehouse, self.folder, spec, reuse, tables)

    def write_split_index(self, key: str, train: MatrixSpec, tests: list[MatrixSpec]) -> dict:
        """Record the split's matrices; the index written ({"train": uuid, "tests": [uuid, ...]})."""
        path = self._index(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        index = {"train": train.uuid, "tests": [t.uuid for t in tests]}
        path.write_text(json.dumps(index))
        return index

    def split_index(self, key: str) -> dict:
        """{"train": uuid, "tests": [uuid, ...]} of a split whose matrices were built."""
        path = self._index(key)
        if not path.exists():
            raise StepRefused(f"split {key} has no matrices yet: materialize matrices for it first")
        return json.loads(path.read_text())

    def manifest(self, uuid: str) -> dict:
        return read_manifest(self.folder, uuid)

    def labels(self, uuid: str) -> np.ndarray:
        return read_labels(self.folder, uuid)

    def legend(self, uuid: str) -> str:
        """How a picture names a test matrix: its as-of dates and the start of its uuid."""
        dates = self.manifest(uuid)["as_of_dates"]
        return f"as of {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "") + f" ({uuid[:8]})"

    def matrix(self, uuid: str) -> Matrix:
        keys, X, y = read_matrix(self.folder, uuid)
        return Matrix(uuid, keys, X, y, self.manifest(uuid)["features"])

    def split(self, key: str) -> SplitMatrices:
        index = self.split_index(key)
        keys, X, y = read_matrix(self.folder, index["train"])
        if self.triage_rows:
            order = training_order(keys)
            X, y = X[order], y[order]
        tests = [(uuid, *read_matrix(self.folder, uuid)[1:]) for uuid in index["tests"]]
        return SplitMatrices(X, y, self.manifest(index["train"])["features"], tests, index)

    def train_matrix(self, split: str) -> Matrix:
        return self.matrix(self.split_index(split)["train"])

    def newest_test_matrix(self, split: str) -> Matrix:
        return self.matrix(self.split_index(split)["tests"][-1])

    def cohort_matrix(self, config: ProjectConfig, warehouse, day: dt.date) -> Matrix:
        """The cohort of one as-of date with every feature (and its label where known), rebuilt from
        the warehouse each time: a features partition written again must be scored as it is now."""
        spec = spec_maker(config, warehouse)("score", [day], "null")
        manifest, _ = self.build(warehouse, spec, reuse=False, tables=config.tables)
        return self.matrix(manifest["uuid"])

    def write_scores(self, run_id: str, predicted: dict[str, np.ndarray]) -> None:
        write_scores(Path(self.scores_dir), run_id, predicted)

    def scores(self, run_id: str) -> dict[str, np.ndarray] | None:
        """A model's stored test scores by matrix uuid, or None if it has none."""
        return read_scores(Path(self.scores_dir), run_id)
