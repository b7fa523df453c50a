"""Stored test scores come back per matrix in row order; the per-model pictures are SVG with their
text kept as text, one curve pair per test matrix."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prodline.pipeline.models.pictures import importances_svg, precision_recall_svg
from prodline.pipeline.models.stored_scores import read_scores, write_scores

SVG = "{http://www.w3.org/2000/svg}"


def test_scores_round_trip_per_matrix_in_row_order(tmp_path):
    rng = np.random.default_rng(3)
    # The second matrix's name sorts first: the order written is the order read.
    predicted = {"ffff0001": rng.random(7), "0000aaaa": rng.random(3), "77770000": np.empty(0)}
    write_scores(tmp_path, "run1", predicted)
    back = read_scores(tmp_path, "run1")
    assert list(back) == list(predicted)  # a matrix without rows too: it is not scored again
    for uuid in back:
        np.testing.assert_array_equal(back[uuid], predicted[uuid])
    assert not list(tmp_path.glob("*.partial"))


def test_missing_scores_are_none(tmp_path):
    assert read_scores(tmp_path, "never-written") is None


def test_scores_written_elsewhere_read_the_same(tmp_path):
    """A plain string column, in several row groups, reads as the dictionary one does."""
    table = pa.table({"matrix": ["b", "b", "a", "b", "a"], "score": [0.1, 0.2, 0.3, 0.4, 0.5]})
    pq.write_table(table, tmp_path / "run2.parquet", row_group_size=2)
    back = read_scores(tmp_path, "run2")
    assert list(back) == ["b", "a"]
    np.testing.assert_array_equal(back["b"], [0.1, 0.2, 0.4])
    np.testing.assert_array_equal(back["a"], [0.3, 0.5])


def texts(svg: bytes) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_precision_recall_picture_has_a_pair_of_curves_per_matrix():
    rng = np.random.default_rng(0)
    labels = (rng.random(500) < 0.3).astype(float)
    labels[:20] = np.nan  # unlabeled rows are left out, not drawn as negatives
    curves = [("as of 2024-01-01", rng.random(500), labels), ("as of 2024-07-01", rng.random(500), labels)]
    svg = precision_recall_svg(curves, "LogisticRegression abc, split 2024-01-01")
    words = texts(svg)
    assert "LogisticRegression abc, split 2024-01-01" in words
    for label, _, _ in curves:
        assert f"precision, {label}" in words and f"recall, {label}" in words
    assert svg == precision_recall_svg(curves, "LogisticRegression abc, split 2024-01-01")  # repeatable


def test_precision_recall_picture_of_no_labeled_rows_still_draws():
    svg = precision_recall_svg([("as of 2024-01-01", np.array([0.5]), np.array([np.nan]))], "empty")
    assert "empty" in texts(svg) and not any(w.startswith("precision,") for w in texts(svg))


def test_importances_picture_shows_the_top_features_by_name():
    values = {f"feature_{i}": 1 / (i + 1) for i in range(30)}
    words = texts(importances_svg(values, "RandomForestClassifier", top=5))
    assert {f"feature_{i}" for i in range(5)} <= set(words)
    assert "feature_5" not in words


UNGUARDED = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from prodline.config import load_config
from prodline.definitions import build_definitions

build_definitions(load_config({config!r}))
with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
    pool.submit(print, "logged").result()
"""


def test_a_script_without_a_main_guard_gets_told_instead_of_hanging(tmp_path):
    """The model-logging process re-imports the main script; building definitions there is refused
    with the fix, so the run fails at once rather than waiting on its parent's pool."""
    config = Path(__file__).parents[1] / "examples" / "unemployment" / "prodline.yaml"
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED.format(config=str(config)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr and "started again" in done.stderr
    guarded = tmp_path / "guarded.py"
    lines = UNGUARDED.format(config=str(config)).strip().splitlines()
    body = ["    " + line for line in lines[4:]]
    guarded.write_text("\n".join([*lines[:4], 'if __name__ == "__main__":', *body]))
    done = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "logged", done.stderr[-2000:]
