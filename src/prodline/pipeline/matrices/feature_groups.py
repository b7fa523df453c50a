"""Feature groups and their mixes, as Triage makes them (architect.feature_group_creator and
feature_group_mixer), over a feature dictionary: feature table -> its columns in the matrix.

A table is named as Triage names it, `{prefix}_aggregation_imputed`, so that a definition's
`tables` entries read the same. Groups come in the order Triage makes them: definition keys sorted,
then each key's values as listed; a group is named `{key}: {value}` (`prefix: reg`, `all: True`).

One deliberate difference: Triage merges groups with `dict.update`, so where two groups share a
table (interval or metric groups always do) the merged set keeps only the later group's columns of
it; here the columns are united. Mixes without any feature, and a mix made twice, are left out
(Triage would build such a matrix and train on it again).
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from prodline.config.features import feature_table

Dictionary = dict[str, list[str]]  # feature table -> column names


def feature_dictionary(warehouse, prefixes: list[str]) -> Dictionary:
    """Each feature table's columns as the warehouse has them now (Triage's master dictionary)."""
    from prodline.pipeline.matrices.files import KEYS

    return {feature_table(p): [c for c in warehouse.columns("features", p) if c not in KEYS]
            for p in prefixes}


SUBSETTERS: dict[str, Callable[[object, str, list[str]], list[str]]] = {
    "tables": lambda item, table, features: features if table == item else [],
    "prefix": lambda item, table, features: [f for f in features if f.startswith(str(item))],
    "metric": lambda item, table, features: [f for f in features if f.endswith(f"_{item}")],
    "interval": lambda item, table, features: [f for f in features if f"_{item}_" in f],
    "all": lambda item, table, features: list(features),
}
STRATEGIES = ("all", "leave-one-in", "leave-one-out", "all-combinations")


@dataclass(frozen=True)
class FeatureGroup:
    names: tuple[str, ...]
    tables: tuple[tuple[str, tuple[str, ...]], ...]  # (table, its columns in this group)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(c for _, columns in self.tables for c in columns)


def subsets(definition: dict[str, list], dictionary: Dictionary) -> list[FeatureGroup]:
    """One group per (key, value) of the definition, empty where nothing matches."""
    groups = []
    for key, items in sorted(definition.items()):
        for item in items:
            tables = tuple((table, tuple(found)) for table, columns in dictionary.items()
                           if (found := SUBSETTERS[key](item, table, columns)))
            groups.append(FeatureGroup((f"{key}: {item}",), tables))
    return groups


def feature_groups(definition: dict[str, list], dictionary: Dictionary) -> list[FeatureGroup]:
    """One group per (key, value) of the definition; raises ValueError when none finds a feature."""
    groups = subsets(definition, dictionary)
    if not any(g.tables for g in groups):
        raise ValueError(f"the feature group definition {definition} finds no feature among "
                         f"{sum(len(c) for c in dictionary.values())} in "
                         f"{', '.join(dictionary) or 'no table'}")
    return groups


def merged(groups: list[FeatureGroup]) -> FeatureGroup:
    """Groups together: names in order, each table's columns united (Triage keeps the last group's)."""
    tables: dict[str, list[str]] = {}
    for group in groups:
        for table, columns in group.tables:
            tables.setdefault(table, []).extend(c for c in columns if c not in tables[table])
    return FeatureGroup(tuple(n for g in groups for n in g.names),
                        tuple((t, tuple(c)) for t, c in tables.items()))


def mixes_of(strategy: str, groups: list[FeatureGroup]) -> list[FeatureGroup]:
    if strategy == "all":
        return [merged(groups)]
    if strategy == "leave-one-in":
        return list(groups)
    if strategy == "leave-one-out":
        return [merged(groups[:i] + groups[i + 1:]) for i in range(len(groups))]
    if strategy == "all-combinations":
        return [merged(list(c)) for r in range(1, len(groups) + 1) for c in itertools.combinations(groups, r)]
    raise ValueError(f"unknown feature group strategy {strategy!r}: Triage's are {', '.join(STRATEGIES)}")


def feature_mixes(groups: list[FeatureGroup], strategies: list[str]) -> list[FeatureGroup]:
    """The feature sets the strategies make, in Triage's order, each once and none empty."""
    chosen: list[FeatureGroup] = []
    for strategy in strategies:
        chosen += [m for m in mixes_of(strategy, groups) if m.features and m not in chosen]
    return chosen
