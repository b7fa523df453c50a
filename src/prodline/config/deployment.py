"""A deployment of several problems: one Dagster deployment feeding several models (our brief: a
production environment feeds several models) over the same raw tables.

A deployment file names each problem's own project file:

    deployment: dirtyduck
    storage: {home: .prodline}        # optional: where every problem's data lives
    problems:
      failed: failed/prodline.yaml
      inspected: inspected/prodline.yaml

Each problem keeps its own label, grid, gate, champion, list and page. What they have in common is
computed once: sources and transforms (which must then be defined alike), the cohort when every
problem defines it alike, and each feature aggregation defined alike over that cohort. As-of dates
are the union of the problems' (one cadence).
"""

import os
from pathlib import Path

from pydantic import Field, ValidationError

from prodline.config.as_of import AsOfConfig
from prodline.config.base import Identifier, Strict
from prodline.config.project import ConfigError, ProjectConfig, config_path, describe_error, load_project
from prodline.config.sources import OWN_SCHEMAS, StorageConfig
from prodline.config.yaml_reading import Unreadable, read_yaml

PROBLEM_ENV = "PRODLINE_PROBLEM"
MAX_PROBLEMS = 20


class DeploymentConfig(Strict):
    deployment: Identifier
    storage: StorageConfig | None = None
    problems: dict[Identifier, Path] = Field(min_length=1, max_length=MAX_PROBLEMS)


def is_deployment(raw) -> bool:
    return isinstance(raw, dict) and "problems" in raw


def load_config(path: str | os.PathLike | None = None, problem: str | None = None) -> ProjectConfig:
    """The project of a config file; for a deployment, the problem named (or $PRODLINE_PROBLEM)."""
    path = config_path(path).resolve()
    raw = _read(path)
    if not is_deployment(raw):
        return load_project(path)
    problems = load_deployment(path)
    chosen = problem or os.environ.get(PROBLEM_ENV)
    names = [p.problem for p in problems]
    if chosen is None:
        raise ConfigError(path, [f"this deployment has {len(names)} problems ({', '.join(names)}): name one "
                                 f"with --problem or {PROBLEM_ENV}"])
    if chosen not in names:
        raise ConfigError(path, [f"no problem {chosen!r} in this deployment (it has {', '.join(names)})"])
    return problems[names.index(chosen)]


def load_deployment(path: str | os.PathLike | None = None) -> list[ProjectConfig]:
    """Every problem of a deployment file, ready to run side by side; a project file is one problem
    (with today's names)."""
    path = config_path(path).resolve()
    raw = _read(path)
    if not is_deployment(raw):
        return [load_project(path)]
    try:
        deployment = DeploymentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(path, [describe_error(e) for e in err.errors()]) from None
    problems, configs = [], {}
    for name, file in deployment.problems.items():
        if name in OWN_SCHEMAS:
            problems.append(f"problems.{name}: {name!r} names a schema of prodline's; choose another name")
            continue
        try:
            configs[name] = load_project(path.parent / file)
        except ConfigError as err:
            problems += [f"problems.{name} ({err.path}): {p}" for p in err.problems]
    if problems:
        raise ConfigError(path, problems)
    problems = _conflicts(configs)
    if problems:
        raise ConfigError(path, problems)
    return _side_by_side(deployment, configs, path.parent)


def _read(path: Path):
    if not path.is_file():
        return None  # load_project says what is wrong with it
    try:
        return read_yaml(path)[0]
    except Unreadable:
        return None


def _same(configs: dict[str, ProjectConfig], section: str) -> list[str]:
    """Problems where two problems define one source (or transform) differently."""
    problems, seen = [], {}
    for name, config in configs.items():
        for key, value in getattr(config, section).items():
            dumped = _definition(value.model_dump(mode="json"))
            if key in seen and seen[key][1] != dumped:
                problems.append(f"{section}.{key} is defined differently in problems {seen[key][0]!r} and "
                                f"{name!r}: the problems share raw tables, so define it once alike")
            seen.setdefault(key, (name, dumped))
    return problems


def _definition(dumped):
    """A section as it defines: a file it names (`sql_file`, `query_file`), resolved beside each
    problem's own config, counts by its text, so two copies of one SQL file are alike."""
    if isinstance(dumped, dict):
        return {k: Path(v).read_text() if k.endswith("_file") and isinstance(v, str) and Path(v).is_file()
                else _definition(v) for k, v in dumped.items()}
    return [_definition(v) for v in dumped] if isinstance(dumped, list) else dumped


def _conflicts(configs: dict[str, ProjectConfig]) -> list[str]:
    problems = _same(configs, "sources") + _same(configs, "transforms")
    cadences = {c.as_of.cadence.value for c in configs.values() if c.as_of is not None}
    if len(cadences) > 1:
        problems.append(f"the problems' as_of cadences differ ({', '.join(sorted(cadences))}): they share "
                        "as-of partitions, so give them one cadence")
    models: dict[str, str] = {}
    for name, config in configs.items():
        model = (config.promotion and config.promotion.model_name) or config.name
        if model in models:
            problems.append(f"problems {models[model]!r} and {name!r} both register model {model!r}: give "
                            "each its own promotion.model_name")
        models.setdefault(model, name)
    return problems


def _union(configs: list[ProjectConfig]) -> AsOfConfig | None:
    found = [c.as_of for c in configs if c.as_of is not None]
    if not found:
        return None
    ends = [a.end for a in found]
    return AsOfConfig(start=min(a.start for a in found), cadence=found[0].cadence,
                      end=None if None in ends else max(ends))


def _shared(configs: list[ProjectConfig]) -> frozenset[str]:
    """The as-of assets every problem defines alike: "cohort", then each such feature prefix."""
    def cohort(c):
        return None if c.cohort is None else (c.cohort.sql(), c.cohort.name, c.cohort.looks_ahead)

    if len({repr(cohort(c)) for c in configs}) > 1 or cohort(configs[0]) is None:
        return frozenset()
    shared = {"cohort"}
    definitions: dict[str, set[str]] = {}
    for config in configs:
        start = config.temporal.feature_start_time if config.temporal is not None else None
        for feature in config.features:
            definitions.setdefault(feature.prefix, set()).add(repr((feature.model_dump(mode="json"), start)))
    return frozenset(shared | {p for p, found in definitions.items() if len(found) == 1})


def _side_by_side(deployment: DeploymentConfig, configs: dict[str, ProjectConfig],
                  folder: Path) -> list[ProjectConfig]:
    shared, as_of = _shared(list(configs.values())), _union(list(configs.values()))
    storage = deployment.storage
    if storage is not None and storage.home is not None:  # relative to the deployment file
        storage = storage.model_copy(update={"home": (folder / storage.home).resolve()})
    return [config.model_copy(update={
        "problem": name, "shared": shared, "deployment": deployment.deployment,
        "as_of": as_of if config.as_of is not None else None,
        "storage": storage or config.storage})
        for name, config in configs.items()]
