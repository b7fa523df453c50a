"""Chicago's food inspections, simulated in the columns of raw.inspections (01_create_inspections_table.sql).

The tutorial's data file (inspections_2014_2017.csv.bz2) is not available here, so each facility
lives a life of its own: it opens (before 2014, or later with a License inspection), is canvassed at
the pace its risk sets, draws complaints at a rate of its own, is re-inspected after a failure, and
may go out of business, which the next inspector finds. Whether an inspection fails depends on what
a model can learn from the past: the facility's type and risk, its own persistent sloppiness (which
shows in its past failures, complaints and violations), whether it failed last time, how long since
the last inspection, the kind of inspection, and the season.

Each facility draws from a generator seeded by (seed, its number), so facility i is the same whatever
the size asked for, and the same seed gives the same rows.
"""

import datetime as dt
import math

import numpy as np
import pandas as pd

from examples.dirtyduck.vocabulary import (
    CANVASS_DAYS,
    CHAINS,
    COMMENTS,
    CRITICAL,
    FACILITY_TYPES,
    INSPECTION_TYPES,
    MINOR,
    NAME_FIRST,
    NAME_SECOND,
    RE_INSPECTION,
    RISK_LOG_ODDS,
    RISKS,
    SERIOUS,
    STREETS,
    VIOLATIONS,
    ZIPS,
)

START, END = dt.date(2014, 1, 1), dt.date(2018, 6, 1)  # inspections dated START <= date < END
DAYS = (END - START).days
SIZES = {"small": 1_000, "medium": 10_000}  # facilities
SEED = 2014
COLUMNS = ["inspection", "dba_name", "aka_name", "license_num", "facility_type", "risk", "address", "city",
           "state", "zip", "date", "type", "results", "violations", "latitude", "longitude", "location"]

# log-odds of failing, by kind of visit (a re-inspection adds RE_INSPECTED)
KIND_LOG_ODDS = {"canvass": 0.0, "license": 0.5, "complaint": 0.45, "short_form": 0.3, "poisoning": 0.8,
                 "task_force": -0.3, "tag_removal": -2.0, "consultation": 0.2, "festival": 0.0}
BASE_LOG_ODDS = -2.0
SLOPPINESS_SD = 0.9  # the facility's own, unobserved: failures, complaints and violations follow it
FAILED_LAST_TIME = 0.7
RE_INSPECTED = -1.3
PER_LOG_HALF_YEAR = 0.4  # log-odds per log(1 + days since the last inspection / 180)
SEASON = 0.15  # summer fails more often
CLOSING_PER_YEAR = 0.09
COMPLAINTS_PER_YEAR = 0.3
CODES_CRITICAL, CODES_SERIOUS, CODES_MINOR = list(CRITICAL), list(SERIOUS), list(MINOR)
_TYPE_NAMES = list(FACILITY_TYPES)
_TYPE_SHARES = np.array([v[0] for v in FACILITY_TYPES.values()]) / sum(v[0] for v in FACILITY_TYPES.values())
_ZIP_CODES = list(ZIPS)


def inspections(size: str = "small", seed: int = SEED) -> pd.DataFrame:
    """Every simulated inspection, in raw.inspections' columns and Chicago's spelling, by date."""
    rows = []
    for i in range(SIZES[size]):
        rng = np.random.default_rng([seed, i])
        facility = _facility(rng, i)
        rows.extend({**facility, **visit, "n": i} for visit in _visits(rng, facility))
    frame = pd.DataFrame(rows).sort_values(["day", "n", "seq"], kind="stable", ignore_index=True)
    # Unique numbers that grow with the date, as the city's do.
    frame["inspection"] = (1_340_000 + 3 * np.arange(len(frame)) + frame["n"] % 3).astype(str)
    frame["date"] = [(START + dt.timedelta(days=int(d))).isoformat() for d in frame["day"]]
    return frame[COLUMNS]


