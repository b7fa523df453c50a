"""The `selection`, `promotion` and `monitoring` sections: which model is proposed, what it must show
before it is used, and how the model in use is watched."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from prodline.config.base import Identifier, Located, Strict, check_placeholders
from prodline.config.cutoffs import Threshold
from prodline.config.metrics import RENAMED, WITHOUT_CUTOFF, greater_is_better
from prodline.config.sql_guard import refuse_writes


def _cutoff(text: str) -> str:
    """A cutoff in its one spelling (`50.0_pct` is `50_pct`), so that names built from it match."""
    return Threshold.parse(text).parameter


Cutoff = Annotated[str, AfterValidator(_cutoff)]

# Triage's metric names (catwalk's ModelEvaluator.available_metrics), as the evaluations are named.
Metric = Literal["precision@", "recall@", "fbeta@", "f1", "accuracy", "roc_auc", "average precision score",
                 "true positives@", "true negatives@", "false positives@", "false negatives@", "fpr@"]
Severity = Literal["ERROR", "WARN"]
AggType = Literal["worst", "best", "mean"]


class SelectionConfig(Strict):
    """Triage's Audition: drop model groups that ever fall `max_from_best` or more from the best (or
    worse than `threshold`), then let `rule` pick among the rest on `metric` at `parameter`; every
    rule in `judged` (and the default set) is shown beside it with its regret.

    Audition's own config (`filter:` and `rules:`, as in Triage's audition.yaml) is accepted here as
    another spelling of the same section: see `_from_audition`."""

    metric: Metric = "precision@"
    parameter: str = "10_pct"
    rule: str = "best_current_value"
    params: dict[str, Any] = {}
    # Audition's filter: strictly less than max_from_best from the best at every split.
    max_from_best: float = Field(default=1.0, gt=0)
    threshold: float | None = None  # Audition's threshold_value: no worse than this at every split
    agg_type: AggType = "worst"  # several models of one group at one split (seeds): Audition's agg_type
    # More rules to judge by their regret (Audition's selection_rules entries: name plus parameters).
    judged: list[dict[str, Any]] = []

    @model_validator(mode="before")
    @classmethod
    def _from_audition(cls, data: Any) -> Any:
        """Audition's config shape and names, translated to this section's; what prodline cannot
        honour is refused with the reason."""
        if not isinstance(data, dict):
            return data
        from prodline.config.audition import from_audition

        return from_audition(data)

    @field_validator("metric", mode="before")
    @classmethod
    def _renamed(cls, value: Any) -> Any:
        if value in RENAMED:
            raise ValueError(f"{value!r} is now called {RENAMED[value]!r}, as in Triage: write metric: "
                             f"{RENAMED[value]}")
        return value

    @field_validator("parameter")
    @classmethod
    def _one_spelling(cls, value: str) -> str:
        """`50.0_pct` is `50_pct`: the selection metric's name must match the evaluations' rows."""
        try:
            return Threshold.parse(value).parameter if value else value
        except ValueError:
            return value  # reported beside the scoring cutoffs (project._selection_metric)

    @model_validator(mode="after")
    def _rule_known(self) -> "SelectionConfig":
        from prodline.pipeline.selection.rules import rule_problems

        problems = [(("rule",), p) for p in rule_problems(self.rule, self.params, self.metric)]
        for i, entry in enumerate(self.judged):
            name, params = entry.get("name"), {k: v for k, v in entry.items() if k != "name"}
            if not isinstance(name, str):
                problems.append((("judged", i), "each judged rule needs its name"))
            else:
                problems += [(("judged", i), p) for p in rule_problems(name, params, self.metric)]
        if self.metric in WITHOUT_CUTOFF and self.parameter:
            problems.append((("parameter",), f"{self.metric} takes no parameter: write parameter: ''"))
        if problems:
            raise Located(problems)
        return self

    @property
    def name(self) -> str:
        """The metric as the UI and MLflow show it, e.g. `precision@10_pct`."""
        return f"{self.metric}{self.parameter}"

    @property
    def greater_is_better(self) -> bool:
        return greater_is_better(self.metric)


class StabilityConfig(Strict):
    top: Cutoff = "1000_abs"  # the list people see, as `500_abs` or `5_pct`
    min_overlap: float = Field(default=0.5, ge=0, le=1)
    severity: Severity = "WARN"


class FairnessConfig(Strict):
    """Recall at `top` per group of each protected attribute, relative to the attribute's reference
    group. `query` returns entity_id and one column per attribute on `{as_of_date}`."""

    description: str | None = None
    query: str
    references: dict[Identifier, str] = Field(min_length=1)
    top: Cutoff = "10_pct"
    bounds: tuple[float, float] = (0.8, 1.25)
    min_positives: int = Field(default=30, ge=1, le=1_000_000)
    warn_only: list[Identifier] = []  # attributes shown on every challenger without blocking it

    @model_validator(mode="after")
    def _sql(self) -> "FairnessConfig":
        try:
            check_placeholders(self.query, {"as_of_date"}, {"as_of_date"})
        except ValueError as err:
            raise Located([(("query",), str(err))]) from None
        refuse_writes(self.query, "query")
        if unknown := [a for a in self.warn_only if a not in self.references]:
            raise Located([(("warn_only",), f"{', '.join(unknown)} not in references "
                                             f"({', '.join(self.references)})")])
        if not 0 < self.bounds[0] <= 1 <= self.bounds[1]:
            raise Located([(("bounds",), f"bounds {list(self.bounds)} must hold 1 (0 < low <= 1 <= high)")])
        return self


AuditMetric = Literal["ppr", "pprev", "precision", "fdr", "for", "fpr", "fnr", "tpr", "tnr", "npv"]


class DisparityConfig(Strict):
    """Aequitas's disparities (a group's metric over its reference group's, the reference chosen by
    bias_audit.ref_groups_method) of the challenger on the newest test matrix, computed as the
    bias_audit section says, must lie within `bounds` for every group of at least `min_group_size`
    rows. `parameter` is one of the audit's cutoffs as Aequitas names it (`100_abs`, `0.01_pct`)."""

    metrics: list[AuditMetric] = Field(["tpr"], min_length=1)
    parameter: str
    tie_breaker: Literal["worst", "best"] = "worst"
    bounds: tuple[float, float] = (0.8, 1.25)
    min_group_size: int = Field(default=30, ge=1, le=10**9)
    severity: Severity = "ERROR"

    @model_validator(mode="after")
    def _bounds(self) -> "DisparityConfig":
        if not 0 < self.bounds[0] <= 1 <= self.bounds[1]:
            raise Located([(("bounds",), f"bounds {list(self.bounds)} must hold 1 (0 < low <= 1 <= high)")])
        return self


