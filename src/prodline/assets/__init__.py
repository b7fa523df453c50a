"""The Dagster assets and checks, one module per stage in the data's order: raw, transforms, as_of
(cohort, labels, features), matrices, models, evaluations, challenger, gate, champion, predictions,
monitoring. Each body reads its inputs, calls `prodline.pipeline`, writes through a resource and
returns metadata."""

import dagster as dg

from prodline.assets.as_of import as_of_assets
from prodline.assets.bias import bias_audit_asset
from prodline.assets.challenger import challenger_asset
from prodline.assets.champion import champion_asset
from prodline.assets.evaluations import evaluations_asset
from prodline.assets.matrices import matrices_asset
from prodline.assets.models import models_asset
from prodline.assets.monitoring import monitoring_assets
from prodline.assets.partitions import split_partitions
from prodline.assets.predictions import prediction_assets
from prodline.assets.raw import raw_assets
from prodline.assets.transforms import transform_assets
from prodline.config import ProjectConfig


def modeling_assets(config: ProjectConfig) -> list[dg.AssetsDefinition]:
    """Matrices, models and evaluations, one partition per temporal split: a backfill over every
    split is the research experiment."""
    if config.temporal is None or config.grid is None:
        return []
    splits, partitions = split_partitions(config)
    audit = [] if config.bias_audit is None else [bias_audit_asset(config, partitions)]
    return [matrices_asset(config, splits, partitions), models_asset(config, partitions),
            evaluations_asset(config, partitions), *audit]


def promotion_assets(config: ProjectConfig) -> list:
    """The challenger (with its gate) and the champion: the selection rule proposes, the gate judges."""
    if config.selection is None or config.promotion is None:
        return []
    return [challenger_asset(config), champion_asset(config)]


def project_assets(config: ProjectConfig) -> list:
    """Every asset and check of the project, in the data's order. (A problem of a deployment keys
    its own assets under its name, `inspected/labels`, in groups of its own: assets/keys.py.)"""
    return [*raw_assets(config), *transform_assets(config), *as_of_assets(config), *modeling_assets(config),
            *promotion_assets(config), *prediction_assets(config), *monitoring_assets(config)]