def _facility(rng: np.random.Generator, i: int) -> dict:
    kind = _TYPE_NAMES[rng.choice(len(_TYPE_NAMES), p=_TYPE_SHARES)]
    _, risk_shares, type_log_odds = FACILITY_TYPES[kind]
    risk = rng.choice(3, p=risk_shares)
    zip_code = _ZIP_CODES[rng.integers(len(_ZIP_CODES))]
    lat, lon = (c + rng.normal(0, 0.012) for c in ZIPS[zip_code])
    if rng.random() < 0.25:
        name = f"{CHAINS[rng.integers(len(CHAINS))]} #{rng.integers(1000, 9999)}"
        aka = name.split(" #")[0] if rng.random() < 0.6 else name
    else:
        name = f"{NAME_FIRST[rng.integers(len(NAME_FIRST))]} {NAME_SECOND[rng.integers(len(NAME_SECOND))]}"
        aka = name if rng.random() < 0.9 else f"{name} INC"
    direction, street = STREETS[rng.integers(len(STREETS))]
    # Pre-existing facilities open before the data starts; the others open inside it, with a
    # License inspection. Closing follows sloppiness a little.
    sloppiness = rng.normal(0, SLOPPINESS_SD)
    opened = -int(rng.integers(1, 3650)) if rng.random() < 0.6 else int(rng.integers(0, DAYS))
    closes = max(opened, 0) + int(rng.exponential(365 / (CLOSING_PER_YEAR * math.exp(0.25 * sloppiness))))
    odd = rng.random(4)
    license_num = 10_000 + 97 * i + rng.integers(97)  # unique, and the same whatever the size
    return {
        "dba_name": name,
        "aka_name": None if odd[0] < 0.02 else aka,  # 04 joins on it: a NULL one has no events
        # license 0 is the city's placeholder for special events; a few have none at all
        "license_num": "0" if kind == "Special Event" else None if odd[1] < 0.002 else str(license_num),
        "facility_type": kind,
        "risk": "All" if odd[2] < 0.002 else (None if odd[2] > 0.999 else RISKS[risk]),
        "address": f"{rng.integers(100, 12000)} {direction} {street}" + (" " if odd[3] < 0.5 else ""),
        "city": "CHICAGO",
        "state": "IL",
        "zip": None if odd[3] > 0.995 else zip_code,  # 02 drops inspections without a zip
        "latitude": f"{lat:.14f}",
        "longitude": f"{lon:.14f}",
        "location": f"({lat:.14f}, {lon:.14f})",
        "_log_odds": type_log_odds + RISK_LOG_ODDS[risk] + sloppiness,
        "_sloppiness": sloppiness,
        "_canvass_days": CANVASS_DAYS[risk],
        "_opened": opened,
        "_closes": closes,
        "_bar": kind in ("Liquor", "TAVERN"),
        "_festival": kind == "Special Event",
    }


def _visits(rng: np.random.Generator, f: dict) -> list[dict]:
    """The facility's inspections from its opening (or START) until it closes (or END)."""
    cadence = f["_canvass_days"]
    complaints_every = 365 / (COMPLAINTS_PER_YEAR * math.exp(0.7 * f["_sloppiness"]))
    if f["_opened"] >= 0:  # a new business: a License inspection first, now and then a consultation
        due = {"license": f["_opened"], "canvass": f["_opened"] + _gap(rng, cadence)}
        if rng.random() < 0.03:
            due["consultation"] = max(0, f["_opened"] - int(rng.integers(7, 60)))
        last_day = f["_opened"] - 365
    else:
        due = {"canvass": int(rng.integers(0, cadence))}
        last_day = due["canvass"] - cadence
    due["complaint"] = max(0, f["_opened"]) + int(rng.exponential(complaints_every))
    if f["_bar"]:
        due["task_force"] = max(0, f["_opened"]) + int(rng.exponential(900))
    visits, failed_last = [], False
    while due:
        kind = min(due, key=lambda k: (due[k], k))
        day = _weekday(due.pop(kind))
        if day >= DAYS:
            break
        if kind == "complaint":  # the public calls in several ways
            kind = ("complaint", "short_form", "poisoning")[rng.choice(3, p=[0.7, 0.25, 0.05])]
            due["complaint"] = day + 1 + int(rng.exponential(complaints_every))
        elif kind == "canvass":
            due["canvass"] = day + _gap(rng, cadence)
        elif kind == "task_force":
            due["task_force"] = day + 1 + int(rng.exponential(900))
        is_re = kind.startswith("re:")
        base = kind[3:] if is_re else kind
        if day >= f["_closes"]:  # the inspector finds it closed; nothing more to inspect
            result = ("Out of Business", "Business Not Located", None)[rng.choice(3, p=[0.9, 0.04, 0.06])]
            if result:
                visits.append(_row(base, is_re, day, result, None, len(visits)))
            break
        if kind == "canvass" and f["_festival"] and rng.random() < 0.3:
            base = "festival"
        result, violations = _inspect(rng, f, base, is_re, failed_last, day - last_day, day)
        visits.append(_row(base, is_re, day, result, violations, len(visits)))
        last_day = day
        if result in ("Fail", "Not Ready") and base in RE_INSPECTION:
            due[f"re:{base}"] = day + 7 + int(rng.gamma(2, 5))
        if result == "No Entry":
            due[kind] = day + 14 + int(rng.exponential(14))
        if result == "Fail" and violations and rng.random() < 0.08:
            due.setdefault("tag_removal", day + int(rng.integers(2, 6)))
        failed_last = result == "Fail" if result in ("Pass", "Fail", "Pass w/ Conditions") else failed_last
    return visits


