"""Tables a team's own ETL fills, observed in place (arrival: warehouse): what tells that a day changed.

A day's fingerprint (`Warehouse.day_fingerprints`) is its row count and a sum of row hashes. A
partition's data version is a hash of its days' fingerprints; the sensor that watches these tables
keeps the fingerprints it last saw and asks for the days that are new or changed.
"""

import datetime as dt
import hashlib

from prodline.pipeline.raw.batches import days_between


def window_version(days: dict[dt.date, str]) -> str:
    """One version for a window of days (empty days have no fingerprint, and count as such)."""
    text = ";".join(f"{d.isoformat()}={f}" for d, f in sorted(days.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def short(fingerprint: str) -> str:
    """What the sensor keeps of a day's fingerprint (its cursor stays small over years of days)."""
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:12]


def days_to_observe(seen: dict[str, str], now: dict[str, str], observed: set[str],
                    first: dt.date, last: dt.date) -> list[dt.date]:
    """The days from first to last to observe again: never observed, or whose fingerprint differs
    from the one seen last (a day that lost all its rows too). Keys are ISO days; `seen` and `now`
    map them to short fingerprints, `observed` holds the materialized partitions."""
    wanted = []
    for day in days_between(first, last):
        key = day.isoformat()
        if key not in observed or seen.get(key) != now.get(key):
            wanted.append(day)
    return wanted


def ranges(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days joined into (first, last) ranges, in order."""
    out: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if out and day - out[-1][1] == dt.timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out
