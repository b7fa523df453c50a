"""The `grid` section: which models to train.

`grid.models` is Triage's grid_config: a scikit-learn class path mapped to its hyperparameters, each
a value or a list of values; every combination is one model per split. Class paths and parameters
are checked when the config loads (importing scikit-learn then), so a typo fails before training.
"""

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from prodline.config.base import Located, Strict

MAX_MODELS = 1000  # per split and feature set
Strategy = Literal["all", "leave-one-in", "leave-one-out", "all-combinations"]


class GridConfig(Strict):
    """Models to train on every split; baselines (a random ranker and the best single feature)
    are always trained beside them, as the floor any model must clear."""

    models: dict[str, dict[str, Any]] = Field(min_length=1)
    feature_group_strategies: list[Strategy] = Field(default=["all"], min_length=1)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # what numpy accepts

    @field_validator("models", mode="before")
    @classmethod
    def _params_or_nothing(cls, value: Any) -> Any:
        # `sklearn.naive_bayes.GaussianNB:` with no parameters reads as None in YAML.
        return {k: ({} if v is None else v) for k, v in value.items()} if isinstance(value, dict) else value

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
