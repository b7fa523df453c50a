"""The `scoring` section, in Triage's words: metric groups (`testing_metric_groups`,
`training_metric_groups`), each a list of metrics with thresholds and parameters, and `subsets` of
the cohort to judge the models on as well. prodline's shorthand (`top_n`, `percentiles`: precision@
and recall@ at those cutoffs, with AUC and average precision) still works where no group is given."""

import math
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, PlainValidator, field_validator, model_validator

from prodline.config.base import Located, Strict, check_placeholders
from prodline.config.cutoffs import Threshold
from prodline.config.sql_guard import refuse_writes

MAX_TOP_N = 100_000_000

# Triage's ModelEvaluator.available_metrics, in its order: the names written to the evaluations.
METRICS = ("precision@", "recall@", "fbeta@", "f1", "accuracy", "roc_auc", "average precision score",
           "true positives@", "true negatives@", "false positives@", "false negatives@", "fpr@")
PARAMETRIZED = ("fbeta@",)  # Triage passes parameters to sklearn; only fbeta_score takes one (beta)
# Triage's own examples quote the placeholder (`'{as_of_date}'::date`): read as the date itself.
QUOTED_DATE = re.compile(r"'\{as_of_date\}'")



def _as_written(value):
    """A number kept as written (an int stays an int): Triage names a cutoff by `str(value)`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a number")
    if not math.isfinite(value):
        raise ValueError("Input should be a finite number")
    return value


Number = Annotated[int | float, PlainValidator(_as_written)]


@dataclass(frozen=True)
class MetricSpec:
    """One metric at one cutoff (None: the whole list) with its parameters, named as Triage names it."""

    metric: str
    threshold: Threshold | None
    parameters: tuple[tuple[str, float], ...] = ()

    @property
    def parameter(self) -> str:
        """Triage's parameter string: `0.75_beta/5.0_pct`, `100_abs`, or '' for the whole list."""
        parts = [f"{value}_{key}" for key, value in self.parameters]
        return "/".join(parts + ([self.threshold.parameter] if self.threshold else []))

    @classmethod
    def named(cls, metric: str, parameter: str) -> "MetricSpec":
        """A metric back from its name and parameter string (`fbeta@`, `0.5_beta/5.0_pct`), as
        selection and the gate name what they judge; refused if it is not a name Triage writes."""
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; Triage's metrics are {', '.join(METRICS)}")
        parts = [p for p in str(parameter).split("/") if p]
        threshold = Threshold.parse(parts.pop()) if parts and parts[-1].endswith(("_abs", "_pct")) else None
        parameters = []
        for part in parts:
            value, _, key = part.rpartition("_")
            try:
                number = int(value) if value.lstrip("-").isdigit() else float(value)
                parameters.append((key, _as_written(number)))
            except ValueError:
                raise ValueError(f"{parameter!r} is not a parameter string: "
                                 "write e.g. '0.5_beta/5_pct'") from None
        if parameters and (metric not in PARAMETRIZED or [k for k, _ in parameters] != ["beta"]):
            raise ValueError(f"{metric} takes no parameter {parameter!r}" if metric not in PARAMETRIZED
                             else f"{metric} takes one parameter, beta: write e.g. '0.5_beta/5_pct'")
        return cls(metric, threshold, tuple(parameters))

    @property
    def beta(self) -> float:
        return dict(self.parameters).get("beta", 1.0)


class Thresholds(Strict):
    percentiles: list[Number] = Field(default=[], max_length=100)
    top_n: list[Number] = Field(default=[], max_length=100)

    @field_validator("percentiles")
    @classmethod
    def _percent(cls, values: list) -> list:
        if bad := [v for v in values if not 0 < v <= 100]:
            raise ValueError(f"percentiles must be above 0 and at most 100; got {bad}")
        return values

    @field_validator("top_n")
    @classmethod
    def _positive_n(cls, values: list) -> list:
        if bad := [v for v in values if not 1 <= v <= MAX_TOP_N]:
            raise ValueError(f"top_n must be 1 to {MAX_TOP_N:,}; got {bad}")
        return values

    def cutoffs(self) -> list[Threshold]:
        """Triage's order: the percentages, then the top n rows."""
        return [Threshold(p, "pct") for p in self.percentiles] + [Threshold(n, "abs") for n in self.top_n]


