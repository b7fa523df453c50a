"""The model grid: class paths and hyperparameter lists expanded into models, checked before any
training, crossed with the feature sets of the feature-group strategies.

A model group is the same method, parameters and features across splits (and the matrix metadata
that `model_group_keys` names, see `grouping`): the unit that model selection compares over time.

Triage's own estimators and baselines are named by Triage's class paths as well as prodline's; both
load prodline's reimplementations (Triage itself is not installed beside prodline).
"""

import importlib
import inspect
import itertools
from dataclasses import dataclass
from typing import Any

from prodline.pipeline.matrices.feature_groups import FeatureGroup, feature_groups, feature_mixes
from prodline.pipeline.models import grouping

TRIAGE_CLASSES = {
    "triage.component.catwalk.estimators.classifiers.ScaledLogisticRegression":
        "prodline.pipeline.models.scaled_logistic.ScaledLogisticRegression",
    "triage.component.catwalk.estimators.transformers.CutOff":
        "prodline.pipeline.models.scaled_logistic.CutOff",
    "triage.component.catwalk.baselines.rankers.PercentileRankOneFeature":
        "prodline.pipeline.models.rankers.PercentileRankOneFeature",
    "triage.component.catwalk.baselines.rankers.BaselineRankMultiFeature":
        "prodline.pipeline.models.rankers.BaselineRankMultiFeature",
    "triage.component.catwalk.baselines.thresholders.SimpleThresholder":
        "prodline.pipeline.models.thresholders.SimpleThresholder",
}
BASELINES = {"prodline.pipeline.models.baselines.RandomRanker": {},
             "prodline.pipeline.models.baselines.BestSingleFeature": {}}


@dataclass(frozen=True)
class ModelSpec:
    class_path: str
    params: dict[str, Any]
    feature_groups: tuple[str, ...]
    features: tuple[str, ...]
    group_keys: tuple[str, ...] = ()  # model_group_keys; () for Triage's defaults
    metadata: tuple[tuple[str, Any], ...] = ()  # the training matrix's, with the user's metadata

    @property
    def group_arguments(self) -> dict[str, Any]:
        metadata = {**grouping.matrix_defaults(), **dict(self.metadata),
                    "feature_names": list(self.features), "feature_groups": list(self.feature_groups)}
        return grouping.group_arguments(list(self.group_keys), self.class_path, self.params, metadata)

    @property
    def group_id(self) -> str:
        return grouping.group_id(self.group_arguments)

    @property
    def is_baseline(self) -> bool:
        return self.class_path in BASELINES

    def build(self):
        return load_class(self.class_path)(**self.params)


def load_class(path: str) -> type:
    if path.startswith("triage.") and path not in TRIAGE_CLASSES:
        raise ValueError(f"{path!r} is not one of Triage's classes that prodline reimplements "
                         f"({', '.join(p.rsplit('.', 1)[1] for p in TRIAGE_CLASSES)}); Triage itself "
                         "is not installed beside prodline")
    module, _, name = TRIAGE_CLASSES.get(path, path).rpartition(".")
    if not module:
        raise ValueError(f"{path!r} is not a class path such as sklearn.linear_model.LogisticRegression")
    try:
        found = getattr(importlib.import_module(module), name)
    except ImportError as err:
        raise ValueError(f"cannot import {module!r}: {err}") from None
    except AttributeError:
        raise ValueError(f"module {module!r} has no {name!r}") from None
    if not inspect.isclass(found):
        raise ValueError(f"{path!r} is not a class")
    return found


