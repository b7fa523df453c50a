"""Triage's dirtyduck tutorial end to end, against Triage 6.0.0 itself. A tutorial config (its grid's
models given one seed each, which Triage honours) is imported with `prodline import-triage --db
--audition` and run through Dagster on PostgreSQL; Triage's own experiment runs on a copy of the same
generated database. Both give the same splits, the same matrix rows, columns, labels and values, and
the same evaluation figures; then the tutorial's own Audition config chooses a model group and the
gate judges it."""

import math
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import yaml

from conftest import postgres_database
from examples.dirtyduck.database import build_database
from prodline.config import load_config
from prodline.definitions import build_definitions
from prodline.importing import import_triage
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import model_store_of, warehouse_of
from prodline.runs import load_range, run_range
from prodline.stores import matrix_store_settings
from prodline.stores.matrix_store import MatrixStore

pytestmark = [pytest.mark.postgres, pytest.mark.end_to_end]

DUCKLING = Path(__file__).parent / "data" / "triage" / "dirtyduck" / "dirty-duckling.yaml"
FAILED = DUCKLING.parent / "inspections_label_failed_01.yaml"
AUDITION = DUCKLING.parent / "audition" / "inspection_audition_config.yaml"
SEED = 20231  # one seed per model, given in the grid: Triage uses it instead of drawing its own
QUICKSTART = ("triage.component.catwalk.estimators.classifiers.ScaledLogisticRegression",
              "sklearn.tree.DecisionTreeClassifier", "sklearn.dummy.DummyClassifier")


def seeded_duckling(folder: Path) -> Path:
    config = yaml.safe_load(DUCKLING.read_text())
    config["grid_config"] = {path: {"random_state": [SEED]} for path in QUICKSTART}
    path = folder / "dirty-duckling.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def shrunk_failed_inspections(folder: Path) -> Path:
    """inspections_label_failed_01.yaml as a test can run it twice: its cohort, label, features
    (4 aggregations, 5 intervals), feature groups and temporal rules as written, but features from
    2014 and splits from 2017 only, a forest and extra trees of 10 trees (not 18 of 10,000 each),
    and the metrics the tutorial's Audition config reads."""
    config = yaml.safe_load(FAILED.read_text())
    # Features from 2014, where the generated inspections start (not 2010): half the days to observe.
    config["temporal_config"]["feature_start_time"] = "2014-01-01"
    config["temporal_config"]["label_start_time"] = "2016-12-01"
    trees = {"n_estimators": [10], "criterion": ["gini"], "max_depth": [5], "max_features": ["sqrt"],
             "min_samples_split": [10], "n_jobs": [1], "random_state": [SEED]}
    config["grid_config"] = {"sklearn.ensemble.RandomForestClassifier": trees,
                             "sklearn.ensemble.ExtraTreesClassifier": trees}
    config["scoring"] = {"testing_metric_groups": [{"metrics": ["precision@", "recall@"],
                                                    "thresholds": {"percentiles": [10]}}],
                         "training_metric_groups": [{"metrics": ["precision@"],
                                                     "thresholds": {"percentiles": [10]}}]}
    path = folder / "inspections_label_failed_01.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def databases(request):
    """The same generated inspections (of the size the test's parameter names) in two databases:
    prodline's and Triage's."""
    with postgres_database("duck_prodline") as ours, postgres_database("duck_triage") as theirs:
        build_database(ours, request.param)
        build_database(theirs, request.param)
        yield ours, theirs


def by_model(rows: list[dict], field: str) -> dict[tuple, float]:
    return {(r["class_path"], r["split"], r["matrix_type"], r["metric"], r["parameter"]): r[field]
            for r in rows}


def run_both(experiment: Path, databases, triage, instance, tmp_path, monkeypatch):
    """Triage's experiment on its database; the import, and prodline through Dagster on the other.
    (the project's config, Triage's report)"""
    ours, theirs = databases
    report = triage("experiment.py", {"db_url": theirs, "config_path": str(experiment),
                                      "project_path": str(tmp_path / "triage")}, seconds=600)
    imported = import_triage(experiment, out=tmp_path / "project", db=ours, audition=AUDITION)
    assert imported.ok, imported.problems
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    config = load_config(imported.folder / "prodline.yaml")
    splits = make_splits(config.temporal)
    assert load_range(config, instance, config.start_date, config.temporal.label_end_time).success
    for day in sorted({d for s in splits for d in s.as_of_dates}):
        assert run_range(config, instance, "build_as_of", day, day).success
    assert run_range(config, instance, "train_models", splits[0].key, splits[-1].key).success
    return config, report


