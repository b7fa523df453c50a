"""What a partition reads upstream, and why it cannot be built yet.

An as-of date reads a window of days of each raw or transform table: everything before it that a
cohort query or a feature interval can reach, and a label timespan ahead for labels. It may be built
only when every day of every window is loaded and no blocking check failed on it; otherwise the
message names each table and day. The state of each day comes from the orchestrator's records
(which partitions are materialized, which checks failed on which days), never from the data.
"""

import datetime as dt
from dataclasses import dataclass, field

from prodline.config import Interval

SHOWN = 8  # day ranges and failed days listed per table


@dataclass(frozen=True)
class Window:
    """The days [first, last] of one upstream table that a partition reads."""

    table: str
    first: dt.date
    last: dt.date
    why: str = ""  # what the window is for, said when it is not complete
    dates: tuple[dt.date, ...] = ()  # only these days count (as-of dates of a table built per date)


@dataclass
class DayStates:
    """An upstream table's days as the orchestrator records them."""

    loaded: set[dt.date] = field(default_factory=set)
    failed: dict[dt.date, list[str]] = field(default_factory=dict)  # day -> blocking checks failed


def window(table: str, day: dt.date, start: dt.date, *, lookback: Interval | None = None,
           ahead: Interval | None = None, late_days: int = 0) -> Window:
    """The days of `table` that the partition of `day` reads.

    `lookback` (the longest feature interval; None or `all` for everything since `start`) bounds
    the window's first day; `ahead` (a label timespan) moves its end from the day before `day` to
    the last day of the timespan. Rows may arrive `late_days` after the day they are dated, so the
    window ends that many days later.
    """
    first = start
    if lookback is not None and not lookback.is_all:
        first = max(start, lookback.before(day))
    last = (ahead.after(day) if ahead is not None else day) - dt.timedelta(days=1)
    last += dt.timedelta(days=late_days)
    why = f"labels for {day} mature once data through {last} is loaded ({ahead} ahead)" if ahead else ""
    return Window(table, first, last, why)


def shortfall(needed: Window, states: DayStates) -> list[str]:
    """What keeps `needed` from being complete: missing days as ranges, failed days with checks."""
    if needed.last < needed.first:
        return []
    missing, failed = [], []
    for day in needed.dates or _every_day(needed.first, needed.last):
        if day not in states.loaded:
            missing.append(day)
        elif day in states.failed:
            failed.append(day)
    lines = []
    if missing and needed.dates:
        shown = ", ".join(map(str, missing[:SHOWN])) + (" ..." if len(missing) > SHOWN else "")
        lines.append(f"{needed.table}: {len(missing)} as-of date(s) not built: {shown}")
    elif missing:
        runs = day_ranges(missing)
        shown = ", ".join(runs[:SHOWN]) + (f" and {len(runs) - SHOWN} more" if len(runs) > SHOWN else "")
        lines.append(f"{needed.table}: {_days(len(missing))} not loaded: {shown}")
    for day in failed[:SHOWN]:
        lines.append(f"{needed.table} {day}: blocking check {', '.join(states.failed[day])} failed")
    if len(failed) > SHOWN:
        lines.append(f"{needed.table}: {len(failed) - SHOWN} more day(s) with failed blocking checks")
    return lines


def _every_day(first: dt.date, last: dt.date):
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def day_ranges(days: list[dt.date]) -> list[str]:
    """Sorted days as runs: `2024-01-11 .. 2024-02-28 (49 days)`, `2024-03-05`."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and day - runs[-1][1] == dt.timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [str(a) if a == b else f"{a} .. {b} ({(b - a).days + 1} days)" for a, b in runs]


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def incomplete(partition: str, windows: list[Window], states: dict[str, DayStates]) -> list[str]:
    """Every reason the partition cannot be built yet (empty when it can)."""
    lines = []
    for needed in windows:
        short = shortfall(needed, states.get(needed.table, DayStates()))
        if short and needed.why and needed.why not in lines:
            lines.append(needed.why)
        lines += short
    return [f"{partition}: {line}" for line in lines]


def refusal(what: str, lines: list[str], partitions: int) -> str:
    """The message of a step refused because its inputs are incomplete."""
    blocked = len({line.split(":")[0] for line in lines})
    return (f"{what}: {blocked} of {partitions} partition(s) read days that are not loaded or "
            f"failed a blocking check:\n" + "\n".join(lines[:40])
            + (f"\n... and {len(lines) - 40} more" if len(lines) > 40 else "")
            + "\nNothing was written. Load or fix those days (their partitions in the UI, or "
              "`prodline backfill`), then run this again; under automation it runs by itself then.")
