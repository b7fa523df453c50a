"""A synthetic public employment service: registrations, interventions and exits.

Each registration is an unemployment spell whose daily chance of ending depends on the person's
attributes, an unobserved frailty (so no model can be perfect), and the interventions completed so
far (piecewise-constant hazard). After `drift_date`, new spells follow different relationships.
A temporary `programme` (start, end) is a shock of the other kind, the one a retrained model falls
for: while it runs, a job guarantee places the long-term unemployed (open 180 days or more), so for
a while the people most at risk leave soonest; when it ends the old relationships return.
Every registration day draws from its own seeded generator, so any window of days comes out the
same whatever range is asked for: that is what makes "add the next N days" consistent.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

REGIONS = ["north", "centre", "lisbon", "alentejo", "algarve"]
EDUCATION = ["basic", "secondary", "tertiary"]
OCCUPATIONS = ["none", "manufacturing", "construction", "retail", "hospitality", "services",
               "agriculture", "professional"]
KINDS = ["counselling", "job_search_support", "training", "internship"]
OUTCOMES = ["completed", "dropped_out", "no_show"]
EXIT_REASONS = ["employed", "full_time_training", "emigrated", "lost_contact", "other"]
MAX_INTERVENTIONS = 6
HORIZON_DAYS = 4 * 365  # spells still open after this are never closed in the data
BASE_HAZARD = 0.0026  # per day: about 40% of an average spell is still open after a year


@dataclass(frozen=True)
class Effects:
    """Log hazard ratios of leaving unemployment (positive = leaves sooner)."""

    age_per_year: float = -0.035
    over_55: float = -0.6
    education: tuple = (-0.5, 0.0, 0.5)  # basic, secondary, tertiary
    education_missing: float = -0.2
    region: tuple = (0.0, 0.05, 0.2, -0.3, 0.1)
    occupation: tuple = (-0.7, -0.1, 0.1, 0.0, 0.2, 0.05, -0.3, 0.45)
    benefit: float = -0.3
    female: float = -0.05
    frailty_sd: float = 0.4
    # effect after an intervention with outcome 'completed', by kind; dropping out hurts a little
    intervention: tuple = (0.1, 0.3, 0.5, 0.6)
    dropped_out: float = -0.1


# After the drift date: a regional shock, a weaker education gradient, training no longer pays.
DRIFTED = Effects(
    education=(-0.15, 0.0, 0.15),
    region=(-0.45, 0.05, 0.3, -0.3, 0.1),
    occupation=(-0.55, -0.5, 0.1, 0.0, -0.2, 0.05, -0.25, 0.35),
    intervention=(0.1, 0.3, 0.0, 0.6),
)


@dataclass(frozen=True)
class Scenario:
    start: dt.date
    seed: int = 42
    per_day: float = 150.0
    drift_date: dt.date | None = None
    reregister_rate: float = 0.25
    programme: tuple[dt.date, dt.date] | None = None  # [start, end) of a temporary job guarantee


def simulate(
    scenario: Scenario, first: dt.date, last: dt.date, progress: Callable[[int], None] | None = None
) -> dict[str, pa.Table]:
    """All events dated first..last (inclusive), one table per source, sorted by date and id."""
    lo, hi = (first - scenario.start).days, (last - scenario.start).days
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in DATE_COLUMNS}
    for day in range(max(hi + 1, 0)):
        for name, frame in _registration_day(scenario, day).items():
            parts[name].append(frame[frame[DATE_COLUMNS[name]].between(lo, hi)])
        if progress:
            progress(1)
    epoch = (scenario.start - dt.date(1970, 1, 1)).days
    out = {}
    for name, frames in parts.items():
        date_col = DATE_COLUMNS[name]
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.sort_values([date_col, frame.columns[0]])
        table = pa.Table.from_pandas(frame, preserve_index=False)
        days = pc.add(table[date_col].cast(pa.int32()), pa.scalar(epoch, pa.int32()))
        out[name] = table.set_column(table.schema.get_field_index(date_col), date_col,
                                     days.cast(pa.date32()))
    return out


DATE_COLUMNS = {"registrations": "registered_on", "interventions": "happened_on",
                "exits": "exited_on"}


def _registration_day(sc: Scenario, day: int) -> dict[str, pd.DataFrame]:
    """Everyone first registering on start + day, with their whole future (up to one return)."""
    rng = np.random.default_rng([sc.seed, day])
    # The programme draws from its own stream, so every other draw stays what it was without it.
    placing = np.random.default_rng([sc.seed, day, 1])
    date = sc.start + dt.timedelta(days=day)
    weekend = date.weekday() >= 5
    n = max(1, int(rng.poisson(sc.per_day * (0.25 if weekend else 1.15)))) if sc.per_day else 0
    people = _people(rng, n, day)
    first = _spell(rng, sc, people, np.full(n, day), spell=0)
    # Some people who found work come back later: a second spell with the same attributes. Who
    # comes back, and when, follows the spell as it would have ended without the programme (a
    # placement only ends it sooner), so every draw after this one stays the same.
    back = (first["reason"] == 0) & (rng.random(n) < sc.reregister_rate)
    gap = (first["exit_day"] + 30 + rng.exponential(200, n)).astype(int)
    again = {k: v[back] for k, v in people.items()}
    again["age"] = again["age"] + (gap[back] - day) // 365
    second = _spell(rng, sc, again, gap[back], spell=1)
    return _frames([_programme(placing, sc, first), _programme(placing, sc, second)])


def _people(rng: np.random.Generator, n: int, day: int) -> dict[str, np.ndarray]:
    benefit_p = np.array([0.1, 0.65, 0.6, 0.55, 0.5, 0.6, 0.45, 0.7])
    occupation = rng.choice(len(OCCUPATIONS), n, p=[.14, .14, .12, .16, .14, .15, .06, .09])
    return {
        "person_id": day * 100_000 + np.arange(n, dtype=np.int64),
        "age": 18 + (46 * rng.beta(1.6, 2.2, n)).astype(int),
        "female": rng.random(n) < 0.52,
        "education": rng.choice(3, n, p=[.35, .4, .25]),
        "education_missing": rng.random(n) < 0.03,
        "region": rng.choice(len(REGIONS), n, p=[.3, .2, .3, .08, .12]),
        "occupation": occupation,
        "occupation_missing": rng.random(n) < 0.02,
        "benefit": rng.random(n) < benefit_p[occupation],
    }


def _log_hazard_ratio(fx: Effects, p: dict) -> np.ndarray:
    edu = np.where(p["education_missing"], fx.education_missing, np.take(fx.education, p["education"]))
    return (fx.age_per_year * (p["age"] - 40) + fx.over_55 * (p["age"] > 55) + edu
            + np.take(fx.region, p["region"]) + np.take(fx.occupation, p["occupation"])
            + fx.benefit * p["benefit"] + fx.female * p["female"])


def _spell(rng, sc: Scenario, p: dict, reg_day: np.ndarray, spell: int) -> dict[str, np.ndarray]:
    n = len(reg_day)
    drift_day = (sc.drift_date - sc.start).days if sc.drift_date else np.iinfo(np.int64).max
    drifted = reg_day >= drift_day
    fx = Effects()
    log_hr = np.where(drifted, _log_hazard_ratio(DRIFTED, p), _log_hazard_ratio(fx, p))
    log_hr = log_hr + rng.normal(0, fx.frailty_sd, n)

    # Interventions: the young and the less educated get more of them.
    rate = 1.1 * np.where(p["education"] == 0, 1.3, 1.0) * np.where(p["age"] < 30, 1.2, 1.0)
    count = np.minimum(rng.poisson(rate), MAX_INTERVENTIONS)
    offsets = np.sort(10 + rng.exponential(90, (n, MAX_INTERVENTIONS)).astype(int), axis=1)
    present = np.arange(MAX_INTERVENTIONS) < count[:, None]
    kind = rng.choice(len(KINDS), (n, MAX_INTERVENTIONS), p=[.35, .35, .2, .1])
    outcome = rng.choice(len(OUTCOMES), (n, MAX_INTERVENTIONS), p=[.75, .2, .05])
    gain = np.where(drifted[:, None], np.take(DRIFTED.intervention, kind),
                    np.take(fx.intervention, kind))
    effect = np.where(outcome == 0, gain, np.where(outcome == 1, fx.dropped_out, 0.0)) * present

    # Piecewise-constant hazard: segment k starts at the k-th intervention.
    never = 1e9  # a segment boundary that no spell reaches
    starts = np.concatenate([np.zeros((n, 1)), np.where(present, offsets, never)], axis=1)
    ends = np.concatenate([starts[:, 1:], np.full((n, 1), never)], axis=1)
    hazard = BASE_HAZARD * np.exp(log_hr[:, None] + np.cumsum(
        np.concatenate([np.zeros((n, 1)), effect], axis=1), axis=1))
    cumulative = np.cumsum(hazard * (ends - starts), axis=1)
    target = rng.exponential(1.0, n)
    seg = np.argmax(cumulative >= target[:, None], axis=1)
    before = np.where(seg > 0, np.take_along_axis(cumulative, (seg - 1)[:, None], 1)[:, 0], 0.0)
    seg_start = np.take_along_axis(starts, seg[:, None], 1)[:, 0]
    seg_hazard = np.take_along_axis(hazard, seg[:, None], 1)[:, 0]
    duration = np.maximum(1, np.floor(seg_start + (target - before) / seg_hazard)).astype(np.int64)
    closed = duration < HORIZON_DAYS
    reason = rng.choice(len(EXIT_REASONS), n, p=[.72, .07, .05, .08, .08])
    return {
        **p, "reg_day": reg_day, "spell": spell, "exit_day": reg_day + duration, "closed": closed,
        "reason": reason, "iv_day": reg_day[:, None] + offsets,
        "iv_keep": present & (offsets < duration[:, None]), "kind": kind, "outcome": outcome,
    }


PROGRAMME_WAIT = 180  # days unemployed before the programme takes someone
PROGRAMME_MEAN_DAYS = 90  # mean wait for a placement once eligible: 6 in 7 placed within 6 months


def _programme(rng, sc: Scenario, s: dict) -> dict:
    """Spells open long enough while the programme runs may end in a placement (exit 'employed')."""
    n = len(s["reg_day"])
    draws = rng.exponential(PROGRAMME_MEAN_DAYS, n)  # drawn even without a programme: same stream
    if sc.programme is None:
        return s
    begin, end = ((d - sc.start).days for d in sc.programme)
    eligible_from = np.maximum(begin, s["reg_day"] + PROGRAMME_WAIT)
    placed_on = (eligible_from + draws).astype(np.int64)
    placed = (placed_on < end) & (placed_on < s["exit_day"])
    return {**s, "exit_day": np.where(placed, placed_on, s["exit_day"]), "closed": s["closed"] | placed,
            "reason": np.where(placed, 0, s["reason"]),
            "iv_keep": s["iv_keep"] & (s["iv_day"] < np.where(placed, placed_on, s["exit_day"])[:, None])}


def _frames(spells: list[dict]) -> dict[str, pd.DataFrame]:
    regs, ivs, exits = [], [], []
    for s in spells:
        reg_id = s["person_id"] * 10 + s["spell"]
        regs.append(pd.DataFrame({
            "registration_id": reg_id,
            "person_id": s["person_id"],
            "registered_on": (s["reg_day"]),
            "age": s["age"].astype(np.int64),
            "sex": np.where(s["female"], "F", "M"),
            "education": pd.array(np.take(EDUCATION, s["education"]), dtype=object),
            "region": np.take(REGIONS, s["region"]),
            "prior_occupation": pd.array(np.take(OCCUPATIONS, s["occupation"]), dtype=object),
            "receives_benefit": s["benefit"],
        }))
        regs[-1].loc[s["education_missing"], "education"] = None
        regs[-1].loc[s["occupation_missing"], "prior_occupation"] = None
        row, k = np.nonzero(s["iv_keep"])
        ivs.append(pd.DataFrame({
            "intervention_id": reg_id[row] * 10 + k,
            "person_id": s["person_id"][row],
            "happened_on": (s["iv_day"][row, k]),
            "kind": np.take(KINDS, s["kind"][row, k]),
            "outcome": np.take(OUTCOMES, s["outcome"][row, k]),
        }))
        closed = s["closed"]
        exits.append(pd.DataFrame({
            "exit_id": reg_id[closed],
            "person_id": s["person_id"][closed],
            "exited_on": (s["exit_day"][closed]),
            "reason": np.take(EXIT_REASONS, s["reason"][closed]),
        }))
    return {"registrations": pd.concat(regs, ignore_index=True),
            "interventions": pd.concat(ivs, ignore_index=True),
            "exits": pd.concat(exits, ignore_index=True)}


