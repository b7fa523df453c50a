"""Temporal train/test splits, as Triage's timechop makes them (same inputs, same dates).

A split time S separates a training matrix from its test matrices. Training rows are as-of dates up
to S minus the training label timespan, so that every training label is known by S; test rows
start at S. Steps of months repeat from the previous date as in timechop (31 Jan, 28 Feb, 28 Mar),
except production split times, which are the anchor plus k periods so that they never drift.
"""

import datetime as dt
import itertools
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

from prodline.config.intervals import Interval
from prodline.config.temporal import TemporalConfig


class SplitError(ValueError):
    """The temporal config gives no usable split, or a split would leak test labels into training."""


@dataclass(frozen=True)
class TrainingDates:
    as_of_dates: tuple[dt.date, ...]
    label_timespan: Interval
    frequency: Interval
    max_history: Interval


@dataclass(frozen=True)
class TestingDates:
    __test__ = False  # not a pytest class, whatever its name

    as_of_dates: tuple[dt.date, ...]
    label_timespan: Interval
    frequency: Interval
    duration: Interval

    @property
    def info_end(self) -> dt.date:
        """The day after the last label this matrix needs."""
        return self.label_timespan.after(self.as_of_dates[-1])


@dataclass(frozen=True)
class Split:
    time: dt.date
    train: TrainingDates
    tests: tuple[TestingDates, ...]
    key: str = ""  # unique among the config's splits; see `keyed`

    @property
    def as_of_dates(self) -> list[dt.date]:
        return sorted({*self.train.as_of_dates, *(d for t in self.tests for d in t.as_of_dates)})


def make_splits(config: TemporalConfig) -> list[Split]:
    """Every split of the config, in timechop's order: label timespans and test durations outermost,
    then training frequencies and histories, then split times, oldest first."""
    if config.open_ended:
        raise SplitError("the splits follow the data: set their ends with config.ending(newest labeled date)")
    splits = []
    for train_span, test_span, duration in itertools.product(
            config.training_label_timespans, config.test_label_timespans, config.test_durations):
        times = split_times(config, train_span, test_span, duration)
        for frequency, history in itertools.product(config.training_as_of_date_frequencies,
                                                    config.max_training_histories):
            for time in times:
                train = _train(config, time, train_span, history, frequency)
                tests = tuple(TestingDates(as_of_dates(time, duration.after(time), f, forward=True),
                                        test_span, f, duration)
                              for f in config.test_as_of_date_frequencies)
                splits.append(Split(time, train, tests))
    splits = keyed(splits, config)
    check_label_windows(splits)
    return splits


def split_times(config: TemporalConfig, train_span: Interval, test_span: Interval,
                duration: Interval) -> list[dt.date]:
    last_test_label = test_span.before(config.label_end_time)
    if last_test_label > config.feature_end_time:
        raise SplitError(f"the last test labels start on {last_test_label} (label_end_time "
                         f"{config.label_end_time} - {test_span}), after feature_end_time "
                         f"{config.feature_end_time}")
    earliest = train_span.after(max(config.feature_start_time, config.label_start_time))
    last = duration.before(last_test_label)
    if last < earliest:
        raise SplitError(f"no valid split time: the last possible one, {last} (label_end_time - "
                         f"{test_span} - {duration}), is before the first, {earliest} (start + {train_span})")
    if config.mode == "production":
        return _anchored(config.anchor, config.model_update_frequency, earliest, last)
    times, time = [], last
    while time >= earliest:
        times.insert(0, time)
        time = config.model_update_frequency.before(time)
    return times


def _anchored(anchor: dt.date, step: Interval, earliest: dt.date, last: dt.date) -> list[dt.date]:
    number, unit = step.amount
    times, k = [], 0
    while (time := anchor + relativedelta(**{f"{unit}s": number * k})) <= last:
        if time >= earliest:
            times.append(time)
        k += 1
    if not times:
        raise SplitError(f"no split time on {anchor} + k x {step} falls between {earliest} and {last}")
    return times


def as_of_dates(start: dt.date, end: dt.date, step: Interval, forward: bool = False) -> tuple[dt.date, ...]:
    """Backward (training): from `end` down to `start`, both included. Forward (testing): `start`
    always, then every step before `end` (excluded)."""
    if forward:
        dates, day = [start], step.after(start)
        while day < end:
            dates.append(day)
            day = step.after(day)
        return tuple(dates)
    dates, day = [], end
    while day >= start:
        dates.insert(0, day)
        day = step.before(day)
    return tuple(dates)


def _train(config: TemporalConfig, time: dt.date, span: Interval, history: Interval,
           frequency: Interval) -> TrainingDates:
    last = span.before(time)
    first = max(history.before(last), config.label_start_time, config.feature_start_time)
    dates = as_of_dates(first, last, frequency)
    if not dates:
        raise SplitError(f"split {time}: no training as-of date between {first} and {last} "
                         f"({time} - {span}); start label or feature time earlier")
    return TrainingDates(dates, span, frequency, history)


def keyed(splits: list[Split], config: TemporalConfig) -> list[Split]:
    """Name each split by its time, plus the settings that vary in the config: `2024-06-01`, or
    `2024-06-01_tl6m_h1y` when label timespans and histories have several values."""
    varying = [(label, values) for label, values in (
        ("tl", config.training_label_timespans), ("sl", config.test_label_timespans),
        ("d", config.test_durations), ("f", config.training_as_of_date_frequencies),
        ("h", config.max_training_histories)) if len(values) > 1]
    out = []
    for split in splits:
        chosen = {"tl": split.train.label_timespan, "sl": split.tests[0].label_timespan,
                  "d": split.tests[0].duration, "f": split.train.frequency, "h": split.train.max_history}
        suffix = "".join(f"_{label}{Interval(chosen[label]).label}" for label, _ in varying)
        out.append(Split(split.time, split.train, split.tests, f"{split.time:%Y-%m-%d}{suffix}"))
    return out


def check_label_windows(splits: list[Split]) -> None:
    """Refuse a test as-of date before the last training date plus its label timespan: the
    training labels would then see the period being tested."""
    problems = []
    for split in splits:
        known = split.train.label_timespan.after(split.train.as_of_dates[-1])
        early = [d for t in split.tests for d in t.as_of_dates if d < known]
        if early:
            problems.append(f"split {split.key or split.time}: test as-of date {min(early)} is before "
                            f"{known} (last training date {split.train.as_of_dates[-1]} + "
                            f"{split.train.label_timespan})")
    if problems:
        raise SplitError("training labels overlap the test period:\n  " + "\n  ".join(problems))
