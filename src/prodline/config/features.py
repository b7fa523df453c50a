"""What the models learn from: feature aggregations, in Triage's feature_aggregations vocabulary
key for key (prefix, from_obj, knowledge date, aggregates, categoricals, intervals, imputation), with
Triage's column names."""

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from prodline.config.base import (
    MAX_IDENTIFIER,
    Identifier,
    Located,
    Strict,
    one_of,
)
from prodline.config.intervals import Interval
from prodline.config.sql_guard import expression_problem, query_problem, refuse_writes, tables_read


class Metric(StrEnum):
    """The aggregate functions a window's value can be computed with (Triage passes any PostgreSQL
    aggregate's name through; these are the ones prodline computes from running totals)."""

    count = "count"
    sum = "sum"
    avg = "avg"
    min = "min"
    max = "max"
    stddev = "stddev"
    stddev_samp = "stddev_samp"
    stddev_pop = "stddev_pop"
    variance = "variance"
    var_samp = "var_samp"
    var_pop = "var_pop"


# Triage gives each of these its own imputation flag (their NULLs differ from the other metrics').
SAMPLE_SPREAD = frozenset({"stddev", "stddev_samp", "variance", "var_samp"})
_REFUSED_METRICS = {
    "mode": "an ordered-set aggregate: PostgreSQL refuses mode(x) without WITHIN GROUP, which a "
            "Triage metric cannot give (Triage fails on it too)",
    "percentile_cont": "an ordered-set aggregate (PostgreSQL needs WITHIN GROUP; Triage fails on it too)",
    "percentile_disc": "an ordered-set aggregate (PostgreSQL needs WITHIN GROUP; Triage fails on it too)",
    "median": "not a PostgreSQL aggregate (Triage fails on it too)",
}


class Imputation(Strict):
    """How a feature is filled where its value is NULL (Triage's rules, Triage's names)."""

    type: Literal["mean", "constant", "zero", "zero_noflag", "null_category", "binary_mode", "error"]
    value: float | str | None = None

    @model_validator(mode="after")
    def _value_for_constant(self) -> "Imputation":
        if (self.type == "constant") != (self.value is not None):
            raise ValueError("value is required with type constant, and only with it")
        return self

    @property
    def flags(self) -> bool:
        """Whether an `_imp` column records which values were imputed (aggregates only: a
        categorical has its `__NULL` column instead)."""
        return self.type not in ("zero_noflag", "error", "null_category")


def _rule_keys(value: Any) -> Any:
    if isinstance(value, dict):
        for key in value:
            if key != "all" and key not in Metric.__members__:
                raise ValueError(f"{key!r} is not a metric (nor 'all'); rules are given per metric: "
                                 + ", ".join(["all", *(m.value for m in Metric)]))
    return value


ImputationRules = Annotated[dict[str, Imputation], BeforeValidator(_rule_keys)]


