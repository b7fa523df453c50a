"""Scoring on request, as plain functions: rows of features checked by name, the fast paths that
must score exactly as `predict_proba`, and where a score falls among a list's."""

import subprocess
import sys
import time

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from conftest import GOOD_SOURCE, problems_of
from prodline.pipeline.models import pictures
from prodline.pipeline.predictions import on_request as scoring
from prodline.pipeline.predictions import ranking
from prodline.resources.stores import WarehouseResource

FEATURES = ["a", "b", "c"]


def test_feature_rows_are_put_in_the_models_order():
    X, problems = scoring.feature_rows([{"c": 3, "a": 1, "b": 2}, {"b": 5.5, "c": 6, "a": 4}], FEATURES)
    assert not problems
    assert X.tolist() == [[1, 2, 3], [4, 5.5, 6]]


def test_feature_rows_name_every_missing_and_unknown_feature():
    _, problems = scoring.feature_rows([{"a": 1, "b": 2, "c": 3}, {"a": 1, "shoe": 2}], FEATURES)
    assert [(p.loc, p.kind) for p in problems] == [
        ((1, "b"), "missing"),
        ((1, "c"), "missing"),
        ((1, "shoe"), "extra_forbidden"),
    ]
    assert "the model has no feature 'shoe'" in problems[-1].msg


def test_no_rows_is_an_empty_matrix():
    X, problems = scoring.feature_rows([], FEATURES)
    assert X.shape == (0, 3) and not problems


def test_percentiles_agree_with_the_lists_percentiles():
    rng = np.random.default_rng(3)
    scores = rng.random(200)
    listed = ranking.percentile(ranking.rank(scores, np.arange(200)))
    assert scoring.percentiles(np.sort(scores), scores) == pytest.approx(listed)
    assert scoring.percentiles(np.sort(scores), np.array([-1.0, 2.0])).tolist() == [0.0, 100.0]
    assert np.isnan(scoring.percentiles(np.empty(0), np.array([0.5]))).all()


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0),
        ExtraTreesClassifier(n_estimators=10, random_state=0),
        LogisticRegression(),
        HistGradientBoostingClassifier(max_iter=20),
        DecisionTreeClassifier(max_depth=3),
    ],
    ids=lambda m: type(m).__name__,
)
def test_the_fast_path_scores_exactly_as_predict_proba(model):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 6))
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    model.fit(X, y)
    fast = scoring.predictor(model)
    assert np.array_equal(fast(X), model.predict_proba(X)[:, 1])
    assert np.array_equal(fast(X[:1]), model.predict_proba(X[:1])[:, 1])


def test_history_svg_names_every_series_and_split():
    svg = pictures.history_svg(
        {"forest": [("2024-01-01", 0.5), ("2024-07-01", 0.6)], "best baseline": [("2024-01-01", 0.4)]},
        "precision@5_pct",
        "precision@5_pct",
    )
    text = svg.decode()
    assert text.startswith("<?xml") and "forest" in text and "best baseline" in text and "2024-07-01" in text


def test_the_serving_section_needs_a_champion(tmp_path):
    problems = problems_of(
        tmp_path, "name: p\nstart_date: 2024-01-01\n" + GOOD_SOURCE + "serving: {max_batch: 10}\n"
    )
    assert problems == ["serving (line 11): needs the promotion section (a champion to serve)"]


def test_the_attributes_query_must_use_the_as_of_date(tmp_path):
    problems = problems_of(
        tmp_path,
        "name: p\nstart_date: 2024-01-01\n"
        + GOOD_SOURCE
        + """
serving:
  attributes:
    query: SELECT thing_id AS entity_id FROM raw.things
""",
    )
    assert problems == ["serving.attributes.query (line 14): the SQL must use {as_of_date}"]


def test_the_serving_section_refuses_an_unknown_key(tmp_path):
    problems = problems_of(
        tmp_path, "name: p\nstart_date: 2024-01-01\n" + GOOD_SOURCE + "serving:\n  max_bach: 5\n"
    )
    assert any(p.startswith("serving.max_bach") and "unknown key" in p for p in problems)


def test_duckdb_connections_wait_for_another_process_to_let_go(tmp_path):
    path = tmp_path / "w.duckdb"
    writer = WarehouseResource(url=f"duckdb:///{path}")
    writer.ensure_layers()
    hold = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
        "time.sleep(float(sys.argv[2]))"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(path), "1.0"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    began = time.monotonic()
    reader = WarehouseResource(url=f"duckdb:///{path}", read_only=True, lock_wait_seconds=20)
    assert reader.scalar("SELECT 42") == 42
    assert time.monotonic() - began > 0.3  # it waited for the holder
    holder.wait(timeout=30)
    impatient = WarehouseResource(url=f"duckdb:///{path}", read_only=True, lock_wait_seconds=0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(path), "3.0"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(sa.exc.OperationalError, match="Conflicting lock"):
        impatient.scalar("SELECT 1")
    holder.kill()
    holder.wait(timeout=30)
    with pytest.raises(sa.exc.DBAPIError, match="read-only mode"):
        WarehouseResource(url=f"duckdb:///{path}", read_only=True).scalar("CREATE TABLE x (a INT)")
