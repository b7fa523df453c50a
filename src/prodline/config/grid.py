"""The `grid` section: which models to train, on which feature sets, grouped how.

Its keys are Triage's (v8 experiment config), whose top-level keys land here: `models` is
grid_config (a class path mapped to its hyperparameters, each a value or a list of values; every
combination is one model per split), `model_grid_preset` Triage's presets merged into it as Triage
merges them, `feature_group_definition` and `feature_group_strategies` the feature sets,
`model_group_keys` what makes a model group, `user_metadata` kept with every model,
`individual_importance` Triage's `uniform` importances, and `seed` Triage's random_seed.
Class paths and parameters are checked when the config loads (importing scikit-learn then), so a
typo fails before training.
"""

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from prodline.config.base import Located, Strict
from prodline.config.features import feature_table
from prodline.config.triage.presets import merged_grid, preset_names

# Per split and feature set; Triage's large preset makes 3,243 (checked in about a second).
MAX_MODELS = 5000
IMPORTANCE_METHODS = ("uniform",)  # Triage 6.0.0's individual importance CALCULATE_STRATEGIES
Strategy = Literal["all", "leave-one-in", "leave-one-out", "all-combinations"]
GroupBy = Literal["tables", "prefix", "interval", "metric", "all"]


# Parameters scikit-learn has since removed, whose only value is now its behaviour: Triage's medium,
# large and texas presets give AdaBoost `algorithm: [SAMME]` (deprecated in 1.6, removed in 1.8, where
# SAMME is what AdaBoost does). Dropped when that is all they say; any other value is refused.
RETIRED = {"sklearn.ensemble.AdaBoostClassifier": {"algorithm": "SAMME"}}


def _without_retired(path: str, params: Any) -> Any:
    if not isinstance(params, dict):
        return params
    retired = RETIRED.get(path, {})
    return {name: values for name, values in params.items()
            if not (name in retired and all(v == retired[name] for v in
                                            (values if isinstance(values, list) else [values])))}


class IndividualImportanceConfig(Strict):
    """Triage's individual_importance: `methods` ([uniform], or [] for none) and `n_ranks`."""

    methods: list[str] = ["uniform"]
    n_ranks: int = Field(default=5, ge=1, le=1000)

    @field_validator("methods")
    @classmethod
    def _known(cls, methods: list[str]) -> list[str]:
        if unknown := [m for m in methods if m not in IMPORTANCE_METHODS]:
            raise ValueError(f"{', '.join(map(repr, unknown))}: Triage 6.0.0 computes only "
                             f"{', '.join(IMPORTANCE_METHODS)} individual importances, and so does prodline")
        return methods


class GridConfig(Strict):
    """Models to train on every split; baselines (a random ranker and the best single feature)
    are always trained beside them, as the floor any model must clear."""

    models: dict[str, dict[str, Any]] = {}
    model_grid_preset: str | None = None
    feature_group_definition: dict[GroupBy, list] = {"all": [True]}  # Triage's default
    feature_group_strategies: list[Strategy] = Field(default=["all"], min_length=1)
    model_group_keys: list[str] = []  # [] for Triage's defaults
    user_metadata: dict[str, Any] = {}
    individual_importance: IndividualImportanceConfig | None = None
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # what numpy accepts
    # "triage" (set for a Triage experiment): Triage's matrices, so that its seeded models are
    # reproduced: no imputation flag that no row of the splits sets, collate's column order and
    # Triage's training row order (pipeline/matrices/columns.py). "prodline": every column of the
    # feature tables in the config's order, rows by date.
    matrix_layout: Literal["prodline", "triage"] = "prodline"

    @field_validator("models", mode="before")
    @classmethod
    def _params_or_nothing(cls, value: Any) -> Any:
        # `sklearn.naive_bayes.GaussianNB:` with no parameters reads as None in YAML.
        if not isinstance(value, dict):
            return value
        return {k: _without_retired(k, {} if v is None else v) for k, v in value.items()}

    @field_validator("feature_group_definition", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            problems = [((key,), f"give a list of values (Triage iterates over it), not {item!r}")
                        for key, item in value.items() if not isinstance(item, list)]
            if problems:
                raise Located(problems)
        return value or {"all": [True]}  # Triage fills an empty definition the same way

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """The preset merged into `models` before they are checked, as Triage merges it."""
        if not isinstance(data, dict) or data.get("model_grid_preset") is None:
            return data
        preset = data["model_grid_preset"]
        if preset not in preset_names():
            raise Located([(("model_grid_preset",), f"unknown preset {preset!r}: Triage's are "
                                                    f"{', '.join(preset_names())}")])
        models = data.get("models") or {}
        if not isinstance(models, dict):
            return data  # refused by the field itself
        try:
            return {**data, "models": merged_grid(preset, cls._params_or_nothing(models))}
        except ValueError as err:
            raise Located([(("models",), str(err))]) from None

    @model_validator(mode="after")
    def _keys(self) -> "GridConfig":
        from prodline.pipeline.models.grouping import allowed_keys

        problems = []
        if not self.models:
            problems.append((("models",), "give at least one model, or a model_grid_preset"))
        allowed = allowed_keys(self.user_metadata)
        problems += [(("model_group_keys", i), f"unknown key {key!r}: Triage's are {', '.join(allowed)}")
                     for i, key in enumerate(self.model_group_keys) if key not in allowed]
        prefixes = [str(p) for p in self.feature_group_definition.get("prefix", [])]
        problems += [(("feature_group_definition", "prefix"), f"prefixes {a!r} and {b!r} overlap: a feature "
                                                                f"of {b!r} would be in both groups")
                     for a in prefixes for b in prefixes if a != b and b.startswith(a)]
        if problems:
            raise Located(problems)
        return self

    @model_validator(mode="after")
    def _importable(self) -> "GridConfig":
        from prodline.pipeline.models.grid import (
            grid_problems,  # imports scikit-learn: only when a grid exists
        )

        # Every combination is checked here and trained per split later: bound them first.
        sizes = {path: math.prod(len(v) if isinstance(v, list) else 1 for v in params.values())
                 for path, params in self.models.items() if isinstance(params, dict)}
        if sum(sizes.values()) > MAX_MODELS:
            listed = ", ".join(f"{path}: {n:,}" for path, n in sizes.items())
            raise Located([(("models",), f"the grid makes {sum(sizes.values()):,} models per split "
                                         f"({listed}); at most {MAX_MODELS:,}")])
        if problems := grid_problems(self.models):
            raise Located([(("models", *where), message) for where, message in problems])
        return self


def feature_group_problems(grid: GridConfig, prefixes: list[str]) -> list[tuple[tuple, str]]:
    """A definition's prefixes and tables that no feature aggregation makes (Triage's check), with
    key paths from the project's top (called by the project's cross-section checks)."""
    definition, problems = grid.feature_group_definition, []
    tables = [feature_table(p) for p in prefixes]
    for key, known in (("prefix", prefixes), ("tables", tables)):
        for i, item in enumerate(definition.get(key, [])):
            if item not in known:
                problems.append((("grid", "feature_group_definition", key, i),
                                 f"{item!r} is not among the feature aggregations' {key}: "
                                 f"{', '.join(known)}"))
    return problems
