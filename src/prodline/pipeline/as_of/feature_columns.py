"""The feature columns an aggregation produces (Triage's names), their groups and their imputation,
and the choices of its categoricals; `feature_select` builds the SQL that computes them."""

from dataclasses import dataclass

from prodline.config import FeatureConfig, Imputation
from prodline.config.features import choice_name


@dataclass(frozen=True)
class Feature:
    """One output column and how it is filled when the window is empty."""

    name: str
    imputation: Imputation
    prefix: str
    interval: str  # its label: 30d, 1y, all
    metric: str
    partial: str  # the partial aggregate it is computed from: the quantity, or `<column>__<choice>`
    categorical: bool = False
    null_choice: bool = False  # the null category of a categorical: 1 when the window is empty

    @property
    def flag(self) -> str | None:
        return f"{self.name}_imp" if self.imputation.flags else None


def feature_columns(feature: FeatureConfig, choices: dict[str, list]) -> list[Feature]:
    columns = []
    for interval in feature.interval_list:
        for agg in feature.aggregates:
            for metric in agg.metrics:
                columns.append(Feature(feature.column_name(interval, agg.name, metric),
                                       feature.imputation_for(metric, agg.imputation, False),
                                       feature.prefix, interval.label, metric.value, agg.name))
        for cat in feature.categoricals:
            for metric in cat.metrics:
                rule = feature.imputation_for(metric, cat.imputation, True)
                for choice, value in choice_values(feature, cat, choices, metric):
                    columns.append(Feature(feature.column_name(interval, f"{cat.column}_{choice}", metric),
                                           rule, feature.prefix, interval.label, metric.value,
                                           f"{cat.column}__{choice}", categorical=True,
                                           null_choice=value is None))
    return columns


def feature_groups(columns: list[Feature], by: list[str]) -> dict[str, list[str]]:
    """Named groups of feature columns, one per value of each dimension in `by` (prefix,
    interval, metric): `prefix:reg`, `interval:1y`, ... Model grids choose among these groups."""
    groups: dict[str, list[str]] = {}
    for dimension in by:
        for column in columns:
            groups.setdefault(f"{dimension}:{getattr(column, dimension)}", []).append(column.name)
    return groups


def choice_values(feature: FeatureConfig, cat, choices: dict[str, list], metric=None) -> list[tuple]:
    """(name, value) per choice of a categorical; value None is the null category, added when
    the metric (or any of its metrics) imputes with null_category."""
    pairs = [(choice_name(c), c) for c in choices[cat.column]]
    metrics = [metric] if metric else cat.metrics
    if any(feature.imputation_for(m, cat.imputation, True).type == "null_category" for m in metrics):
        pairs.append(("_null", None))
    return pairs


def imputed(column: Feature) -> str:
    value, rule = f"a.{column.name}", column.imputation
    if rule.type in ("zero", "zero_noflag"):
        filled = f"COALESCE({value}, 0)"
    elif rule.type == "constant":
        filled = f"COALESCE({value}, {float(rule.value)!r})"
    elif rule.type == "mean":
        # The mean over the date's cohort members that have a value; 0 when nobody has one.
        filled = f"COALESCE({value}, AVG({value}) OVER (PARTITION BY c.as_of_date), 0)"
    elif rule.type == "null_category":
        filled = f"COALESCE({value}, {1 if column.null_choice else 0})"
    else:  # error: left NULL here; the asset refuses to write a range with any
        filled = value
    return f"CAST({filled} AS DOUBLE PRECISION) AS {column.name}"


def resolve_choices(warehouse, feature: FeatureConfig) -> dict[str, list]:
    """The choices of each categorical: as configured, or what its choice_query returns now."""
    choices = {}
    for cat in feature.categoricals:
        if cat.choices is not None:
            choices[cat.column] = cat.choices
        else:
            rows = warehouse.read(cat.choice_query)  # read-only: it is config SQL
            choices[cat.column] = sorted({next(iter(r.values())) for r in rows} - {None}, key=str)
    return choices


def group_columns(features: list[FeatureConfig], by: list[str], warehouse) -> dict[str, list[str]]:
    """Named groups (by prefix, interval or metric) of feature columns, each with its `_imp` flag."""
    groups: dict[str, list[str]] = {}
    for feature in features:
        columns = feature_columns(feature, resolve_choices(warehouse, feature))
        flags = {c.name: c.flag for c in columns if c.flag}
        for name, members in feature_groups(columns, by).items():
            groups.setdefault(name, []).extend(m for c in members for m in (c, flags.get(c)) if m)
    return groups