def _inspect(rng, f: dict, kind: str, is_re: bool, failed_last: bool, since: int, day: int):
    """The result of one visit and its violations text."""
    if kind == "license" and not is_re and rng.random() < 0.08:
        return "Not Ready", None
    if rng.random() < 0.025:
        return "No Entry", None
    day_of_year = (START + dt.timedelta(days=day)).timetuple().tm_yday
    season = math.sin(2 * math.pi * (day_of_year - 110) / 365.25)
    log_odds = (BASE_LOG_ODDS + f["_log_odds"] + KIND_LOG_ODDS[kind] + RE_INSPECTED * is_re
                + FAILED_LAST_TIME * failed_last + PER_LOG_HALF_YEAR * math.log1p(max(since, 1) / 180)
                + SEASON * season)
    p_fail = 1 / (1 + math.exp(-log_odds))
    sloppy = max(f["_sloppiness"], 0)  # more minor violations where it is sloppier than most
    if rng.random() < p_fail:
        result, n_serious, n_minor = "Fail", 1 + rng.poisson(0.6), rng.poisson(2.5 + 0.8 * sloppy)
    elif rng.random() < 0.45 / (1 + math.exp(-(log_odds + 1.0))):
        result, n_serious, n_minor = "Pass w/ Conditions", 1 + rng.poisson(0.3), rng.poisson(2.0)
    else:
        result, n_serious, n_minor = "Pass", 0, rng.poisson(1.2 + 0.5 * sloppy)
    return result, _violations(rng, n_serious, n_minor)


def _violations(rng, n_serious: int, n_minor: int) -> str | None:
    """Chicago's text: '32. DESCRIPTION - Comments: NOTE | 34. ...', codes in ascending order."""
    grave = CODES_CRITICAL + CODES_SERIOUS
    codes = set(rng.choice(grave, min(n_serious, len(grave)), replace=False).tolist())
    codes |= set(rng.choice(CODES_MINOR, min(n_minor, len(CODES_MINOR)), replace=False).tolist())
    if not codes:
        return None
    return " | ".join(f"{c}. {VIOLATIONS[c]} - Comments: {COMMENTS[rng.integers(len(COMMENTS))]}"
                      for c in sorted(codes))


def _row(kind: str, is_re: bool | None, day: int, result: str, violations: str | None, seq: int) -> dict:
    spelled = RE_INSPECTION[kind] if is_re else INSPECTION_TYPES[kind]
    return {"day": day, "seq": seq, "type": spelled, "results": result, "violations": violations}


def _gap(rng, cadence: int) -> int:
    return max(14, int(rng.gamma(4, cadence / 4)))


def _weekday(day: int) -> int:
    """Inspectors work Monday to Friday: a weekend visit moves to the Monday."""
    weekday = (START + dt.timedelta(days=day)).weekday()
    return day + (7 - weekday if weekday >= 5 else 0)
