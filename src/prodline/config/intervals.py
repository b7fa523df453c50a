"""Spans of time in Triage's spelling (`30 days`, `1 year`, `6month`) and date arithmetic on them:
feature windows, label timespans and the temporal config's frequencies."""

import datetime as dt
import re
from typing import Any

from dateutil.relativedelta import relativedelta

_INTERVAL = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")
_UNITS = {"day": "day", "days": "day", "d": "day", "week": "week", "weeks": "week", "w": "week",
          "month": "month", "months": "month", "year": "year", "years": "year", "y": "year"}
_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
MAX_DAYS = 36_600  # a century: dates beyond it overflow, and no window needs more
_UNIT_LABEL = {"day": "d", "week": "w", "month": "m", "year": "y"}


class Interval(str):
    """`30 days`, `1 year`, `6 months`, `2 weeks` (or `30d`, `2w`, `1y`), or `all` (everything
    before the as-of date). `3m` is refused: Triage reads it as minutes, most people as months."""

    @classmethod
    def parse(cls, text: Any, zero: bool = False) -> "Interval":
        """The interval `text` spells; `zero` allows `0 days` (a test duration, say)."""
        if not isinstance(text, str):
            text = str(text)
        if text.strip() == "all":
            return cls("all")
        match = _INTERVAL.match(text)
        unit = _UNITS.get(match[2].lower()) if match else None
        if match and match[2].lower() == "m":
            raise ValueError(f"{text!r} is ambiguous (minutes or months?): write '{match[1]} months'")
        if unit is None:
            hint = " (it has no unit)" if text.strip().isdigit() else ""
            raise ValueError(f"{text!r} is not an interval{hint}: write a number and a unit "
                             "(day, week, month, year), such as '30 days' or '1 year', or 'all'")
        if int(match[1]) == 0 and not zero:
            raise ValueError(f"{text!r} is an empty interval")
        number = int(match[1])
        if number * _DAYS[unit] > MAX_DAYS:
            raise ValueError(f"{text!r} is longer than a century")
        return cls(f"{number} {unit}" + ("" if number == 1 else "s"))

    @property
    def is_all(self) -> bool:
        return self == "all"

    @property
    def amount(self) -> tuple[int, str]:
        number, unit = self.split()
        return int(number), unit.removesuffix("s")

    @property
    def days(self) -> int:
        """About how many days it spans (a month as 30), for bounds and estimates."""
        number, unit = self.amount
        return number * _DAYS[unit]

    @property
    def label(self) -> str:
        """How the interval appears in feature names: 30d, 1y, all."""
        if self.is_all:
            return "all"
        number, unit = self.amount
        return f"{number}{_UNIT_LABEL[unit]}"

    def before(self, day: dt.date) -> dt.date | None:
        """The first day of the window that ends (exclusive) on `day`; None for `all`."""
        if self.is_all:
            return None
        number, unit = self.amount
        return day - relativedelta(**{f"{unit}s": number})

    def after(self, day: dt.date) -> dt.date:
        number, unit = self.amount
        return day + relativedelta(**{f"{unit}s": number})
