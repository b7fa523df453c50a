"""The `bias_audit` section: Triage's `bias_audit_config`, its keys verbatim.

Who belongs to which group (`attribute_columns` of `from_obj_table` or `from_obj_query`, as known
before each as-of date), at which cutoffs the list is audited, and which group each disparity is
measured against. What Triage would accept but not honour as written is refused here, with the key
and the reason, rather than quietly run another way.
"""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from prodline.config.base import Identifier, Located, Strict, sql_identifier
from prodline.config.sql_guard import refuse_writes

RefGroupsMethod = Literal["predefined", "majority", "min_metric"]


class BiasThresholds(Strict):
    """Cutoffs of the ranked list, as Triage writes them: top `top_n` rows, top `percentiles` %."""

    percentiles: list[float] = Field([], max_length=100)
    top_n: list[int] = Field([], max_length=100)

    @field_validator("percentiles")
    @classmethod
    def _percent(cls, values: list[float]) -> list[float]:
        if bad := [v for v in values if not 0 < v <= 100]:
            raise ValueError(f"percentiles {bad} are not in (0, 100]")
        return values

    @field_validator("top_n")
    @classmethod
    def _rows(cls, values: list[int]) -> list[int]:
        if bad := [v for v in values if v < 1]:
            raise ValueError(f"top_n {bad} are not positive row counts")
        return values

    @model_validator(mode="after")
    def _some(self) -> "BiasThresholds":
        # Triage's evaluator crashes on an empty list (Aequitas concatenates no tables).
        if not self.percentiles and not self.top_n:
            raise ValueError("give at least one cutoff in percentiles or top_n")
        return self

    def parameters(self) -> list[str]:
        """Each cutoff as Aequitas names it (`100_abs`, `0.01_pct`: the percentile over 100), in the
        order Triage audits them, top_n first."""
        return [f"{n}_abs" for n in self.top_n] + [f"{p / 100.0}_pct" for p in self.percentiles]


class BiasAuditConfig(Strict):
    """Triage's `bias_audit_config`: group metrics and disparities (Aequitas's) of each model on each
    test matrix, at `thresholds`, against reference groups chosen by `ref_groups_method`."""

    from_obj_table: str | None = None
    from_obj_query: str | None = None
    attribute_columns: list[Identifier] = Field(min_length=1, max_length=50)
    knowledge_date_column: Identifier
    entity_id_column: Identifier
    ref_groups_method: RefGroupsMethod
    ref_groups: dict[Identifier, str] | None = None
    thresholds: BiasThresholds

    @field_validator("ref_groups", mode="before")
    @classmethod
    def _as_text(cls, value):
        # Attributes are read as text (Triage stores them as varchar): `age: 35` means the group '35'.
        if isinstance(value, dict):
            return {k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                    for k, v in value.items()}
        return value

    @field_validator("from_obj_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None:
            for part in value.split("."):
                sql_identifier(part)
            if value.count(".") > 1:
                raise ValueError(f"{value!r}: write a table as schema.table or table")
        return value

    @model_validator(mode="after")
    def _honoured(self) -> "BiasAuditConfig":
        problems = []
        if (self.from_obj_table is None) == (self.from_obj_query is None):
            problems.append(((), "give exactly one of from_obj_table and from_obj_query"))
        if self.from_obj_query is not None:
            try:
                refuse_writes(self.from_obj_query, "from_obj_query")
            except Located as err:
                problems += err.problems
        if len(set(self.attribute_columns)) != len(self.attribute_columns):
            problems.append((("attribute_columns",), "an attribute is listed twice"))
        if self.ref_groups_method == "predefined":
            problems += self._predefined()
        elif self.ref_groups is not None:
            problems.append((("ref_groups",), f"ref_groups_method {self.ref_groups_method} chooses its own "
                             "reference groups: write predefined to use these"))
        if problems:
            raise Located(problems)
        return self

    def _predefined(self) -> list[tuple[tuple, str]]:
        # Triage runs min_metric instead when predefined comes without ref_groups, and Aequitas
        # refuses a dict that does not name every attribute: both are refused here, by key.
        if not self.ref_groups:
            return [(("ref_groups",), "ref_groups_method predefined needs a reference group for each "
                     "attribute (Triage silently uses min_metric without them: write min_metric if meant)")]
        problems = []
        if missing := [a for a in self.attribute_columns if a not in self.ref_groups]:
            problems.append((("ref_groups",), f"no reference group for {', '.join(missing)}"))
        if extra := [a for a in self.ref_groups if a not in self.attribute_columns]:
            problems.append((("ref_groups",), f"{', '.join(extra)} not in attribute_columns"))
        return problems

    @property
    def from_obj(self) -> str:
        """The relation to read attributes from, as Triage builds it (`parse_from_obj`)."""
        if self.from_obj_table is not None:
            return self.from_obj_table
        return f"({self.from_obj_query.strip().rstrip(';')}) bias_from_obj"


def bias_problems(config) -> list[tuple[tuple, str]]:
    """The promotion gate can only judge disparities the audit computes (a check across sections,
    called by ProjectConfig)."""
    wanted = None if config.promotion is None else config.promotion.disparities
    if wanted is None:
        return []
    where = ("promotion", "disparities")
    if config.bias_audit is None:
        return [(where, "needs the bias_audit section (who belongs to which group)")]
    known = config.bias_audit.thresholds.parameters()
    if wanted.parameter not in known:
        return [((*where, "parameter"), f"{wanted.parameter!r} is not a bias_audit cutoff "
                 f"(the audit gives {', '.join(known)})")]
    return []
