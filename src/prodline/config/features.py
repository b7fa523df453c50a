"""What is predicted for whom, from what: as-of dates, cohort, label and feature aggregations.

The feature vocabulary is Triage's (prefix, from_obj, knowledge date, aggregates, categoricals,
intervals, imputation), so a research config carries over almost key for key.
"""

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from prodline.config.base import (
    MAX_IDENTIFIER,
    Identifier,
    Located,
    Strict,
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
    """SQL given inline (`query`) or in a file next to the config (`query_file`)."""

    query: str | None = None
    query_file: Path | None = None

    _query_file = field_validator("query_file")(resolve_file)

    @model_validator(mode="after")
    def _exactly_one(self) -> "_Sql":
        given = one_of(self, "query", "query_file")
        if len(given) != 1:
            raise ValueError("give the SQL as query or query_file (one of them)")
        check_placeholders(self.sql(), self.REQUIRED, self.ALLOWED)
        refuse_writes(self.sql(), given[0], self.query_file)
        return self

    REQUIRED: ClassVar[frozenset] = frozenset({"as_of_date"})
    ALLOWED: ClassVar[frozenset] = frozenset({"as_of_date"})

    def sql(self) -> str:
        return self.query_file.read_text() if self.query_file is not None else self.query


class CohortConfig(_Sql):
    """Who is ranked on a date: SQL returning `entity_id` for `{as_of_date}` (a date value)."""

    description: str = ""


class MissingLabel(Strict):
    """What a cohort member without a label becomes: left out of training, NULL when testing."""

    train: Literal["exclude", "zero", "one"] = "exclude"
    test: Literal["null", "exclude", "zero", "one"] = "null"


class LabelConfig(_Sql):
    """The outcome: SQL returning `entity_id` and `outcome` (0/1) for `{as_of_date}`, looking
    `{label_timespan}` ahead. Labels for D mature once data up to D + timespan has arrived."""

    name: Identifier = "outcome"
    timespan: str
    missing: MissingLabel = MissingLabel()
    description: str = ""
    ALLOWED: ClassVar[frozenset] = frozenset({"as_of_date", "label_timespan"})

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