class SanityConfig(Strict):
    # A metric above max_value smells of a label leaking into a feature.
    max_value: float = Field(default=0.99, gt=0, le=1)
    min_rows: int = Field(default=1000, ge=0, le=10**9)
    min_positives: int = Field(default=50, ge=0, le=10**9)


class PromotionConfig(Strict):
    """What a challenger must show on the newest test matrix before it becomes the champion."""

    model_name: Identifier | None = None  # the registered model; default: the project's name
    # challenger >= champion + margin (negative: accept a small loss)
    margin: float = Field(default=0.0, ge=-1, le=1)
    stability: StabilityConfig = StabilityConfig()
    fairness: FairnessConfig | None = None
    disparities: DisparityConfig | None = None  # judged on the bias_audit section's figures
    sanity: SanityConfig = SanityConfig()


class MonitoringConfig(Strict):
    """Drift of each feature against the champion's training matrix (population stability index),
    and realized performance once labels mature, against the value recorded at promotion."""

    drift_warn: float = Field(default=0.1, gt=0, le=1000)
    drift_alert: float = Field(default=0.25, gt=0, le=1000)
    bins: int = Field(default=10, ge=2, le=1000)
    realized_margin: float = Field(default=0.1, ge=0, le=1)
    # What a list that fell short of its promise sets off, besides the check's e-mail: nothing more
    # (alert), training the newest split the matured labels allow (retrain: never the same split
    # again, which would give the same model), or moving the champion back to the previous one that
    # passed the gate (rollback, recorded like any move).
    on_decay: Literal["alert", "retrain", "rollback"] = "alert"
    decay_blocks: bool = False  # realized_performance_holds as a blocking check: the run fails

    @model_validator(mode="before")
    @classmethod
    def _retrain_when_below(cls, data: Any) -> Any:
        """`retrain_when_below: true`, the older spelling, is `on_decay: retrain`."""
        if isinstance(data, dict) and "retrain_when_below" in data:
            data = dict(data)
            if data.pop("retrain_when_below") is True:
                if data.get("on_decay", "retrain") != "retrain":
                    raise ValueError("retrain_when_below: true and on_decay: "
                                     f"{data['on_decay']} disagree: keep on_decay")
                data["on_decay"] = "retrain"
        return data

    @model_validator(mode="after")
    def _ordered(self) -> "MonitoringConfig":
        if self.drift_alert < self.drift_warn:
            raise Located([(("drift_alert",), f"{self.drift_alert} is below drift_warn {self.drift_warn}")])
        return self
