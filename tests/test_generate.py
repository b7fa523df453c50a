"""The synthetic employment service: deterministic, arrives day by day, learnable but not trivial."""

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from typer.testing import CliRunner

from conftest import START
from prodline.cli import app
from prodline.config import load_config
from prodline.demo.generate import generate, next_window
from prodline.demo.simulate import Scenario, simulate


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.*"))}


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        generate(tmp_path / name, Scenario(start=START, seed=seed, per_day=5.0), START,
                 START + dt.timedelta(days=20))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert len(_digest(tmp_path / "a")) == 3 * 21


def test_adding_the_next_days_matches_generating_them_at_once(tmp_path):
    scenario = Scenario(start=START, per_day=5.0)
    generate(tmp_path / "once", scenario, START, START + dt.timedelta(days=29))
    generate(tmp_path / "steps", scenario, START, START + dt.timedelta(days=19))
    first, last = next_window(tmp_path / "steps", scenario, 10)
    assert (first, last) == (START + dt.timedelta(days=20), START + dt.timedelta(days=29))
    generate(tmp_path / "steps", scenario, first, last)
    assert _digest(tmp_path / "steps") == _digest(tmp_path / "once")


def test_generate_command_adds_next_days_with_parquet(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--days", "3", "--size", "tiny"]).exit_code == 0
    result = runner.invoke(app, ["generate", "--next", "2", "--size", "tiny", "--format", "parquet"])
    assert result.exit_code == 0, result.output
    start = load_config().start_date  # the demo's
    fourth, fifth = (start + dt.timedelta(days=n) for n in (3, 4))
    assert f"{fourth} .. {fifth}" in result.output
    table = pq.read_table(tmp_path / "landing" / "registrations" / f"{fifth}.parquet")
    assert table.num_rows >= 1 and table.column_names[0] == "registration_id"
    bad = runner.invoke(app, ["generate", "--size", "huge"])
    assert bad.exit_code != 0 and "size 'huge'" in bad.output


def _twelve_month_task(tables, year: int):
    """People registered in `year`, still registered 60 days later; label: still so a year on."""
    reg, iv, ex = (tables[n].to_pandas() for n in ("registrations", "interventions", "exits"))
    reg = reg[pd.to_datetime(reg.registered_on).dt.year == year].copy()
    exit_on = pd.to_datetime(reg.registration_id.map(ex.set_index("exit_id").exited_on))
    as_of = pd.to_datetime(reg.registered_on) + pd.Timedelta(days=60)
    keep = exit_on.isna() | (exit_on > as_of)
    reg, exit_on, as_of = reg[keep], exit_on[keep], as_of[keep]
    label = (exit_on.isna() | (exit_on > as_of + pd.Timedelta(days=365))).astype(int)
    seen = iv.merge(reg[["person_id", "registered_on"]], on="person_id")
    days = (pd.to_datetime(seen.happened_on) - pd.to_datetime(seen.registered_on)).dt.days
    counts = seen[(days >= 0) & (days < 60)].groupby(["person_id", "kind"]).size().unstack(
        fill_value=0)
    features = pd.get_dummies(reg[["age", "sex", "education", "region", "prior_occupation",
                                   "receives_benefit"]].fillna("missing"), dtype=float)
    features["over_55"] = (reg.age > 55).astype(float)
    features = features.join(reg[["person_id"]].join(counts, on="person_id")
                             .drop(columns="person_id").fillna(0))
    return features, label


@pytest.fixture(scope="module")
def two_years():
    scenario = Scenario(start=START, per_day=50.0, drift_date=dt.date(2025, 1, 1))
    return simulate(scenario, START, dt.date(2026, 6, 30))


def test_outcome_is_learnable_but_not_trivial(two_years):
    features, label = _twelve_month_task(two_years, 2024)
    assert 0.25 < label.mean() < 0.55
    auc = cross_val_score(LogisticRegression(max_iter=3000), features, label, cv=3,
                          scoring="roc_auc").mean()
    assert 0.70 <= auc <= 0.85, auc


def test_relationships_change_after_the_drift_date(two_years):
    before = _twelve_month_task(two_years, 2024)
    after = _twelve_month_task(two_years, 2025)
    model = LogisticRegression(max_iter=3000).fit(*before)
    coef_before = dict(zip(before[0].columns, model.coef_[0], strict=True))
    refit = LogisticRegression(max_iter=3000).fit(after[0][before[0].columns], after[1])
    coef_after = dict(zip(before[0].columns, refit.coef_[0], strict=True))
    # training stops paying and the north suffers a shock: the coefficients move
    assert coef_after["region_north"] - coef_before["region_north"] > 0.2
    assert abs(coef_after["training"]) < abs(coef_before["training"])
    assert not np.isclose(after[1].mean(), before[1].mean(), atol=0.02)


def test_a_temporary_programme_places_the_long_term_unemployed_and_then_stops():
    window = (dt.date(2024, 7, 1), dt.date(2024, 10, 1))
    plain = simulate(Scenario(start=START, per_day=20.0), START, dt.date(2025, 3, 31))
    shocked = simulate(Scenario(start=START, per_day=20.0, programme=window), START, dt.date(2025, 3, 31))
    def first_spells(tables):
        reg = tables["registrations"].to_pandas()
        return reg[reg.registration_id % 10 == 0].reset_index(drop=True)

    # The same people register (placed people may come back later, so second spells differ).
    pd.testing.assert_frame_equal(first_spells(plain), first_spells(shocked))

    def exits(tables, first, last):
        ex = tables["exits"].to_pandas()
        ex = ex.merge(tables["registrations"].to_pandas()[["registration_id", "registered_on"]],
                      left_on="exit_id", right_on="registration_id")
        days = (pd.to_datetime(ex.exited_on) - pd.to_datetime(ex.registered_on)).dt.days
        when = pd.to_datetime(ex.exited_on)
        inside = (when >= pd.Timestamp(first)) & (when < pd.Timestamp(last))
        return ex[inside], days[inside]

    before_plain, _ = exits(plain, START, window[0])
    before_shocked, _ = exits(shocked, START, window[0])
    assert before_plain.equals(before_shocked)  # nothing changes before it starts
    _, long_plain = exits(plain, *window)
    _, long_shocked = exits(shocked, *window)
    # Exits of people unemployed 180 days or more at least triple while it runs ...
    assert (long_shocked >= 180).sum() > 3 * (long_plain >= 180).sum()
    assert ((long_shocked < 180).sum() - (long_plain < 180).sum()) / (long_plain < 180).sum() < 0.05
    # ... and fall back once it ends (fewer are left to place, so not above the plain rate).
    after = (window[1], dt.date(2025, 1, 1))
    _, long_after_plain = exits(plain, *after)
    _, long_after = exits(shocked, *after)
    assert (long_after >= 180).sum() <= (long_after_plain >= 180).sum()
