"""Data versions in the lineage, on copies of the session's promoted project: a corrected features
partition makes new matrices, new models and a new gate decision through automation while an
unchanged one reuses its matrices; `GET /lineage` says why a person is on a list."""

import datetime as dt
import json
import os

import dagster as dg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from conftest import copy_promoted
from prodline.assets.keys import CHALLENGER, EVALUATIONS, MATRICES, MODELS, feature_key
from prodline.definitions import build_definitions
from prodline.pipeline.champion.records import gate_results
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import model_store_of, warehouse_of
from prodline.runs import run_range
from prodline.serving.app import create_app
from prodline.stores import open_matrix_store

DAY = dt.date(2024, 8, 1)
AUTOMATED = [MATRICES, MODELS, EVALUATIONS, CHALLENGER]


def requested(defs, instance, cursor) -> tuple[dict, object]:
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor,
                                               asset_selection=dg.AssetSelection.assets(*AUTOMATED))
    # the challenger is not partitioned: its one request is the partition None
    return {k: sorted(result.get_requested_partitions(k), key=str) for k in AUTOMATED}, result.cursor


def nothing() -> dict:
    return {k: [] for k in AUTOMATED}


def test_a_corrected_features_partition_makes_new_matrices_a_new_model_and_a_new_gate_decision(
        promoted_project, tmp_path, monkeypatch):
    with copy_promoted(promoted_project, tmp_path, monkeypatch) as (config, instance):
        defs, store = build_definitions(config), open_matrix_store(config)
        splits = make_splits(config.temporal)
        # a date only the newest split reads: the correction concerns it alone
        day = next(d for d in splits[-1].as_of_dates if all(d not in s.as_of_dates for s in splits[:-1]))
        newest, indexes = splits[-1].key, {s.key: store.split_index(s.key) for s in splits}
        old_models = [m["model_id"] for m in warehouse_of(config, literal=True).rows(
            "SELECT model_id FROM results.models WHERE split = :s", s=newest)]
        seen, cursor = requested(defs, instance, None)  # the first look only takes note
        assert seen == nothing()

        # The same rows written again: the same data version, nothing to build again.
        assert run_range(config, instance, "build_as_of", day, day, [feature_key("reg")]).success
        seen, cursor = requested(defs, instance, cursor)
        assert seen == nothing()

        # A correction upstream (ages off by one), the features partition written again.
        warehouse = warehouse_of(config, literal=True)
        before = warehouse.rows("SELECT * FROM features.reg WHERE as_of_date = :d ORDER BY entity_id", d=day)
        with warehouse.engine.begin() as conn:
            conn.execute(sa.text("UPDATE raw.registrations SET age = age + 1"))
        assert run_range(config, instance, "build_as_of", day, day, [feature_key("reg")]).success
        assert warehouse.rows("SELECT * FROM features.reg WHERE as_of_date = :d ORDER BY entity_id",
                              d=day) != before
        seen, cursor = requested(defs, instance, cursor)
        assert seen == {**nothing(), MATRICES: [newest]}  # only the split that reads that date

        built = run_range(config, instance, "train_models", newest, newest, [MATRICES])
        assert built.success
        new = store.split_index(newest)
        assert new["tests"] != indexes[newest]["tests"]  # the corrected date is a test date
        assert new["train"] == indexes[newest]["train"]  # the training matrix did not change: reused
        seen, cursor = requested(defs, instance, cursor)
        assert seen == {**nothing(), MODELS: [newest], EVALUATIONS: [newest]}  # one run: trained, evaluated

        # Built by hand, the other splits reuse every matrix and train nothing again.
        older = splits[0].key
        assert run_range(config, instance, "train_models", older, older, [MATRICES]).success
        assert store.split_index(older) == indexes[older]
        seen, cursor = requested(defs, instance, cursor)
        assert seen == nothing()  # and the newest split's models were asked for once: that is enough
        trained = run_range(config, instance, "train_models", newest, newest, [MODELS, EVALUATIONS])
        assert trained.success
        models = warehouse.rows("SELECT model_id, train_matrix FROM results.models WHERE split = :s",
                                s=newest)
        assert {m["train_matrix"] for m in models} == {new["train"]}
        assert not {m["model_id"] for m in models} & set(old_models)  # new runs, new models
        # new evaluations: the selection rule chooses again, and the gate judges its choice
        seen, cursor = requested(defs, instance, cursor)
        assert seen == {**nothing(), CHALLENGER: [None]}
        judged = defs.resolve_job_def("promote_model").execute_in_process(instance=instance)
        assert judged.success
        challenger = model_store_of(config, literal=True).alias("risk", "challenger")
        assert challenger.run_id in {m["model_id"] for m in models} and str(challenger.version) != "1"
        assert {g["check_name"] for g in gate_results(warehouse, "risk", str(challenger.version))} == {
            "performance", "list_stability", "fairness", "sanity"}


