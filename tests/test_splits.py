"""Temporal splits: the same dates as Triage's timechop on its own cases, the validator, production mode."""

import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from conftest import as_triage, timechop_normal
from prodline.config import ConfigError, Interval, load_config
from prodline.config.temporal import TemporalConfig
from prodline.pipeline.matrices.splits import (
    Split,
    SplitError,
    TestingDates,
    TrainingDates,
    check_label_windows,
    make_splits,
)

CASES = json.loads((Path(__file__).parent / "data" / "timechop_cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", [c for c in CASES if c["chops"]], ids=lambda c: c["name"])
def test_same_splits_as_timechop(case):
    config = TemporalConfig.model_validate(case["config"])
    got = [as_triage(s) for s in make_splits(config)]
    assert got == timechop_normal(case["chops"])


@pytest.mark.parametrize("case", [c for c in CASES if c["error"]], ids=lambda c: c["name"])
def test_refused_like_timechop(case):
    with pytest.raises((SplitError, ValidationError)) as caught:
        make_splits(TemporalConfig.model_validate(case["config"]))
    expected = {"Final test label date cannot be after end of feature time.": "after feature_end_time",
                "No valid train/test split times in temporal config.": "no valid split time",
                "Feature start time after feature end time.": "is after feature_end_time"}[case["error"]]
    assert expected in str(caught.value)


DEMO = {"feature_start_time": "2023-01-01", "feature_end_time": "2026-01-01",
        "label_start_time": "2023-01-01", "label_end_time": "2026-01-01",
        "model_update_frequency": "3 months", "training_as_of_date_frequencies": "1 month",
        "max_training_histories": "1 year", "training_label_timespans": "6 months",
        "test_as_of_date_frequencies": "1 month", "test_durations": "0 days",
        "test_label_timespans": "6 months"}


def test_keys_are_unique_and_name_what_varies():
    histories = {**DEMO, "max_training_histories": ["6 months", "1 year"]}
    splits = make_splits(TemporalConfig.model_validate(histories))
    keys = [s.key for s in splits]
    assert len(set(keys)) == len(keys)
    assert "2025-07-01_h6m" in keys and "2025-07-01_h1y" in keys


def test_production_splits_stay_put_when_data_arrives():
    production = {**DEMO, "mode": "production", "split_anchor": "2023-01-01"}
    before = make_splits(TemporalConfig.model_validate(production))
    after = make_splits(TemporalConfig.model_validate({**production, "label_end_time": "2026-02-01",
                                                       "feature_end_time": "2026-02-01"}))
    assert all(s.time.day == 1 and s.time.month in (1, 4, 7, 10) for s in after)
    assert [s.time for s in after[:len(before)]] == [s.time for s in before]
    research = [s.time for s in make_splits(TemporalConfig.model_validate(
        {**DEMO, "label_end_time": "2026-02-01", "feature_end_time": "2026-02-01"}))]
    assert research[-1] == dt.date(2025, 8, 1)  # research mode re-anchors every split on new data
    assert dt.date(2025, 7, 1) not in research


def test_validator_refuses_test_dates_inside_the_training_label_window():
    span, month = Interval.parse("6 months"), Interval.parse("1 month")
    train = TrainingDates((dt.date(2024, 1, 1), dt.date(2024, 3, 1)), span, month, Interval.parse("1 year"))
    tests = (TestingDates((dt.date(2024, 6, 1),), span, month, Interval.parse("0 days", zero=True)),)
    with pytest.raises(SplitError, match=r"split s1: test as-of date 2024-06-01 is before 2024-09-01 "
                                         r"\(last training date 2024-03-01 \+ 6 months\)"):
        check_label_windows([Split(dt.date(2024, 6, 1), train, tests, "s1")])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("model_update_frequency", "3m", "'3m' is ambiguous (minutes or months?): write '3 months'"),
    ("model_update_frequency", "0 days", "'0 days' is an empty interval"),
    ("training_label_timespans", ["6 months", "6 mins"], "'6 mins' is not an interval"),
    ("test_durations", "all", "'all' is not a length of time here"),
    ("max_training_histories", [], "at least 1 item")])
def test_bad_intervals_are_named(field, value, message):
    with pytest.raises(ValidationError) as caught:
        TemporalConfig.model_validate({**DEMO, field: value})
    assert field in str(caught.value) and message in str(caught.value)


