"""Partitions: raw tables by the day data arrived, the as-of layer and what follows it by as-of date,
matrices, models and evaluations by temporal split."""

import datetime as dt
import warnings

import dagster as dg

from prodline.config import Cadence, Interval, ProjectConfig
from prodline.pipeline.as_of.cohort_labels import periods_in
from prodline.pipeline.matrices.splits import Split, make_splits


def daily_partitions(config: ProjectConfig) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists, since files are named for the day they arrive.
    if config.end_date is None:
        return dg.DailyPartitionsDefinition(start_date=config.start_date.isoformat(), end_offset=1)
    end = config.end_date + dt.timedelta(days=1)  # Dagster's end_date is exclusive
    return dg.DailyPartitionsDefinition(start_date=config.start_date.isoformat(),
                                        end_date=end.isoformat())


def as_of_partitions(config: ProjectConfig) -> dg.TimeWindowPartitionsDefinition:
    """One partition per as-of date, through `as_of.end` if set; without it, the current period's
    exists (its date has come)."""
    as_of = config.as_of
    kwargs: dict = {"start_date": as_of.start.isoformat()}
    if as_of.end is None:
        kwargs["end_offset"] = 1
    else:
        kwargs["end_date"] = _after_last_period(as_of.cadence, as_of.end).isoformat()
    if as_of.cadence is Cadence.daily:
        return dg.DailyPartitionsDefinition(**kwargs)
    if as_of.cadence is Cadence.weekly:
        return dg.WeeklyPartitionsDefinition(day_offset=1, **kwargs)  # Mondays
    return dg.MonthlyPartitionsDefinition(**kwargs)


def _after_last_period(cadence: Cadence, end: dt.date) -> dt.date:
    """The day after the period of the last as-of date on or before `end`: Dagster's end_date is
    exclusive and keeps only whole periods, so `end` + 1 day would drop a week or month that starts
    on `end`."""
    if cadence is Cadence.daily:
        return end + dt.timedelta(days=1)
    if cadence is Cadence.weekly:
        return end - dt.timedelta(days=end.weekday()) + dt.timedelta(weeks=1)  # the Monday after
    return (end.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def splits_added(config: ProjectConfig) -> dg.DynamicPartitionsDefinition:
    """Production splits that follow the data, added by the new_splits sensor as labels mature
    (each problem of a deployment has its own)."""
    return dg.DynamicPartitionsDefinition(name=config.own("splits"))


def split_partitions(config: ProjectConfig) -> tuple[dict[str, Split] | None, dg.PartitionsDefinition]:
    """(the config's splits by key, or None when they follow the data; their partitions)."""
    if config.temporal.open_ended:
        return None, splits_added(config)
    splits = {s.key: s for s in make_splits(config.temporal)}
    return splits, dg.StaticPartitionsDefinition(list(splits))


def _mapping(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # allow_nonexistent_... is beta in 1.13
        return dg.TimeWindowPartitionMapping(start_offset=start_offset, end_offset=end_offset,
                                             allow_nonexistent_upstream_partitions=True)


# A century of as-of periods: "every period before D", whatever the project's first day.
ALL_PERIODS = {Cadence.daily: 36_525, Cadence.weekly: 5_218, Cadence.monthly: 1_200}


def as_of_reads(config: ProjectConfig, lookback: Interval | None = None,
                ahead: Interval | None = None, late: bool = False) -> dg.TimeWindowPartitionMapping:
    """The upstream days an as-of date D reads, in periods of D: back as far as `lookback` (every
    period before D for None or `all`), through the period before D, or through D + `ahead` (a
    label timespan), or D's own period when rows may arrive `late`. Dagster then knows every
    partition a day feeds, so a past day loaded again requests each as-of date that reads it."""
    cadence, first = config.as_of.cadence, config.as_of.start
    back = ALL_PERIODS[cadence] if lookback is None or lookback.is_all \
        else periods_in(cadence, first, lookback)
    end = periods_in(cadence, first, ahead) - 1 if ahead is not None else (0 if late else -1)
    return _mapping(-back, end)


def dates_of(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def days_of(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The first and last day of a daily partition range."""
    keys = context.partition_key_range
    return dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
