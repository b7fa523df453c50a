"""The project config: one YAML file describes a project, validated by pydantic.

Every problem is reported with its key path (and YAML line when known), all at once, so that a user
fixes a config in one pass instead of one error per run. Later stages (temporal, grid, scoring,
selection, promotion, serving, alerts) add their own sections; until then those keys are refused
like any other unknown key.
"""

from prodline.config.as_of import AsOfConfig, Cadence, CohortConfig, LabelConfig
from prodline.config.base import ColumnType, Identifier
from prodline.config.deployment import PROBLEM_ENV, load_config, load_deployment
from prodline.config.features import FeatureConfig, Imputation, Metric
from prodline.config.intervals import Interval
from prodline.config.project import (
    CONFIG_ENV,
    DEMO_CONFIG,
    HOME_ENV,
    ConfigError,
    ProjectConfig,
    config_path,
    load_project,
)
from prodline.config.sources import RESERVED_COLUMNS, Column, SourceConfig, StorageConfig
from prodline.config.transforms import TransformConfig

__all__ = [
    "CONFIG_ENV",
    "DEMO_CONFIG",
    "HOME_ENV",
    "PROBLEM_ENV",
    "RESERVED_COLUMNS",
    "AsOfConfig",
    "Cadence",
    "CohortConfig",
    "Column",
    "ColumnType",
    "ConfigError",
    "FeatureConfig",
    "Identifier",
    "Imputation",
    "Interval",
    "LabelConfig",
    "Metric",
    "ProjectConfig",
    "SourceConfig",
    "StorageConfig",
    "TransformConfig",
    "config_path",
    "load_config",
    "load_deployment",
    "load_project",
]
