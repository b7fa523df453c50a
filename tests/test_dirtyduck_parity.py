"""Triage's dirtyduck tutorial end to end, against Triage 6.0.0 itself: the tutorial's
dirty-duckling.yaml (its grid's models given one seed each, which Triage honours) imported with
`prodline import-triage`, run through Dagster on PostgreSQL, and Triage's own experiment on a copy of
the same generated database give the same splits, the same matrix rows, columns and labels, and the
same evaluation figures."""

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from conftest import postgres_database
from examples.dirtyduck.database import build_database
from prodline.config import load_config
from prodline.importing import import_triage
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import warehouse_of
from prodline.runs import load_range, run_range
from prodline.stores import matrix_store_settings
from prodline.stores.matrix_store import MatrixStore

pytestmark = pytest.mark.postgres

DUCKLING = Path(__file__).parent / "data" / "triage" / "dirtyduck" / "dirty-duckling.yaml"
SEED = 20231  # one seed per model, given in the grid: Triage uses it instead of drawing its own
QUICKSTART = ("triage.component.catwalk.estimators.classifiers.ScaledLogisticRegression",
              "sklearn.tree.DecisionTreeClassifier", "sklearn.dummy.DummyClassifier")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    config = yaml.safe_load(DUCKLING.read_text())
    config["grid_config"] = {path: {"random_state": [SEED]} for path in QUICKSTART}
    path = tmp_path_factory.mktemp("duckling") / "dirty-duckling.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def databases():
    """The same generated inspections in two databases: prodline's and Triage's."""
    with postgres_database("duck_prodline") as ours, postgres_database("duck_triage") as theirs:
        build_database(ours, "small")
        build_database(theirs, "small")
        yield ours, theirs


def by_model(rows: list[dict], field: str) -> dict[tuple, float]:
    return {(r["class_path"], r["matrix_type"], r["metric"], r["parameter"]): r[field] for r in rows}


def test_the_duckling_gives_triages_answers(seeded, databases, triage, production_instance, tmp_path,
                                            monkeypatch):
    ours, theirs = databases
    report = triage("experiment.py", {"db_url": theirs, "config_path": str(seeded),
                                      "project_path": str(tmp_path / "triage")}, seconds=300)

    imported = import_triage(seeded, out=tmp_path / "project", db=ours)
    assert imported.ok, imported.problems
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    config = load_config(imported.folder / "prodline.yaml")
    instance, _ = production_instance

    # The same splits: Triage's temporal defaults, read from the data by both.
    (split,) = make_splits(config.temporal)
    (theirs_split,) = report["splits"]
    train_days, test_days = list(split.train.as_of_dates), list(split.tests[0].as_of_dates)
    train_dates, test_dates = [str(d) for d in train_days], [str(d) for d in test_days]
    assert train_dates == theirs_split["train_matrix"]["as_of_times"]
    assert test_dates == theirs_split["test_matrices"][0]["as_of_times"]

    # Through Dagster: the team's table observed, the as-of layer on the split's dates, the split.
    last = dt.date.fromisoformat(report["temporal_config"]["label_end_time"])
    assert load_range(config, instance, config.start_date, last).success
    for day in (*train_days, *test_days):
        assert run_range(config, instance, "build_as_of", day, day).success
    assert run_range(config, instance, "train_models", split.key, split.key).success

    # The same matrices: rows, columns, labels and values.
    store = MatrixStore(**matrix_store_settings(config))
    index = store.split_index(split.key)
    ours_matrices = {"train": store.matrix(index["train"]), "test": store.matrix(index["tests"][0])}
    for theirs_matrix in report["matrices"]:
        matrix = ours_matrices[theirs_matrix["matrix_type"]]
        dates = [str(d) for d in matrix.keys.column("as_of_date").to_pylist()]
        rows = sorted(zip(matrix.entities.tolist(), dates, strict=True))
        assert rows == sorted((e, d) for e, d in theirs_matrix["index"])
        assert matrix.features == theirs_matrix["columns"]
        assert int(matrix.y.sum()) == theirs_matrix["positives"]
        sums = dict(zip(matrix.features, matrix.X.sum(axis=0).tolist(), strict=True))
        assert sums == pytest.approx(theirs_matrix["column_sums"], abs=1e-9)

    # The same evaluation figures for the same seeded models.
    engine = sa.create_engine(warehouse_of(config, literal=True).url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT m.class_path, e.matrix_type, e.metric, e.parameter, e.value, e.best_value, e.worst_value "
            "FROM results.evaluations e "
            "JOIN results.models m USING (model_id) WHERE NOT m.baseline"))]
    engine.dispose()
    evaluated = [{**e, "class_path": e["model_type"]} for e in report["evaluations"]]
    assert len(evaluated) == 6 and by_model(rows, "value").keys() == by_model(evaluated, "value").keys()
    for field in ("best_value", "worst_value"):  # the orders of tied scores that help and hurt most
        assert by_model(rows, field) == pytest.approx(by_model(evaluated, field), abs=1e-12)
    # `value`: prodline's is the exact mean over every order of the tied scores; Triage's the mean of
    # 30 random orders (docs/triage.md), within its sampling error (the spread is at most best - worst).
    best, worst, ours_mean = (by_model(rows, f) for f in ("best_value", "worst_value", "value"))
    for key, theirs_mean in by_model(evaluated, "value").items():
        assert worst[key] <= ours_mean[key] <= best[key]
        assert abs(ours_mean[key] - theirs_mean) <= 4 * (best[key] - worst[key]) / 2 / 30 ** 0.5 + 1e-12
