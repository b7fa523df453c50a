"""What is predicted for whom, from what: as-of dates, cohort, label and feature aggregations.

The feature vocabulary is Triage's (prefix, from_obj, knowledge date, aggregates, categoricals,
intervals, imputation), so a research config carries over almost key for key.
"""

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from prodline.config.base import (
    MAX_IDENTIFIER,
    Identifier,
    Located,
    Strict,
    bind_label_timespan,
    check_placeholders,
    one_of,
    resolve_file,
)
from prodline.config.intervals import Interval
from prodline.config.sql_guard import expression_problem, refuse_writes
from prodline.config.transforms import table_reference


class Cadence(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class AsOfConfig(Strict):
    """The dates on which the cohort is ranked: from `start`, every day, week (Monday) or month."""

    start: dt.date
    end: dt.date | None = None
    cadence: Cadence = Cadence.monthly

    @model_validator(mode="after")
    def _aligned(self) -> "AsOfConfig":
        if self.cadence is Cadence.weekly and self.start.weekday() != 0:
            raise ValueError(f"weekly as-of dates start on a Monday; {self.start} is a "
                             f"{self.start:%A}")
        if self.cadence is Cadence.monthly and self.start.day != 1:
            raise ValueError(f"monthly as-of dates start on the 1st; {self.start} is not")
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def includes(self, day: dt.date) -> bool:
        """Whether `day` is one of the as-of dates (the cadence's, from start, up to end if set)."""
        on_cadence = {Cadence.daily: True, Cadence.weekly: day.weekday() == 0,
                      Cadence.monthly: day.day == 1}[self.cadence]
        return on_cadence and day >= self.start and (self.end is None or day <= self.end)


class _Sql(Strict):
    """SQL given inline (`query`) or in a file next to the config (`query_file`, or Triage's
    `filepath`: relative to the config's folder here, to the working directory in Triage)."""

    query: str | None = None
    query_file: Path | None = None
    filepath: Path | None = None

    _query_file = field_validator("query_file", "filepath")(resolve_file)

    @model_validator(mode="after")
    def _exactly_one(self) -> "_Sql":
        given = one_of(self, "query", "query_file", "filepath")
        if len(given) != 1:
            raise ValueError("give the SQL as query, query_file or filepath (one of them)")
        check_placeholders(self.sql(), self.REQUIRED, self.ALLOWED)
        refuse_writes(self.sql(), given[0], self.file)
        return self

    REQUIRED: ClassVar[frozenset] = frozenset({"as_of_date"})
    ALLOWED: ClassVar[frozenset] = frozenset({"as_of_date"})

    @property
    def file(self) -> Path | None:
        return self.query_file or self.filepath

    def sql(self) -> str:
        return self.file.read_text() if self.file is not None else self.query


class CohortConfig(_Sql):
    """Who is ranked on a date: SQL returning `entity_id` for `{as_of_date}` (a date value; Triage's
    quoted `'{as_of_date}'` works too). `name` is Triage's cohort name (matrix metadata, model groups).

    Without a cohort section the cohort is the entities of the label query (Triage's rule), made by
    `of_label`: that cohort looks ahead as far as the label does."""

    name: str = Field("default", max_length=MAX_IDENTIFIER)
    description: str = ""
    _looks_ahead: Interval | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _tablesafe(cls, value: str) -> str:
        # Triage's rule (string_is_tablesafe): the name becomes part of table names.
        if not re.fullmatch(r"[a-z0-9_]+", value):
            raise ValueError(f"{value!r}: use lowercase letters, digits and underscores (Triage's rule)")
        return value

    @classmethod
    def of_label(cls, label: "LabelConfig") -> "CohortConfig":
        """Triage's cohort when none is configured: who the label query returns on each date (Triage
        reads them from its labels table, every label timespan; prodline computes one)."""
        entities = bind_label_timespan(label.sql().strip().rstrip(";"), label.interval)
        cohort = cls(query=f"SELECT DISTINCT entity_id FROM (\n{entities}\n) AS labelled",
                     name="all_entities",
                     description=f"Everyone the label query returns ({label.interval} ahead): the "
                                 "cohort when none is configured, as in Triage.")
        cohort._looks_ahead = label.interval
        return cohort

    @property
    def looks_ahead(self) -> Interval | None:
        """How far past the as-of date the cohort's query reads (only a cohort made of labels does)."""
        return self._looks_ahead


class MissingLabel(Strict):
    """What a cohort member without a label becomes: left out of training, NULL when testing."""

    train: Literal["exclude", "zero", "one"] = "exclude"
    test: Literal["null", "exclude", "zero", "one"] = "null"


# Triage's include_missing_labels_in_train_as: absent leaves unlabeled rows out of training matrices
# and NULL in test matrices; true/false fills them with 1/0 in both (architect/builders.py applies
# the COALESCE to every matrix it builds, train and test).
_TRIAGE_MISSING = {True: {"train": "one", "test": "one"}, False: {"train": "zero", "test": "zero"}}


class LabelConfig(_Sql):
    """The outcome: SQL returning `entity_id` and `outcome` (0/1) for `{as_of_date}`, looking
    `{label_timespan}` ahead. Labels for D mature once data up to D + timespan has arrived."""

    name: Identifier = "outcome"
    timespan: str
    missing: MissingLabel = MissingLabel()
    description: str = ""
    ALLOWED: ClassVar[frozenset] = frozenset({"as_of_date", "label_timespan"})

    @model_validator(mode="before")
    @classmethod
    def _triage_missing(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "include_missing_labels_in_train_as" not in data:
            return data
        data = dict(data)
        value = data.pop("include_missing_labels_in_train_as")
        where = ("include_missing_labels_in_train_as",)
        if value is None:  # written but empty: Triage's default
            return data
        if not isinstance(value, bool):
            raise Located([(where, f"{value!r} is not true or false (leave the key out to keep "
                                   "unlabeled rows out of training)")])
        if "missing" in data:
            raise Located([(where, "give include_missing_labels_in_train_as (Triage's key) or "
                                   "missing, not both")])
        return {**data, "missing": _TRIAGE_MISSING[value]}

    @field_validator("timespan")
    @classmethod
    def _interval(cls, value: str) -> str:
        interval = Interval.parse(value)
        if interval.is_all:
            raise ValueError("a label timespan cannot be 'all'")
        return interval

    @property
    def interval(self) -> Interval:
        return Interval(self.timespan)


class Metric(StrEnum):
    count = "count"
    sum = "sum"
    avg = "avg"
    min = "min"
    max = "max"
    stddev = "stddev"
    variance = "variance"


class Imputation(Strict):
    """How a feature is filled for a cohort member with nothing in the window (Triage's rules)."""

    type: Literal["mean", "constant", "zero", "zero_noflag", "null_category", "error"]
    value: float | None = None

    @model_validator(mode="after")
    def _value_for_constant(self) -> "Imputation":
        if (self.type == "constant") != (self.value is not None):
            raise ValueError("value is required with type constant, and only with it")
        return self

    @property
    def flags(self) -> bool:
        """Whether an `_imp` column records which values were imputed."""
        return self.type not in ("zero_noflag", "error", "null_category")


ImputationRules = dict[Literal["all", "count", "sum", "avg", "min", "max", "stddev", "variance"],
                       Imputation]


def _metrics(value: Any) -> Any:
    if isinstance(value, list):
        known = ", ".join(m.value for m in Metric)
        for item in value:
            if not isinstance(item, str) or item not in Metric.__members__:
                raise ValueError(f"{item!r} is not a metric; choose from {known}")
    return value


class Aggregate(Strict):
    """A quantity aggregated per entity over each interval. `quantity` is a column of from_obj,
    or `{name: SQL expression}`."""

    quantity: Identifier | dict[Identifier, str]
    metrics: list[Metric] = Field(min_length=1)
    imputation: ImputationRules = {}

    _metrics = field_validator("metrics", mode="before")(_metrics)

    @field_validator("quantity")
    @classmethod
    def _one_expression(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) != 1:
            raise ValueError("give one {name: expression} per aggregate")
        return value

    @model_validator(mode="after")
    def _read_only(self) -> "Aggregate":
        if self.column is None and (problem := expression_problem(self.expression)) is not None:
            raise Located([(("quantity", self.name), problem)])
        return self

    @property
    def name(self) -> str:
        return self.quantity if isinstance(self.quantity, str) else next(iter(self.quantity))

    @property
    def expression(self) -> str:
        return self.quantity if isinstance(self.quantity, str) else next(iter(self.quantity.values()))

    @property
    def column(self) -> str | None:
        """The from_obj column it reads, when it is a plain column."""
        return self.quantity if isinstance(self.quantity, str) else None


class Categorical(Strict):
    """One feature per choice of a column: the metric of `column = choice` over the window."""

    column: Identifier
    choices: list[str] | None = None
    choice_query: str | None = None
    metrics: list[Metric] = Field(min_length=1)
    imputation: ImputationRules = {}

    _metrics = field_validator("metrics", mode="before")(_metrics)

    @model_validator(mode="after")
    def _choices(self) -> "Categorical":
        if len(one_of(self, "choices", "choice_query")) != 1:
            raise ValueError("give choices or choice_query (one of them)")
        if self.choice_query is not None:
            refuse_writes(self.choice_query, "choice_query")
        if self.choices is not None:
            names = [choice_name(c) for c in self.choices]
            if len(set(names)) != len(names):
                raise ValueError("choices collide once made into column names: "
                                 f"{', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        return self


MAX_FEATURES = 10_000  # columns of one feature table; matrices hold every one of them


def choice_name(choice: Any) -> str:
    """A choice as it appears in a column name: lowercase, other characters as underscores."""
    return re.sub(r"[^a-z0-9]+", "_", str(choice).lower()).strip("_") or "blank"


class FeatureConfig(Strict):
    """One aggregation (Triage's feature_aggregations entry); it becomes the asset
    `features_<prefix>` and the table `features.<prefix>`."""

    prefix: Identifier
    from_obj: str
    knowledge_date_column: Identifier
    entity_column: Identifier = "entity_id"
    intervals: list[str] = Field(min_length=1, max_length=20)
    aggregates: list[Aggregate] = []
    categoricals: list[Categorical] = []
    aggregates_imputation: ImputationRules = {}
    categoricals_imputation: ImputationRules = {}
    description: str = ""

    _from_obj = field_validator("from_obj")(table_reference)

    @field_validator("intervals", mode="before")
    @classmethod
    def _intervals(cls, values: Any) -> Any:
        if not isinstance(values, list):
            return values
        parsed = [Interval.parse(v) for v in values]
        if len(set(parsed)) != len(parsed):
            raise ValueError("an interval is listed twice")
        return parsed

    @model_validator(mode="after")
    def _some_and_named(self) -> "FeatureConfig":
        if not self.aggregates and not self.categoricals:
            raise ValueError("give aggregates or categoricals (or both)")
        for rules in (self.aggregates_imputation, *(a.imputation for a in self.aggregates)):
            if any(r.type == "null_category" for r in rules.values()):
                raise ValueError("null_category imputation is for categoricals only")
        per_interval = sum(len(a.metrics) for a in self.aggregates) + sum(
            len(c.metrics) * len(c.choices or []) for c in self.categoricals)
        if len(self.intervals) * per_interval > MAX_FEATURES:
            raise ValueError(f"{len(self.intervals)} interval(s) x {per_interval:,} column(s) each make "
                             f"{len(self.intervals) * per_interval:,} features; at most {MAX_FEATURES:,}")
        long = [n for n in self.planned_columns() if len(n) + len("_imp") > MAX_IDENTIFIER]
        if long:
            raise ValueError(f"feature name(s) too long for SQL ({MAX_IDENTIFIER} characters with "
                             f"'_imp'): {', '.join(long[:3])}; shorten the prefix or names")
        return self

    @property
    def source(self) -> tuple[str, str]:
        schema, name = self.from_obj.split(".")
        return schema, name

    @property
    def interval_list(self) -> list[Interval]:
        return [Interval(i) for i in self.intervals]

    def column_name(self, interval: Interval, source: str, metric: str) -> str:
        """A feature's column: `<prefix>_<interval>_<quantity>_<metric>`, where a categorical's
        source is `<column>_<choice>`."""
        return f"{self.prefix}_{interval.label}_{source}_{metric}"

    def planned_columns(self) -> list[str]:
        """Feature names known from the config alone (choice_query choices come at run time)."""
        names = []
        for interval in self.interval_list:
            for agg in self.aggregates:
                names += [self.column_name(interval, agg.name, m) for m in agg.metrics]
            for cat in self.categoricals:
                names += [self.column_name(interval, f"{cat.column}_{choice_name(c)}", m)
                          for c in cat.choices or [] for m in cat.metrics]
        return names

    def imputation_for(self, metric: Metric, own: ImputationRules, categorical: bool) -> Imputation:
        """The rule for a metric: the aggregate's own, then the section's, then the default (a
        count or a categorical with nothing in the window is 0; anything else takes the mean)."""
        section = self.categoricals_imputation if categorical else self.aggregates_imputation
        for rules in (own, section):
            for key in (metric.value, "all"):
                if key in rules:
                    return rules[key]
        if categorical or metric in (Metric.count, Metric.sum):
            return Imputation(type="zero_noflag")
        return Imputation(type="mean")


FeatureGroupBy = Literal["prefix", "interval", "metric"]