def test_long_and_short_units():
    assert Interval.parse("3months") == Interval.parse("3 months") == "3 months"
    assert Interval.parse("1 years") == Interval.parse("1y") == "1 year"
    assert Interval.parse("1y") == Interval.parse("1 year") and Interval.parse("2w") == "2 weeks"


PROJECT = """
name: p
start_date: 2023-01-01
sources:
  events:
    primary_key: [event_id]
    date_column: seen_on
    columns: {event_id: integer, person_id: integer, seen_on: date}
as_of: {start: 2023-02-01, cadence: monthly}
cohort:
  query: SELECT DISTINCT person_id AS entity_id FROM raw.events WHERE seen_on < {as_of_date}
label:
  timespan: 6 months
  query: SELECT person_id AS entity_id, 1 AS outcome FROM raw.events WHERE seen_on >= {as_of_date}
temporal:
  feature_start_time: 2023-01-01
  feature_end_time: 2025-01-01
  label_start_time: 2023-02-01
  label_end_time: 2025-01-01
  model_update_frequency: 3 months
  training_as_of_date_frequencies: 1 month
  max_training_histories: 1 year
  training_label_timespans: 6 months
  test_as_of_date_frequencies: 1 month
  test_durations: 0 days
  test_label_timespans: 6 months
"""


def write(tmp_path, text: str):
    path = tmp_path / "prodline.yaml"
    path.write_text(text)
    return path


def config_problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def test_project_splits_use_computed_labels_and_as_of_dates(tmp_path):
    assert load_config(write(tmp_path, PROJECT)).temporal.mode == "research"
    wrong_span = PROJECT.replace("test_label_timespans: 6 months", "test_label_timespans: [6 months, 1 year]")
    assert config_problems(tmp_path, wrong_span) == [
        "temporal.test_label_timespans.1 (line 26): '1 year' differs from the label timespan '6 months': "
        "prodline computes labels for one timespan only"]
    weekly = PROJECT.replace("training_as_of_date_frequencies: 1 month",
                             "training_as_of_date_frequencies: 2 weeks")
    assert config_problems(tmp_path, weekly)[0] == (
        "temporal (line 15): split 2023-10-01 uses 4 date(s) that are not as-of dates (monthly from "
        "2023-02-01): 2023-02-04, 2023-02-18, 2023-03-04, ...")
    none = PROJECT.replace("label_end_time: 2025-01-01", "label_end_time: 2023-09-01")
    assert config_problems(tmp_path, none) == [
        "temporal (line 15): no valid split time: the last possible one, 2023-03-01 (label_end_time - "
        "6 months - 0 days), is before the first, 2023-08-01 (start + 6 months)"]


def test_splits_command_prints_the_table_and_draws_the_timeline(tmp_path):
    from typer.testing import CliRunner

    from prodline.cli import app

    png = tmp_path / "out" / "splits.png"
    result = CliRunner().invoke(app, ["splits", "--config", str(write(tmp_path, PROJECT)), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert "4 split(s), research mode, labels over 6 months" in result.output
    row = next(line for line in result.output.splitlines() if line.strip().startswith("2024-01-01"))
    assert row.split() == ["2024-01-01", "2023-02-01", "2023-07-01", "6", "2024-01-01", "2024-01-01", "1"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    bare = PROJECT.split("temporal:")[0]
    result = CliRunner().invoke(app, ["splits", "--config", str(write(tmp_path, bare))])
    assert result.exit_code == 1 and "the config has no temporal section" in result.output


def test_open_ended_production_splits_grow_with_the_labels_and_never_move():
    open_ended = {k: v for k, v in DEMO.items() if not k.endswith("end_time")}
    config = TemporalConfig.model_validate({**open_ended, "mode": "production"})
    with pytest.raises(SplitError, match="the splits follow the data"):
        make_splits(config)
    earlier = make_splits(config.ending(dt.date(2025, 1, 1)))
    later = make_splits(config.ending(dt.date(2025, 5, 1)))
    assert [s.key for s in earlier] == ["2023-07-01", "2023-10-01", "2024-01-01", "2024-04-01", "2024-07-01",
                                        "2024-10-01", "2025-01-01"]
    assert later[:len(earlier)] == earlier and [s.key for s in later[len(earlier):]] == ["2025-04-01"]
    with pytest.raises(ValidationError, match="only production mode follows the data"):
        TemporalConfig.model_validate(open_ended)
    with pytest.raises(ValidationError, match="give both feature_end_time and label_end_time"):
        TemporalConfig.model_validate({**open_ended, "mode": "production", "label_end_time": "2025-01-01"})