def _metrics(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        known = ", ".join(m.value for m in Metric)
        for item in value:
            if isinstance(item, str) and item in _REFUSED_METRICS:
                raise ValueError(f"{item!r} is {_REFUSED_METRICS[item]}; choose from {known}")
            if not isinstance(item, str) or item not in Metric.__members__:
                raise ValueError(f"{item!r} is not a metric prodline computes (a window's value comes "
                                 f"from running totals); choose from {known}")
        if len(set(value)) != len(value):
            raise ValueError("a metric is listed twice")
    return value


# coltype: the SQL type Triage casts an aggregate to. Integer types round (half away from zero,
# as PostgreSQL rounds a numeric), `real` keeps single precision; the rest change nothing.
INTEGER_TYPES = frozenset({"smallint", "int2", "integer", "int", "int4", "bigint", "int8"})
COLTYPES = INTEGER_TYPES | {"real", "float4", "float", "float8", "double precision", "numeric",
                            "decimal"}


def _coltype(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in COLTYPES:
        raise ValueError(f"{value!r} is not a numeric SQL type prodline casts to; choose from "
                         + ", ".join(sorted(COLTYPES)))
    return value.strip().lower()


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def feature_table(prefix: str) -> str:
    """The table of one aggregation's features, named as Triage names it (a grid's feature group
    definition names these)."""
    return f"{prefix}_aggregation_imputed"


def sql_name(name: str) -> str:
    """A name as Triage writes it into a column name (collate's to_sql_name drops double quotes)."""
    return str(name).replace('"', "")


class Aggregate(Strict):
    """A quantity aggregated per entity over each interval. `quantity` is a column of from_obj, an
    SQL expression (`homeless::INT`, named as written) or `{name: expression}` (one or more)."""

    quantity: str | dict[str, str]
    metrics: list[Metric] = Field(min_length=1)
    imputation: ImputationRules = {}
    coltype: str | None = None

    _metrics = field_validator("metrics", mode="before")(_metrics)
    _coltype = field_validator("coltype", mode="before")(_coltype)

    @field_validator("quantity")
    @classmethod
    def _some_quantity(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value:
            raise ValueError("give at least one {name: expression}")
        return value

    @model_validator(mode="after")
    def _read_only(self) -> "Aggregate":
        for name, expression in self.quantities:
            where = ("quantity",) if isinstance(self.quantity, str) else ("quantity", name)
            if not name.strip():
                raise Located([(where, "a quantity needs a name")])
            if re.match(r"distinct[ (]", expression.strip(), re.IGNORECASE):
                raise Located([(where, "a DISTINCT quantity cannot be computed from running totals "
                                       "(a window's distinct values are not the difference of two "
                                       "cumulative ones); aggregate a transform instead")])
            if not expression.isidentifier() and (problem := expression_problem(expression)) is not None:
                raise Located([(where, problem)])
        return self

    @property
    def quantities(self) -> list[tuple[str, str]]:
        """(name in column names, SQL) per quantity."""
        if isinstance(self.quantity, str):
            return [(sql_name(self.quantity), self.quantity)]
        return [(sql_name(k), v) for k, v in self.quantity.items()]

    @property
    def column(self) -> str | None:
        """The from_obj column it reads, when it is one plain column."""
        return self.quantity if isinstance(self.quantity, str) and self.quantity.isidentifier() else None


Choice = str | int | float


class Categorical(Strict):
    """One feature per choice of a column (and Triage's `{column}__NULL`): the metric of
    `(column = choice)::INT` over the window. In `array_categoricals`, the test is `column @> [choice]`."""

    column: Identifier
    choices: list[Choice] | None = None
    choice_query: str | None = None
    metrics: list[Metric] = Field(min_length=1)
    imputation: ImputationRules = {}
    coltype: str | None = None

    _metrics = field_validator("metrics", mode="before")(_metrics)
    _coltype = field_validator("coltype", mode="before")(_coltype)

    @model_validator(mode="after")
    def _choices(self) -> "Categorical":
        if len(one_of(self, "choices", "choice_query")) != 1:
            raise ValueError("give choices or choice_query (one of them)")
        if self.choice_query is not None:
            refuse_writes(self.choice_query, "choice_query")
        if self.choices is not None:
            names = [choice_name(c) for c in self.choices if c is not None]
            if len(set(names)) != len(names):
                raise ValueError("a choice is listed twice: "
                                 f"{', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        return self


MAX_FEATURES = 10_000  # columns of one feature table; matrices hold every one of them
_TABLE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s*$")  # one schema.table


def choice_name(choice: Any) -> str:
    """A choice as Triage writes it into a column name: as it is (a number as Python prints it),
    double quotes dropped."""
    return sql_name(choice)


class FeatureConfig(Strict):
    """One aggregation (Triage's feature_aggregations entry, its keys verbatim); it becomes the asset
    `features_<prefix>` and the table `features.<prefix>`. `entity_column` is prodline's: the
    column of from_obj that holds the entity (Triage requires it to be called entity_id)."""

    prefix: Identifier
    from_obj: str
    knowledge_date_column: Identifier
    entity_column: Identifier = "entity_id"
    groups: list[str] | None = None
    intervals: list[str] = Field(min_length=1, max_length=20)
    aggregates: list[Aggregate] = []
    categoricals: list[Categorical] = []
    array_categoricals: list[Categorical] = []
    aggregates_imputation: ImputationRules = {}
    categoricals_imputation: ImputationRules = {}
    array_categoricals_imputation: ImputationRules = {}
    description: str = ""

    @field_validator("from_obj")
    @classmethod
    def _from_obj(cls, value: str) -> str:
        if _TABLE.match(value):  # which tables exist is the project's check
            return value.strip()
        # Triage's from_obj may be any FROM clause: a join, a subquery with an alias.
        if (problem := query_problem(f"SELECT * FROM {value}")) is not None:
            raise ValueError(f"from_obj is neither one table (schema.name) nor a read-only FROM "
                             f"clause: {problem}")
        return value

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        if value is not None and value != ["entity_id"]:
            raise ValueError(f"{value!r}: features are aggregated per entity only, so groups can only "
                             "be [entity_id] (Triage refuses other groups too)")
        return value

    @field_validator("intervals", mode="before")
    @classmethod
    def _intervals(cls, values: Any) -> Any:
        if not isinstance(values, list):
            return values
        # Kept as spelled: the spelling is part of Triage's column names (`1y`, `6month`, `all`).
        spelled = [v if isinstance(v, str) else str(v) for v in values]
        parsed = [Interval.parse(v) for v in spelled]
        if len(set(parsed)) != len(parsed) or len(set(spelled)) != len(spelled):
            raise ValueError("an interval is listed twice")
        return spelled

    @model_validator(mode="after")
    def _some_and_named(self) -> "FeatureConfig":
        if not self.aggregates and not self.categoricals and not self.array_categoricals:
            raise ValueError("give aggregates, categoricals or array_categoricals")
        problems = []
        for section in ("aggregates", "categoricals", "array_categoricals"):
            for i, item in enumerate(getattr(self, section)):
                for metric in item.metrics:
                    rule = self.imputation_for(metric, item.imputation, section)
                    if rule.type == "null_category" and section == "aggregates":
                        problems.append(((section, i, "imputation"),
                                         f"{metric.value}: null_category is for categoricals only"))
                    if rule.type == "binary_mode" and section != "aggregates":
                        problems.append(((section, i, "imputation"),
                                         f"{metric.value}: binary_mode is for aggregates only"))
                    text = isinstance(rule.value, str)
                    wordy = text and not _number(rule.value)
                    if rule.type == "constant" and section == "aggregates" and wordy:
                        problems.append(((section, i, "imputation"),
                                         f"{metric.value}: an aggregate's constant is a number, not "
                                         f"{rule.value!r}"))
                    if rule.type == "constant" and section != "aggregates" and not text:
                        problems.append(((section, i, "imputation"),
                                         f"{metric.value}: a categorical's constant is a choice (text): "
                                         "Triage sets 1 in the columns whose name contains it"))
        if problems:
            raise Located(problems)
        per_interval = sum(len(a.metrics) * len(a.quantities) for a in self.aggregates) + sum(
            len(c.metrics) * (len(c.choices or []) + 1) for c in self.categoricals + self.array_categoricals)
        if len(self.intervals) * per_interval > MAX_FEATURES:
            raise ValueError(f"{len(self.intervals)} interval(s) x {per_interval:,} column(s) each make "
                             f"{len(self.intervals) * per_interval:,} features; at most {MAX_FEATURES:,}")
        planned = self.planned_columns()
        long = [n for n in planned if len(n) + len("_imp") > MAX_IDENTIFIER]
        if long:
            raise ValueError(f"feature name(s) too long for SQL ({MAX_IDENTIFIER} characters with "
                             f"'_imp'): {', '.join(long[:3])}; shorten the prefix or names")
        folded = [n.lower() for n in planned]
        if len(set(folded)) != len(folded):
            twice = sorted({n for n in planned if folded.count(n.lower()) > 1})
            raise ValueError("feature names collide (names are compared without case): "
                             + ", ".join(twice[:4]))
        return self

    @property
    def table(self) -> str | None:
        """The table when from_obj is one (raw.<source>, transforms.<name>, or a table observed in
        place, such as semantic.events); None for an expression."""
        return self.from_obj.strip() if _TABLE.match(self.from_obj) else None

    @property
    def tables(self) -> list[str]:
        """The schema-qualified tables from_obj reads, as written (ProjectConfig.reference maps an
        observed one to its source)."""
        if self.table is not None:
            return [self.table]
        return tables_read(f"SELECT * FROM {self.from_obj}")

    @property
    def from_sql(self) -> str:
        """from_obj as a FROM item aliased `e`."""
        return f"{self.table} AS e" if self.table else f"(SELECT * FROM {self.from_obj}) AS e"

    @property
    def interval_list(self) -> list[Interval]:
        return [Interval.parse(i) for i in self.intervals]

    def column_name(self, interval: str, quantity: str, metric: str) -> str:
        """Triage's name: `<prefix>_entity_id_<interval as spelled>_<quantity>_<metric>`, where a
        categorical's quantity is `<column>_<choice>` or `<column>__NULL`."""
        return sql_name(f"{self.prefix}_entity_id_{interval}_{quantity}_{metric}")

    def planned_columns(self) -> list[str]:
        """Feature names known from the config alone (choice_query choices come at run time)."""
        names = []
        for interval in self.intervals:
            for agg in self.aggregates:
                names += [self.column_name(interval, q, m) for q, _ in agg.quantities for m in agg.metrics]
            for cat in self.categoricals + self.array_categoricals:
                sources = [f"{cat.column}_{choice_name(c)}" for c in cat.choices or [] if c is not None]
                names += [self.column_name(interval, s, m) for s in [*sources, f"{cat.column}__NULL"]
                          for m in cat.metrics]
        return names

    def imputation_for(self, metric: Metric, own: dict, section: str = "aggregates") -> Imputation:
        """Triage's lookup: the section's rules updated by the item's own, then the metric's rule,
        else `all`. Where Triage requires a rule and none is given, prodline's default: a count, a
        sum or a categorical is 0 (without flag); anything else takes the mean."""
        rules = {**getattr(self, f"{section}_imputation"), **own}
        rule = rules.get(metric.value) or rules.get("all")
        if rule is not None:
            return rule
        if section != "aggregates" or metric in (Metric.count, Metric.sum):
            return Imputation(type="zero_noflag")
        return Imputation(type="mean")


FeatureGroupBy = Literal["prefix", "interval", "metric"]
