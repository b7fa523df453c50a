"""The feature columns an aggregation produces (Triage's names), their groups, their imputation and
imputation flags, and the choices of its categoricals; `feature_select` builds the SQL that
computes them."""

from dataclasses import dataclass, replace
from typing import Any

from prodline.config import FeatureConfig, Imputation
from prodline.config.features import SAMPLE_SPREAD, Metric, choice_name

SECTIONS = ("categoricals", "array_categoricals")


@dataclass(frozen=True)
class Feature:
    """One output column and how it is filled where it is NULL."""

    name: str
    imputation: Imputation
    prefix: str
    interval: str  # as spelled in the config: 6month, 1 year, all
    metric: str
    source: str  # the partial aggregates it is computed from: `a<i>_<j>` or `c<i>`/`r<i>` (categoricals)
    categorical: bool = False
    choice: Any = None  # the choice of a categorical column; None with null_choice for `__NULL`
    null_choice: bool = False
    choice_index: int | None = None  # the choice's place in its categorical's choices
    coltype: str | None = None
    flag: str | None = None  # the `_imp` column it shares (Triage's name), if its rule flags


def feature_columns(feature: FeatureConfig, choices: dict[str, list]) -> list[Feature]:
    columns = []
    for spelled in feature.intervals:
        for i, agg in enumerate(feature.aggregates):
            for j, (quantity, _) in enumerate(agg.quantities):
                for metric in agg.metrics:
                    columns.append(Feature(feature.column_name(spelled, quantity, metric),
                                           feature.imputation_for(metric, agg.imputation, "aggregates"),
                                           feature.prefix, spelled, metric.value, f"a{i}_{j}",
                                           coltype=agg.coltype))
        for section in SECTIONS:
            for i, cat in enumerate(getattr(feature, section)):
                for metric in cat.metrics:
                    rule = feature.imputation_for(metric, cat.imputation, section)
                    for j, choice in enumerate([*choices[f"{section}.{i}"], None]):
                        part = (f"{cat.column}__NULL" if choice is None
                                else f"{cat.column}_{choice_name(choice)}")
                        columns.append(Feature(feature.column_name(spelled, part, metric), rule,
                                               feature.prefix, spelled, metric.value,
                                               f"{section[0]}{i}", categorical=True, choice=choice,
                                               null_choice=choice is None,
                                               choice_index=None if choice is None else j,
                                               coltype=cat.coltype))
    return _flagged(feature, columns)


def _flagged(feature: FeatureConfig, columns: list[Feature]) -> list[Feature]:
    """Triage's imputation flags: one per quantity and interval (`<...>_<quantity>_imp`), except that
    stddev and variance (NULL with one value) have their own (`<column>_imp`); categoricals have
    their `__NULL` column instead. A flag says whether the first column of its group (by name) with
    a flagging rule was NULL."""
    functions = {f"a{i}_{j}": [m.value for m in agg.metrics]
                 for i, agg in enumerate(feature.aggregates) for j in range(len(agg.quantities))}
    out = []
    for column in columns:
        if column.categorical or not column.imputation.flags:
            out.append(column)
            continue
        # collate's imputation_flag_base: the first of the aggregate's functions the name ends
        # with, stripped with str.rstrip, which strips characters, not a suffix (`rating_avg` gives
        # `ratin`): the names are Triage's, so the quirk is kept.
        used = next(f for f in functions[column.source] if column.name.endswith(f))
        base = column.name if used in SAMPLE_SPREAD else column.name.rstrip("_" + used)
        out.append(replace(column, flag=f"{base}_imp"))
    return out


def flag_sources(columns: list[Feature]) -> dict[str, str]:
    """Each flag and the column whose NULLs it records: the first by name, as Triage sorts them."""
    sources: dict[str, str] = {}
    for column in sorted((c for c in columns if c.flag), key=lambda c: c.name):
        sources.setdefault(column.flag, column.name)
    return sources




def fill_of(column: Feature) -> tuple[str, float | None]:
    """How a NULL of `column` is filled, by Triage's imputation rules: ("value", v); ("mean", None),
    the mean over the date's cohort members that have a value, 0 when nobody has one;
    ("binary_mode", None), 1 where that mean is above 0.5, else 0; or ("none", None), left NULL
    (the `error` rule: the asset refuses to write a range with any)."""
    rule = column.imputation
    if column.categorical:
        if rule.type == "zero_noflag":
            return "value", 0.0
        if rule.type == "constant":
            return "value", 1.0 if column.null_choice or str(rule.value) in column.name else 0.0
        if rule.type == "mean":
            return ("value", 1.0) if column.null_choice else ("mean", None)
        if rule.type == "error":
            return "none", None
        return "value", 1.0 if column.null_choice else 0.0  # zero, null_category: the null category is 1
    if rule.type in ("zero", "zero_noflag"):
        return "value", 0.0
    if rule.type == "constant":
        return "value", float(rule.value)
    if rule.type in ("mean", "binary_mode"):
        return rule.type, None
    return "none", None


def imputed(column: Feature, value: str) -> str:
    """The imputed value of `column` (its aggregate is `value`) in SQL, in double precision
    (Triage stores some as REAL: see the README's parity table)."""
    kind, fill = fill_of(column)
    mean = f"AVG({value}) OVER (PARTITION BY c.as_of_date)"
    if kind == "none":
        return f"CAST({value} AS DOUBLE PRECISION)"
    sql = {"value": repr(fill), "mean": f"{mean}, 0",
           "binary_mode": f"CASE WHEN {mean} > 0.5 THEN 1 ELSE 0 END"}[kind]
    return f"CAST(COALESCE({value}, {sql}) AS DOUBLE PRECISION)"


def quoted(name: str) -> str:
    """A feature column in SQL: Triage's names hold spaces, `::` and capitals."""
    return '"' + name.replace('"', '""') + '"'


def resolve_choices(warehouse, feature: FeatureConfig) -> dict[str, list]:
    """The choices of each categorical (`categoricals.<i>`, `array_categoricals.<i>`): as configured,
    or what its choice_query returns now (its first column, NULL left out: the `__NULL` column is
    always there)."""
    choices = {}
    for section in SECTIONS:
        for i, cat in enumerate(getattr(feature, section)):
            if cat.choices is not None:
                found = [c for c in cat.choices if c is not None]
            else:
                rows = warehouse.read(cat.choice_query)  # read-only: it is config SQL
                found = [next(iter(r.values())) for r in rows]
                found = sorted(set(found) - {None}, key=str)
            choices[f"{section}.{i}"] = found
    return choices


def metric_of(column: Feature) -> Metric:
    return Metric(column.metric)