def assert_same_answers(config, report) -> None:
    """The same splits, matrix rows, columns (in Triage's order), labels and values, and the same
    evaluation figures of the same seeded models."""
    splits = make_splits(config.temporal)
    # The same splits: Triage's temporal rules (its defaults read from the data where left out).
    assert [([str(d) for d in s.train.as_of_dates], [str(d) for d in s.tests[0].as_of_dates])
            for s in splits] == [(t["train_matrix"]["as_of_times"], t["test_matrices"][0]["as_of_times"])
                                 for t in report["splits"]]
    # The same matrices: rows, columns, labels and values.
    store = MatrixStore(**matrix_store_settings(config))
    ours = {}
    for split in splits:
        index = store.split_index(split.key)
        for kind, uuid in (("train", index["train"]), *(("test", u) for u in index["tests"])):
            matrix = store.matrix(uuid)
            dates = [str(d) for d in matrix.keys.column("as_of_date").to_pylist()]
            rows = sorted(zip(matrix.entities.tolist(), dates, strict=True))
            ours[kind, tuple(sorted(set(dates)))] = matrix, rows
    assert len(ours) == len(report["matrices"])
    for theirs in report["matrices"]:
        matrix, rows = ours[theirs["matrix_type"], tuple(theirs["as_of_dates"])]
        assert rows == sorted((e, d) for e, d in theirs["index"])
        labeled = matrix.y[~np.isnan(matrix.y)]  # a test matrix keeps the cohort's unlabeled rows
        assert (len(labeled), int(labeled.sum())) == (theirs["labeled"], theirs["positives"])
        assert matrix.features == theirs["columns"]
        # Triage's matrices are single precision (its loader casts every column to Float32), and it
        # keeps an imputed mean as REAL: 7 digits; prodline keeps double precision.
        sums = dict(zip(matrix.features, matrix.X.sum(axis=0).tolist(), strict=True))
        assert sums == pytest.approx(theirs["column_sums"], rel=1e-6, abs=1e-9)
    # The same evaluation figures for the same seeded models.
    engine = sa.create_engine(warehouse_of(config, literal=True).url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT m.class_path, e.split, e.matrix_type, e.metric, e.parameter, e.value, e.best_value, "
            "e.worst_value FROM results.evaluations e JOIN results.models m USING (model_id) "
            "WHERE NOT m.baseline"))]
    engine.dispose()
    evaluated = [{**e, "class_path": e["model_type"], "split": e["train_end_time"]}
                 for e in report["evaluations"]]
    assert by_model(rows, "value").keys() == by_model(evaluated, "value").keys()
    for field in ("best_value", "worst_value"):  # the orders of tied scores that help and hurt most
        assert by_model(rows, field) == pytest.approx(by_model(evaluated, field), abs=1e-12)
    # `value`: prodline's is the exact mean over every order of the tied scores. Triage's is the worst
    # value where best and worst are within 1% (math.isclose, rel_tol 0.01), else the mean of 30
    # random orders (docs/triage.md), within its sampling error (the spread is at most best - worst).
    # With unlabeled rows in a tie, precision@'s worst order may beat its best: hence min and max.
    best, worst, ours_mean = (by_model(rows, f) for f in ("best_value", "worst_value", "value"))
    for key, theirs_mean in by_model(evaluated, "value").items():
        low, high = sorted((worst[key], best[key]))
        assert low - 1e-12 <= ours_mean[key] <= high + 1e-12
        trials = not math.isclose(worst[key], best[key], rel_tol=0.01)
        bound = 4 * (high - low) / 2 / 30 ** 0.5 if trials else high - low
        assert abs(ours_mean[key] - theirs_mean) <= bound + 1e-12


def gate_verdicts(config, instance) -> dict:
    promoted = build_definitions(config).resolve_job_def("promote_model").execute_in_process(
        instance=instance, raise_on_error=False)
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in promoted.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


@pytest.mark.parametrize("databases", ["small"], indirect=True)
def test_the_duckling_gives_triages_answers(databases, triage, production_instance, tmp_path, monkeypatch):
    instance, _ = production_instance
    config, report = run_both(seeded_duckling(tmp_path), databases, triage, instance, tmp_path, monkeypatch)
    assert len(report["evaluations"]) == 6
    assert_same_answers(config, report)
    # With one feature (the count of past inspections) no model of the grid ranks better than that
    # feature alone, and the gate says so rather than crown a model no better than the baseline.
    beats = gate_verdicts(config, instance)["challenger_beats_champion"]
    assert not beats.passed and "does not beat the best baseline (BestSingleFeature" in beats.description
    assert model_store_of(config, literal=True).alias(config.name, "champion") is None


@pytest.mark.parametrize("databases", ["medium"], indirect=True)
def test_failed_inspections_give_triages_answers_and_a_champion(databases, triage, production_instance,
                                                                 tmp_path, monkeypatch):
    instance, _ = production_instance
    config, report = run_both(shrunk_failed_inspections(tmp_path), databases, triage, instance, tmp_path,
                              monkeypatch)
    assert len(report["splits"]) >= 2 and len(report["matrices"][0]["columns"]) > 100
    assert_same_answers(config, report)
    verdicts = gate_verdicts(config, instance)
    assert all(v.passed for v in verdicts.values()), {k: v.description for k, v in verdicts.items()}
    champion = model_store_of(config, literal=True).alias(config.name, "champion")
    assert champion is not None and str(champion.version) == "1"
    # The champion ranks the newest test date's cohort: every active facility, ranked once.
    newest = make_splits(config.temporal)[-1].tests[0].as_of_dates[-1]
    assert run_range(config, instance, "score_cohorts", newest, newest).success
    engine = sa.create_engine(warehouse_of(config, literal=True).url)
    with engine.connect() as conn:
        listed = conn.execute(sa.text("SELECT count(*), count(DISTINCT entity_id), min(rank) "
                                      "FROM production.predictions")).one()
        cohort = conn.execute(sa.text("SELECT count(*) FROM features.cohort WHERE as_of_date = :d"),
                              {"d": newest}).scalar()
    engine.dispose()
    assert tuple(listed) == (cohort, cohort, 1)