@pytest.fixture(scope="module")
def served(promoted_project, tmp_path_factory):
    """A copy of the promoted project with the list of DAY scored, and the app over it (open):
    (config, the list's rows, the champion, a client)."""
    with pytest.MonkeyPatch.context() as monkeypatch, copy_promoted(
            promoted_project, tmp_path_factory.mktemp("lineage"), monkeypatch) as (config, instance):
        assert run_range(config, instance, "score_cohorts", DAY, DAY).success
        rows = warehouse_of(config, literal=True).rows(
            "SELECT * FROM production.predictions WHERE as_of_date = :d ORDER BY rank", d=DAY)
        store = model_store_of(config, literal=True)
        opened = config.model_copy(update={"serving": config.serving.model_copy(update={"open": True})})
        with TestClient(create_app(opened, environ=os.environ, store=store)) as client:
            yield config, rows, store.alias("risk", "champion"), client


def test_lineage_says_why_a_person_is_on_the_list(served):
    config, rows, champion, client = served
    row = rows[2]
    got = client.get("/lineage", params={"entity": str(row["entity_id"]), "as_of": DAY.isoformat()})
    assert got.status_code == 200, got.text
    why = got.json()
    assert (why["entity_id"], why["as_of_date"], why["rank"]) == (row["entity_id"], "2024-08-01", 3)
    assert why["score"] == pytest.approx(row["score"])
    model = why["model"]
    assert (model["name"], model["version"], model["run_id"]) == ("risk", "1", champion.run_id)
    assert model["model_group_id"] == champion.tags["model_group_id"]
    assert model["split"] == champion.tags["split"]
    split = next(s for s in make_splits(config.temporal) if s.key == model["split"])
    assert model["train_as_of_dates"] == [d.isoformat() for d in split.train.as_of_dates]
    assert why["data_versions"] == json.loads(row["data_versions"])
    assert set(why["data_versions"]) == {"features.cohort", "features.reg", "features.itv", "features.ext"}
    gate = {g["check_name"]: g for g in why["gate"]}
    assert set(gate) == {"performance", "list_stability", "fairness", "sanity"}
    assert all(g["passed"] for g in gate.values()) and gate["performance"]["evidence"]


def test_lineage_of_an_unknown_entity_or_date_is_a_404_saying_what_exists(served):
    _, rows, _, client = served
    missing = client.get("/lineage", params={"entity": "no-such-person", "as_of": DAY.isoformat()})
    assert missing.status_code == 404
    assert missing.json()["detail"] == (f"entity 'no-such-person' is not on the list of 2024-08-01 "
                                        f"({len(rows)} entities are)")
    undated = client.get("/lineage", params={"entity": str(rows[0]["entity_id"]), "as_of": "2024-03-01"})
    assert undated.status_code == 404
    assert undated.json()["detail"] == "no list for 2024-03-01; lists exist for 2024-08-01"


def test_each_row_of_the_page_links_to_its_lineage(served):
    _, rows, _, client = served
    page = client.get("/", params={"as_of": DAY.isoformat()})
    assert page.status_code == 200
    assert f'href="/lineage?entity={rows[0]["entity_id"]}&amp;as_of=2024-08-01"' in page.text