class MetricGroup(Strict):
    """Metrics computed at each threshold (no `thresholds`: on the whole list) with each parameter set."""

    metrics: list[str] = Field(min_length=1, max_length=len(METRICS))
    thresholds: Thresholds | None = None
    parameters: list[dict[str, Number]] = Field(default=[{}], min_length=1, max_length=20)

    @field_validator("metrics")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = [(i, n) for i, n in enumerate(names) if n not in METRICS]
        if unknown:
            raise Located([((i,), f"unknown metric {n!r}; Triage's metrics are {', '.join(METRICS)}")
                           for i, n in unknown])
        return names

    @model_validator(mode="after")
    def _parameters(self) -> "MetricGroup":
        problems = []
        given = [p for p in self.parameters if p]
        if given and (plain := [m for m in self.metrics if m not in PARAMETRIZED]):
            problems.append((("parameters",), f"only fbeta@ takes parameters (beta); {', '.join(plain)} "
                             "takes none: put it in a group of its own"))
        if "fbeta@" in self.metrics:
            for i, p in enumerate(self.parameters):
                if set(p) != {"beta"} or not 0 < p["beta"] <= 1000:
                    problems.append((("parameters", i),
                                     f"fbeta@ needs exactly {{beta: b}} with 0 < b <= 1000; got {p}"))
        if problems:
            raise Located(problems)
        return self

    def specs(self) -> list[MetricSpec]:
        """Flattened as Triage's `_flatten_metric_config_group` does: threshold by threshold, then
        metric by metric, then parameter set by parameter set."""
        cutoffs = [None] if self.thresholds is None else self.thresholds.cutoffs()
        return [MetricSpec(m, t, tuple(p.items()))
                for t in cutoffs for m in self.metrics for p in self.parameters]


class Subset(Strict):
    """Part of the cohort on each as-of date (`query` returns entity_id, using `{as_of_date}`): the
    models are judged on it too, the thresholds applied again inside it."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    query: str = Field(min_length=1)

    @model_validator(mode="after")
    def _sql(self) -> "Subset":
        try:
            check_placeholders(self.query, {"as_of_date"}, {"as_of_date"})
        except ValueError as err:
            raise Located([(("query",), str(err))]) from None
        refuse_writes(self.sql, "query")
        return self

    @property
    def sql(self) -> str:
        """The query with a quoted `'{as_of_date}'` unquoted, for binding to a date column."""
        return QUOTED_DATE.sub("{as_of_date}", self.query)


class ScoringConfig(Strict):
    """Triage's scoring section, or prodline's shorthand: precision@ and recall@ at the top n rows
    and the top p percent, with AUC and average precision on the whole list."""

    testing_metric_groups: list[MetricGroup] | None = Field(default=None, max_length=50)
    training_metric_groups: list[MetricGroup] = Field(default=[], max_length=50)
    subsets: list[Subset] = Field(default=[], max_length=50)
    top_n: list[Number] = Field(default=[100], max_length=100)
    percentiles: list[Number] = Field(default=[1, 5, 10], max_length=100)

    @field_validator("top_n")
    @classmethod
    def _positive_n(cls, values: list) -> list:
        return Thresholds._positive_n(values)

    @field_validator("percentiles")
    @classmethod
    def _percent(cls, values: list) -> list:
        return Thresholds._percent(values)

    @model_validator(mode="after")
    def _one_way(self) -> "ScoringConfig":
        problems = []
        if self.testing_metric_groups is not None:
            problems += [((key,), f"{key} is prodline's shorthand for a metric group: with "
                          "testing_metric_groups, put the cutoffs in a group's thresholds")
                         for key in ("top_n", "percentiles") if key in self.model_fields_set]
        names = [s.name for s in self.subsets]
        problems += [(("subsets", i, "name"), f"subset {n!r} is named twice")
                     for i, n in enumerate(names) if n in names[:i]]
        if problems:
            raise Located(problems)
        return self

    def groups(self) -> list[MetricGroup]:
        """The test matrices' metric groups: Triage's, or those the shorthand stands for."""
        if self.testing_metric_groups is not None:
            return self.testing_metric_groups
        return [MetricGroup(metrics=["precision@", "recall@"],
                            thresholds=Thresholds(percentiles=self.percentiles, top_n=self.top_n)),
                MetricGroup(metrics=["roc_auc", "average precision score"])]

    def specs(self) -> list[MetricSpec]:
        """Every metric the test matrices are judged on, in Triage's order, each named once."""
        return _once(s for g in self.groups() for s in g.specs())

    def training_specs(self) -> list[MetricSpec]:
        return _once(s for g in self.training_metric_groups for s in g.specs())

    def thresholds(self) -> list[Threshold]:
        """Every cutoff of the test metrics' lists, each once: what selection, the gate and
        monitoring may name."""
        cutoffs = {s.threshold.parameter: s.threshold for s in self.specs() if s.threshold is not None}
        return list(cutoffs.values())


def _once(specs) -> list[MetricSpec]:
    # By name, not by value: `5_pct` and `5.0_pct` are equal numbers but two rows in Triage.
    return list({(s.metric, s.parameter): s for s in specs}.values())
