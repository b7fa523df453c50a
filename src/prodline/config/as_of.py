"""Who is ranked, when, and for what: the as-of dates, the cohort and the label (Triage's
cohort_config and label_config, whose SQL runs unchanged)."""

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
from prodline.config.sql_guard import refuse_writes


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