def combinations(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the listed values, in the given order; a single value is a list of one."""
    names = list(params)
    lists = [v if isinstance(v, list) else [v] for v in params.values()]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*lists)]


def seeded(cls: type, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The grid's seed for an estimator that takes `random_state` and was not given one."""
    takes = "random_state" in inspect.signature(cls).parameters
    return {**params, "random_state": seed} if takes and "random_state" not in params else params


def grid_problems(models: dict[str, dict[str, Any]]) -> list[tuple[tuple, str]]:
    """Every problem of a grid, each with its key path: a class that cannot be imported or cannot
    rank, an unknown parameter, a value scikit-learn refuses. Nothing is trained."""
    from sklearn.base import is_classifier
    from sklearn.utils._param_validation import InvalidParameterError

    problems = []
    for path, params in models.items():
        try:
            cls = load_class(path)
        except ValueError as err:
            problems.append(((path,), str(err)))
            continue
        if not isinstance(params, dict):
            problems.append(((path,), "give the hyperparameters as a mapping of name to value(s)"))
            continue
        # Triage's baselines cannot be made without their rules or feature: made with those alone.
        required = [p.name for p in inspect.signature(cls).parameters.values()
                    if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
        if missing := [r for r in required if r not in params]:
            problems.append(((path,), f"{cls.__name__} needs the parameter(s) {', '.join(missing)}"))
            continue
        first = {r: combinations({r: params[r]})[0][r] for r in required}
        try:
            made = cls(**first)
        except Exception as err:  # any class can be named; say why this one cannot be a model
            problems.append(((path,), f"{cls.__name__} cannot be made with {first or 'no arguments'}: {err}"))
            continue
        if not (is_classifier(made) and hasattr(cls, "predict_proba")):
            problems.append(((path,), f"{cls.__name__} is not a classifier with predict_proba: "
                                      "it cannot score a ranked list"))
            continue
        known = made.get_params()
        for name in params:
            if name not in known:
                problems.append(((path, name), f"{cls.__name__} has no parameter {name!r} "
                                               f"(it takes {', '.join(sorted(known))})"))
        if any(name not in known for name in params):
            continue
        # scikit-learn checks each parameter on its own, so each value is tried once, in the first
        # combination: as many checks as values, not as combinations (Triage's large preset: 3,243).
        start = combinations(params)[0]
        tried = [start] + [{**start, name: value} for name, values in params.items()
                           if isinstance(values, list) for value in values[1:]]
        for combo in tried:
            try:
                estimator = cls(**combo)
                if hasattr(estimator, "_validate_params"):  # scikit-learn's own checks, no data needed
                    estimator._validate_params()
            except (InvalidParameterError, TypeError, ValueError, KeyError) as err:
                name = next((n for n in combo if f"'{n}'" in str(err)), None)
                problems.append(((path, name) if name else (path,), str(err)))
                break
    return problems


def expand(models: dict[str, dict[str, Any]], groups: list[FeatureGroup], strategies: list[str], seed: int,
           group_keys: tuple[str, ...] = (), metadata: dict[str, Any] | None = None) -> list[ModelSpec]:
    """One spec per (feature set, class, parameter combination); first the baselines, once, on
    every feature (the best single feature is then the best of all)."""
    extra = {"group_keys": tuple(group_keys), "metadata": tuple(sorted((metadata or {}).items()))}
    everything = feature_mixes(groups, ["all"])
    specs = [ModelSpec(path, seeded(load_class(path), {}, seed), mix.names, mix.features, **extra)
             for mix in everything for path in BASELINES]
    for mix in feature_mixes(groups, strategies):
        for path, params in models.items():
            cls = load_class(path)
            specs += [ModelSpec(path, seeded(cls, combo, seed), mix.names, mix.features, **extra)
                      for combo in combinations(params)]
    # A value listed twice (Triage's example gives `n_estimators: [100, 100]`) is one model, as
    # Triage reuses a model of the same hash; twice, it would be two rows of one group and split.
    unique: dict[tuple, ModelSpec] = {}
    for spec in specs:
        unique.setdefault((spec.class_path, repr(spec.params), spec.feature_groups, spec.features), spec)
    specs = list(unique.values())
    groups: dict[str, list[ModelSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.group_id, []).append(spec)
    if shared := next((g for g in groups.values() if len(g) > 1), None):
        # Triage allows it; prodline's selection compares one model per group and split.
        raise ValueError(
            f"model_group_keys {list(group_keys)} put {len(shared)} models of one split in one model group "
            f"({', '.join(sorted({short_name(s.class_path) for s in shared}))}): prodline compares one model "
            "per group and split; add class_path, parameters and feature_groups (or leave the keys out)")
    return specs


def short_name(class_path: str) -> str:
    """A model's class without its module, as lists and pictures name it."""
    return class_path.rsplit(".", 1)[-1]


def grid_for(grid, tables: dict[str, list[str]], features: list[str],
             metadata: dict[str, Any] | None = None) -> list[ModelSpec]:
    """The grid section's models for a matrix: its feature groups (`tables` is the feature
    dictionary, table -> columns) narrowed to the columns the matrix has, in the matrix's order
    (Triage's: a seeded forest samples columns by position), mixed by its strategies."""
    position = {f: i for i, f in enumerate(features)}
    groups = feature_groups(grid.feature_group_definition,
                            {t: sorted((c for c in cs if c in position), key=position.__getitem__)
                             for t, cs in tables.items()})
    return expand(grid.models, groups, grid.feature_group_strategies, grid.seed,
                  tuple(grid.model_group_keys), metadata)
