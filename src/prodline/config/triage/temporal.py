"""The temporal section filled in the way Triage fills it (experiments/defaults.py,
fill_timechop_config_missing, Triage 6.0.0), before validation.

- `label_timespans` sets training_label_timespans and test_label_timespans at once. Given beside
  either of them, prodline refuses it (Triage refuses it beside training_label_timespans and, beside
  test_label_timespans, a misspelt check lets test_label_timespans silently win).
- The frequencies, histories and durations default to Triage's values in TemporalConfig itself.
- When any of feature_start_time, feature_end_time, label_start_time, label_end_time is missing,
  Triage takes the earliest and the latest knowledge date over every feature aggregation's
  from_obj: the starts become the earliest, the ends the latest (not the day after). Those dates
  are in the data, so prodline computes them while loading the config when a warehouse is named
  (`storage.warehouse_url` or $PRODLINE_WAREHOUSE_URL) and holds the from_objs; otherwise the
  missing keys are refused with that reason. In production mode the ends stay open (the splits
  follow the data) and only the starts are filled.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

from prodline.config.triage.renames import Origin, Renames

DATES = ("feature_start_time", "feature_end_time", "label_start_time", "label_end_time")
TIMESPANS = ("training_label_timespans", "test_label_timespans")

# The earliest and latest knowledge date of the feature aggregations: (earliest, latest), or a
# reason why they cannot be known now.
Bounds = Callable[[list[dict]], tuple[dt.date, dt.date]]


class NoBounds(Exception):
    """The data's dates cannot be read now; the message says why."""


def bounds_query(aggregations: list[dict]) -> str:
    """Triage's query for the data's first and last knowledge dates (defaults.py), in SQL that
    PostgreSQL and DuckDB share: Triage's to_char(..., 'YYYY-MM-DD') is a cast to date here."""
    each = [f"(SELECT min({a['knowledge_date_column']}) AS min_date, max({a['knowledge_date_column']}) "
            f"AS max_date FROM (SELECT * FROM {a['from_obj']}) AS t)" for a in aggregations]
    unions = "\n UNION \n".join(each)
    return (f"SELECT CAST(min(min_date) AS DATE) AS first, CAST(max(max_date) AS DATE) AS last "
            f"FROM ({unions}) AS u")


def fill_temporal(section: dict, native: tuple, written: tuple, origin: Origin, renames: Renames,
                  aggregations: Any, bounds: Bounds | None) -> list[str]:
    """Fill `section` (a raw temporal section, changed in place); the problems found, as shown."""
    problems = _label_timespans(section, native, written, origin, renames)
    wanted = DATES[::2] if section.get("mode") == "production" else DATES
    missing = [k for k in wanted if k not in section]
    if not missing:
        return problems
    where = origin.where(written)
    renames.reported.update((*native, k) for k in missing)
    why = (f"{', '.join(missing)} missing: Triage takes them from the earliest and latest "
           "knowledge_date_column of the feature aggregations' from_objs")
    if not isinstance(aggregations, list) or not aggregations or not all(
            isinstance(a, dict) and "from_obj" in a and "knowledge_date_column" in a for a in aggregations):
        return [*problems, f"{where}: {why}, and there are none to read: give the dates"]
    if bounds is None:
        return [*problems, f"{where}: {why}; prodline reads them while loading when a warehouse is "
                           "named (storage.warehouse_url or $PRODLINE_WAREHOUSE_URL): name it, or "
                           "give the dates"]
    try:
        first, last = bounds(aggregations)
    except NoBounds as err:
        return [*problems, f"{where}: {why}, which could not be read now ({err}): give the dates"]
    filled = {"feature_start_time": first, "label_start_time": first,
              "feature_end_time": last, "label_end_time": last}
    renames.reported.difference_update((*native, k) for k in missing)
    for key in missing:
        section[key] = filled[key]
        renames.move((*native, key), written, origin)
    return problems


def _label_timespans(section: dict, native: tuple, written: tuple, origin: Origin,
                     renames: Renames) -> list[str]:
    if "label_timespans" not in section:
        return []
    if clash := [k for k in TIMESPANS if k in section]:
        return [f"{origin.where((*written, 'label_timespans'))}: give label_timespans or "
                f"{' and '.join(clash)}, not both (label_timespans sets both)"]
    value = section.pop("label_timespans")
    for key in TIMESPANS:
        section[key] = value
        renames.move((*native, key), (*written, "label_timespans"), origin)
    return []


def warehouse_bounds(url: str) -> Bounds:
    """Bounds read from the warehouse at `url`, read-only."""

    def read(aggregations: list[dict]) -> tuple[dt.date, dt.date]:
        from prodline.stores.warehouse import Warehouse  # the stores import the config

        try:
            row = Warehouse(url=url, read_only=True).read(bounds_query(aggregations))[0]
        except Exception as err:  # any failure to read is reported as the reason, never swallowed
            raise NoBounds(f"the warehouse said: {str(err).splitlines()[0][:300]}") from None
        if row["first"] is None:
            raise NoBounds("the from_objs hold no dated rows yet")
        return row["first"], row["last"]

    return read
