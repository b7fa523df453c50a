"""Differential test: prodline's splits against Triage 6.0.0's own timechop, run in Triage's
virtual environment (`make triage`), on 320 random temporal configs. Where both accept a config the
splits and their as-of dates are identical; where one refuses, so does the other, except for the
interval spellings prodline refuses on purpose (`3m`: Triage reads minutes, where a team means
months)."""

import datetime as dt
import random

import pytest
from pydantic import ValidationError

from conftest import as_triage, timechop_normal
from prodline.config.temporal import TemporalConfig
from prodline.pipeline.matrices.splits import SplitError, make_splits

CONFIGS = 320
SEED = 20261203
# Spellings both read alike, by unit; a step is never zero (Triage can loop for ever on one).
SPELLINGS = {"days": ("{n} days", "{n} day", "{n}days", "{n}d"), "weeks": ("{n} weeks", "{n}w"),
             "months": ("{n} months", "{n} month", "{n}months"), "years": ("{n} year", "{n}y")}
STEPS = {"days": (1, 7, 10, 15, 30), "weeks": (1, 2), "months": (1, 2, 3, 6), "years": (1,)}
UPDATES = ("3 months", "6 months", "1 year", "4 months", "1y", "2 months")
MINUTES = "{n}m"  # prodline refuses it: ambiguous (Triage reads minutes)
LIST_KEYS = ("training_as_of_date_frequencies", "max_training_histories", "training_label_timespans",
             "test_as_of_date_frequencies", "test_durations", "test_label_timespans")


def interval(rng: random.Random, zero: bool = False, short: bool = False) -> str:
    if zero and rng.random() < 0.2:
        return "0 days"
    if rng.random() < 0.01:
        return MINUTES.format(n=rng.choice((1, 3, 6)))
    unit = rng.choice(("days", "weeks", "months") if short else tuple(STEPS))
    n = rng.choice(STEPS[unit])
    return rng.choice(SPELLINGS[unit]).format(n=n).replace("1 days", "1 day")


def listed(rng: random.Random, zero: bool = False, short: bool = False):
    values = [interval(rng, zero, short) for _ in range(rng.choice((1, 1, 1, 2)))]
    return values[0] if len(values) == 1 and rng.random() < 0.5 else values


def random_config(rng: random.Random) -> dict:
    """Dates from 2008 to 2020, sometimes out of order, and intervals of every unit; sized so that
    neither side computes more than a few thousand as-of dates."""
    feature_start = dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(0, 5 * 365))
    feature_end = feature_start + dt.timedelta(days=rng.randrange(-60, 6 * 365))
    label_start = feature_start + dt.timedelta(days=rng.randrange(-200, 3 * 365))
    label_end = feature_end - dt.timedelta(days=rng.choice((0, 0, 0, 31, 92)))
    return {
        "feature_start_time": feature_start.isoformat(), "feature_end_time": feature_end.isoformat(),
        "label_start_time": label_start.isoformat(), "label_end_time": label_end.isoformat(),
        "model_update_frequency": rng.choice(UPDATES),
        "training_as_of_date_frequencies": listed(rng, short=True),
        "max_training_histories": listed(rng, zero=True),
        "training_label_timespans": listed(rng),
        "test_as_of_date_frequencies": listed(rng, short=True),
        "test_durations": listed(rng, zero=True),
        "test_label_timespans": listed(rng),
    }


def prodline_answer(config: dict) -> dict:
    try:
        splits = make_splits(TemporalConfig.model_validate(config))
    except (SplitError, ValidationError) as err:
        return {"error": str(err)}
    return {"chops": [as_triage(s) for s in splits]}


def spelled_on_purpose(config: dict) -> bool:
    """The config uses an interval spelling prodline refuses on purpose."""
    values = [config["model_update_frequency"]]
    values += [v for k in LIST_KEYS for v in (config[k] if isinstance(config[k], list) else [config[k]])]
    return any(v.endswith("m") and v[:-1].isdigit() for v in values)


@pytest.fixture(scope="module")
def answers(triage):
    rng = random.Random(SEED)
    configs = [random_config(rng) for _ in range(CONFIGS)]
    return list(zip(configs, triage("chop.py", configs), map(prodline_answer, configs), strict=True))


def test_every_config_gets_the_same_answer_as_triage(answers):
    differ = []
    for config, theirs, ours in answers:
        if spelled_on_purpose(config):
            continue
        if ("error" in theirs) != ("error" in ours):
            differ.append(f"{config}: Triage {theirs.get('error', 'accepts')}; prodline "
                          f"{ours.get('error', 'accepts')}")
        elif "chops" in theirs and timechop_normal(theirs["chops"]) != ours["chops"]:
            differ.append(f"{config}: different splits")
    assert not differ, f"{len(differ)} of {len(answers)} differ:\n" + "\n".join(differ[:5])


def test_the_sample_reaches_both_answers_and_many_splits(answers):
    """The comparison means something: many configs make splits, some are refused by both."""
    accepted = [ours for _, theirs, ours in answers if "chops" in theirs and "chops" in ours]
    refused = [theirs for _, theirs, ours in answers if "error" in theirs and "error" in ours]
    assert len(answers) >= 300
    assert len(accepted) >= 100 and sum(len(a["chops"]) for a in accepted) >= 1000
    assert len(refused) >= 20


def test_intervals_refused_on_purpose_are_named(answers):
    """`3m` is minutes to Triage (it accepts or refuses on other grounds); prodline names it."""
    chosen = [(config, ours) for config, _, ours in answers if spelled_on_purpose(config)]
    assert chosen
    for _config, ours in chosen:
        assert "is ambiguous (minutes or months?)" in ours["error"]
