"""The model grid: class paths and hyperparameter lists expanded into models, checked before any
training, crossed with the feature sets of the feature-group strategies.

A model group is the same method, parameters and features across splits: the unit that model
selection compares over time. Its id is a hash of those three, so it is stable across runs.
"""

import hashlib
import importlib
import inspect
import itertools
import json
from dataclasses import dataclass
from typing import Any

BASELINES = {"prodline.pipeline.models.baselines.RandomRanker": {},
             "prodline.pipeline.models.baselines.BestSingleFeature": {}}


@dataclass(frozen=True)
class ModelSpec:
    class_path: str
    params: dict[str, Any]
    feature_groups: tuple[str, ...]
    features: tuple[str, ...]

    @property
    def group_id(self) -> str:
        return model_group_id(self.class_path, self.params, self.features)

    @property
    def is_baseline(self) -> bool:
        return self.class_path in BASELINES

    def build(self):
        return load_class(self.class_path)(**self.params)


def model_group_id(class_path: str, params: dict, features: tuple[str, ...]) -> str:
    text = json.dumps([class_path, params, sorted(features)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_class(path: str) -> type:
    module, _, name = path.rpartition(".")
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
        try:
            made = cls()
        except Exception as err:  # any class can be named; say why this one cannot be a model
            problems.append(((path,), f"{cls.__name__} cannot be made without arguments: {err}"))
            continue
        if not (is_classifier(made) and hasattr(cls, "predict_proba")):
            problems.append(((path,), f"{cls.__name__} is not a classifier with predict_proba: "
                                      "it cannot score a ranked list"))
            continue
        if not isinstance(params, dict):
            problems.append(((path,), "give the hyperparameters as a mapping of name to value(s)"))
            continue
        known = cls().get_params()
        for name in params:
            if name not in known:
                problems.append(((path, name), f"{cls.__name__} has no parameter {name!r} "
                                               f"(it takes {', '.join(sorted(known))})"))
        if any(name not in known for name in params):
            continue
        for combo in combinations(params):
            try:
                estimator = cls(**combo)
                if hasattr(estimator, "_validate_params"):  # scikit-learn's own checks, no data needed
                    estimator._validate_params()
            except (InvalidParameterError, TypeError, ValueError) as err:
                name = next((n for n in combo if f"'{n}'" in str(err)), None)
                problems.append(((path, name) if name else (path,), str(err)))
                break
    return problems


def feature_sets(groups: dict[str, list[str]], strategies: list[str]) -> list[tuple[str, ...]]:
    """The sets of feature groups the strategies ask for, each once, in a stable order.

    all: every group; leave-one-in: each group alone; leave-one-out: all but one;
    all-combinations: every non-empty subset."""
    names = sorted(groups)
    chosen: list[tuple[str, ...]] = []
    for strategy in strategies:
        if strategy == "all":
            sets = [tuple(names)]
        elif strategy == "leave-one-in":
            sets = [(n,) for n in names]
        elif strategy == "leave-one-out":
            sets = [tuple(m for m in names if m != n) for n in names] if len(names) > 1 else []
        elif strategy == "all-combinations":
            sets = [c for r in range(1, len(names) + 1) for c in itertools.combinations(names, r)]
        else:
            raise ValueError(f"unknown feature group strategy {strategy!r}")
        chosen += [s for s in sets if s not in chosen]
    return chosen


def expand(models: dict[str, dict[str, Any]], groups: dict[str, list[str]], strategies: list[str],
           seed: int) -> list[ModelSpec]:
    """One spec per (class, parameter combination, feature set); first the baselines, once, on
    every feature (the best single feature is then the best of all)."""
    def columns(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for g in names for c in groups[g]))

    everything = tuple(sorted(groups))
    specs = [ModelSpec(path, seeded(load_class(path), {}, seed), everything, columns(everything))
             for path in BASELINES]
    for names in feature_sets(groups, strategies):
        for path, params in models.items():
            cls = load_class(path)
            specs += [ModelSpec(path, seeded(cls, combo, seed), names, columns(names))
                      for combo in combinations(params)]
    return specs


def short_name(class_path: str) -> str:
    """A model's class without its module, as lists and pictures name it."""
    return class_path.rsplit(".", 1)[-1]


def grid_for(models: dict[str, dict[str, Any]], groups: dict[str, list[str]], strategies: list[str],
             seed: int, features: list[str]) -> list[ModelSpec]:
    """The grid's models for a matrix: feature groups narrowed to the columns the matrix has."""
    present = {g: [c for c in cs if c in features] for g, cs in groups.items()}
    return expand(models, {g: cs for g, cs in present.items() if cs}, strategies, seed)
