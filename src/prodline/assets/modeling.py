"""Matrices, models and evaluations, one partition per temporal split.

A backfill over every split is the research experiment. Each step reads what the one before left:
the matrices of a split are Parquet files named by their definition, models are MLflow runs listed
in `results.models`, and evaluations land in `results.evaluations`.
"""

import base64
import json
from dataclasses import dataclass

import dagster as dg
import numpy as np

from prodline.assets.as_of import LABELS_TABLE
from prodline.assets.backfill import single_run_asset
from prodline.config import ProjectConfig
from prodline.home import home_of
from prodline.pipeline.matrices.files import read_manifest, read_matrix
from prodline.pipeline.matrices.splits import Split, SplitError, make_splits

MATRICES, MODELS, EVALUATIONS = (
    dg.AssetKey(["matrices"]),
    dg.AssetKey(["models"]),
    dg.AssetKey(["evaluations"]),
)


MODELS_TABLE, EVALUATIONS_TABLE = "models", "evaluations"  # in the results schema


SPLITS = dg.DynamicPartitionsDefinition(name="splits")  # production splits that follow the data


def modeling_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    from prodline.assets.matrices import matrices_asset  # they build on this module's helpers
    from prodline.assets.models import evaluations_asset, models_asset

    if config.temporal is None or config.grid is None:
        return []
    if config.temporal.open_ended:
        splits, partitions = None, SPLITS  # added by the new_splits sensor as labels mature
    else:
        splits = {s.key: s for s in make_splits(config.temporal)}
        partitions = dg.StaticPartitionsDefinition(list(splits))
    return [
        matrices_asset(config, splits, partitions),
        models_asset(config, partitions),
        evaluations_asset(config, partitions),
    ]


def _asset(**kwargs):
    return single_run_asset(group_name="modeling", **kwargs)


def current_splits(config: ProjectConfig, warehouse) -> list[Split]:
    """The splits the data allows now: those whose test labels have matured (open-ended configs),
    or the config's own. Production split times are anchored, so a split never changes once made."""
    temporal = config.temporal
    if not temporal.open_ended:
        return make_splits(temporal)
    newest = (
        warehouse.scalar(f"SELECT max(as_of_date) FROM {LABELS_TABLE}")
        if warehouse.columns("features", "labels")
        else None
    )
    if newest is None:
        return []
    try:
        return make_splits(temporal.ending(newest))
    except SplitError:
        return []  # not enough labelled history yet for a first split


@dataclass(frozen=True)
class SplitMatrices:
    """A split's matrices as arrays: the training matrix, its feature names, and each test matrix."""

    X: np.ndarray
    y: np.ndarray
    features: list[str]
    tests: list[tuple[str, np.ndarray, np.ndarray]]  # (uuid, X, y)
    index: dict  # {"train": uuid, "tests": [uuid, ...]}


def load_split(config: ProjectConfig, key: str) -> SplitMatrices:
    folder, index = home_of(config).matrices, split_index(config, key)
    _, X, y = read_matrix(folder, index["train"])
    tests = [(uuid, *read_matrix(folder, uuid)[1:]) for uuid in index["tests"]]
    return SplitMatrices(X, y, read_manifest(folder, index["train"])["features"], tests, index)


def split_index(config: ProjectConfig, key: str) -> dict:
    path = home_of(config).matrices / "splits" / f"{key}.json"
    if not path.exists():
        raise dg.Failure(
            description=f"split {key} has no matrices yet: materialize matrices for it first",
            allow_retries=False,
        )
    return json.loads(path.read_text())


def _png_markdown(png: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def _short(class_path: str) -> str:
    return class_path.rsplit(".", 1)[-1]


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += [
        "| " + " | ".join("" if r[h] is None else str(r[h]).replace("|", "/") for h in head) + " |"
        for r in rows
    ]
    return "\n".join(lines)
