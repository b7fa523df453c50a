"""The `temporal` section: train/test splits in the vocabulary of Triage's timechop.

Every list multiplies out (each training label timespan with each test duration, and so on), as
in Triage. Intervals are `3 months`, `1 year`, `2 weeks`, `30 days` (or `30d`, `2w`, `1y`).
Triage's shorthand `label_timespans` (both label timespans at once) and its defaults for the start
and end times (from the data) are filled in before validation, by config.triage.temporal.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from prodline.config.base import Strict
from prodline.config.intervals import Interval


def _listed(value: Any) -> Any:
    # Triage takes one value or a list for every list field; so do we.
    return [value] if isinstance(value, str | int) else value


def _interval(zero: bool):
    def parse(value: Any) -> Interval:
        interval = Interval.parse(value, zero=zero)
        if interval.is_all:
            raise ValueError("'all' is not a length of time here")
        return interval
    return BeforeValidator(parse)


# Validated as a string, handed on as an Interval (pydantic has no schema for a str subclass).
# A step must move (0 would never end); a span may be empty.
Step = Annotated[str, _interval(zero=False), AfterValidator(Interval)]
Span = Annotated[str, _interval(zero=True), AfterValidator(Interval)]
Steps = Annotated[list[Step], BeforeValidator(_listed), Field(min_length=1, max_length=20)]
Spans = Annotated[list[Span], BeforeValidator(_listed), Field(min_length=1, max_length=20)]
# Splits and their as-of dates are computed whenever the config is validated: bound them.
MAX_SPLITS = 1000
MAX_SPLIT_DATES = 200_000


class TemporalConfig(Strict):
    """When models are trained and tested.

    `feature_end_time` and `label_end_time` are the day after the last data. In `research` mode
    (Triage's), the newest split is anchored at the end of label time and earlier ones step back by
    `model_update_frequency`, so new data moves every split. In `production` mode splits fall on
    `split_anchor` + k x `model_update_frequency` (for example the 1st of each month), so that
    splits already made stay where they are when data arrives and a new one is added each period.
    """

    feature_start_time: dt.date
    feature_end_time: dt.date | None = None  # production mode may leave both ends to the data:
    label_start_time: dt.date
    label_end_time: dt.date | None = None  # a split appears once its labels have matured
    # Triage's defaults (experiments/defaults.py, fill_timechop_config_missing): one split of one
    # as-of date per matrix. The label timespans have none (`label_timespans` sets both).
    model_update_frequency: Step = Field("100y", validate_default=True)
    training_as_of_date_frequencies: Steps = Field("100y", validate_default=True)
    max_training_histories: Spans = Field("0d", validate_default=True)
    training_label_timespans: Steps
    test_as_of_date_frequencies: Steps = Field("100y", validate_default=True)
    test_durations: Spans = Field("0d", validate_default=True)
    test_label_timespans: Steps
    mode: Literal["research", "production"] = "research"
    split_anchor: dt.date | None = None  # production mode; default: the later of the start times

    @model_validator(mode="after")
    def _ordered(self) -> "TemporalConfig":
        ends = {self.feature_end_time is None, self.label_end_time is None}
        if ends == {True, False}:
            raise ValueError("give both feature_end_time and label_end_time, or (production) neither")
        if self.open_ended:
            if self.mode != "production":
                raise ValueError("feature_end_time and label_end_time are required in research mode; "
                                 "only production mode follows the data")
            return self
        if self.feature_start_time > self.feature_end_time:
            raise ValueError(f"feature_start_time {self.feature_start_time} is after feature_end_time "
                             f"{self.feature_end_time}")
        if self.label_start_time > self.label_end_time:
            raise ValueError(f"label_start_time {self.label_start_time} is after label_end_time "
                             f"{self.label_end_time}")
        if self.split_anchor is not None and self.mode != "production":
            raise ValueError("split_anchor applies to mode: production only")
        return self._bounded()

    def _bounded(self) -> "TemporalConfig":
        span = (self.label_end_time - self.label_start_time).days
        splits = span // self.model_update_frequency.days + 1
        if splits > MAX_SPLITS:
            raise ValueError(f"label time ({span:,} days) every {self.model_update_frequency} makes about "
                             f"{splits:,} splits; at most {MAX_SPLITS:,}: use a longer "
                             "model_update_frequency")
        days = max(h.days for h in self.max_training_histories) + max(d.days for d in self.test_durations)
        step = min(f.days for f in self.training_as_of_date_frequencies + self.test_as_of_date_frequencies)
        dates = splits * (days // step + 2) * len(self.training_label_timespans) * len(self.test_durations)
        if dates > MAX_SPLIT_DATES:
            raise ValueError(f"these splits hold about {dates:,} as-of dates in all; at most "
                             f"{MAX_SPLIT_DATES:,}: use longer as-of date frequencies or shorter histories")
        return self

    @property
    def open_ended(self) -> bool:
        """Production splits that follow the data: the newest is the one whose labels matured."""
        return self.label_end_time is None

    def ending(self, newest_labeled: dt.date) -> "TemporalConfig":
        """This config with its ends set by the newest as-of date that has labels."""
        end = self.test_label_timespans[0].after(newest_labeled)
        return self.model_copy(update={"feature_end_time": end, "label_end_time": end})

    @property
    def anchor(self) -> dt.date:
        return self.split_anchor or max(self.feature_start_time, self.label_start_time)
