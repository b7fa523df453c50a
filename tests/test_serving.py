"""`prodline serve` against a real MLflow registry and warehouse: the JSON API, its OpenAPI document
(fuzzed with schemathesis), the web page in headless Chromium, and hot swaps under load."""

import datetime as dt
import json
import logging
import os

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from prodline.definitions import build_definitions
from prodline.demo.run import run_range
from prodline.pipeline.splits import make_splits
from prodline.resources import model_store_of, warehouse_of
from prodline.serving.app import create_app
from prodline.serving.champion import cohort_features
from test_as_of_assets import build, make_project
from test_modeling_assets import GRID, LAST, TEMPORAL
from test_promotion_assets import MONITORING_CFG, PROMOTION, SELECTION

NEWEST, OLDER = dt.date(2024, 8, 1), dt.date(2024, 7, 1)
SERVING = {
    "max_batch": 50,
    "page_size": 10,
    "poll_seconds": 0.2,
    "token_env": "TEST_PRODLINE_TOKEN",
    "attributes": {
        "query": "SELECT person_id AS entity_id, max(region) AS region, max(age) AS age "
        "FROM raw.registrations WHERE registered_on < {as_of_date} GROUP BY person_id",
        "filters": ["region"],
    },
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project trained on every split, its champion promoted and its lists of two dates scored:
    (config, model store, warehouse)."""
    with pytest.MonkeyPatch.context() as monkeypatch, dg.instance_for_test() as instance:
        config = make_project(
            tmp_path_factory.mktemp("serving"),
            monkeypatch,
            temporal=TEMPORAL,
            grid=GRID,
            scoring={"top_n": [10], "percentiles": [10, 50]},
            last=LAST,
            selection=SELECTION,
            promotion=PROMOTION,
            monitoring=MONITORING_CFG,
            serving=SERVING,
        )
        build(config, instance, last=LAST)
        keys = [s.key for s in make_splits(config.temporal)]
        assert run_range(config, instance, "train_models", keys[0], keys[-1]).success
        promoted = (
            build_definitions(config).resolve_job_def("promote_model").execute_in_process(instance=instance)
        )
        assert promoted.success
        assert run_range(config, instance, "score_cohorts", OLDER, NEWEST).success
        yield config, model_store_of(config, literal=True), warehouse_of(config, literal=True), monkeypatch


@pytest.fixture
def client(project):
    config, store, _, _ = project
    with TestClient(create_app(config, environ=os.environ, store=store)) as api:
        yield api


def newest_list(warehouse, day=NEWEST) -> list[dict]:
    return warehouse.rows("SELECT * FROM production.predictions WHERE as_of_date = :d ORDER BY rank", d=day)


def test_health_and_model_describe_the_champion(client, project):
    _, store, warehouse, _ = project
    assert client.get("/health").json() == {"status": "ok", "version": "1", "swap_failure": False}
    model = client.get("/model").json()
    champion = store.alias("risk", "champion")
    assert (model["name"], model["version"], model["run_id"]) == ("risk", "1", champion.run_id)
    assert model["promotion"] == "promotion" and model["promoted_at"] is not None
    assert {g["check_name"] for g in model["gate"]} == {"performance", "list_stability", "fairness", "sanity"}
    assert all(g["passed"] for g in model["gate"])
    assert model["metric"] == "precision@50_pct" and model["metrics"][champion.tags["split"]] > 0
    assert model["as_of_date"] == NEWEST.isoformat() and model["swap_failure"] is None
    assert model["entities"] == len(newest_list(warehouse))


def test_risk_list_is_the_stored_list_with_lineage_and_attributes(client, project):
    _, _, warehouse, _ = project
    stored = newest_list(warehouse)
    got = client.get("/risk-list", params={"k": 5}).json()
    assert got["as_of_date"] == NEWEST.isoformat() and got["total"] == len(stored)
    assert [r["entity_id"] for r in got["rows"]] == [r["entity_id"] for r in stored[:5]]
    first = got["rows"][0]
    assert (first["rank"], first["model_version"], first["features_partition"]) == (1, "1", "2024-08-01")
    assert first["score"] == pytest.approx(stored[0]["score"]) and "region" in first and "age" in first
    page = client.get("/risk-list", params={"k": 5, "offset": 5}).json()
    assert [r["rank"] for r in page["rows"]] == [6, 7, 8, 9, 10]
    older = client.get("/risk-list", params={"as_of": OLDER.isoformat(), "k": 3}).json()
    assert [r["entity_id"] for r in older["rows"]] == [
        r["entity_id"] for r in newest_list(warehouse, OLDER)[:3]
    ]


def test_risk_list_filters_by_an_attribute(client):
    everyone = client.get("/risk-list", params={"k": 10_000}).json()["rows"]
    region = everyone[0]["region"]
    some = client.get("/risk-list", params={"k": 10_000, "region": region}).json()
    assert some["filters"] == {"region": region}
    assert [r["entity_id"] for r in some["rows"]] == [
        r["entity_id"] for r in everyone if r["region"] == region
    ]
    assert 0 < some["total"] < len(everyone)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"regoin": "x"}, 422, "unknown parameter 'regoin': filters are region"),
        ({"k": 0}, 422, "greater than or equal to 1"),
        ({"as_of": "2024-13-01"}, 422, "valid date"),
        ({"as_of": "2024-03-02"}, 404, "no list for 2024-03-02; lists exist for 2024-08-01, 2024-07-01"),
    ],
)
def test_risk_list_refuses_bad_requests_clearly(client, params, status, message):
    response = client.get("/risk-list", params=params)
    assert response.status_code == status
    assert message in json.dumps(response.json())


def test_scoring_entity_ids_matches_the_stored_list(client, project):
    _, _, warehouse, _ = project
    stored = newest_list(warehouse)
    chosen = [stored[0], stored[len(stored) // 2], stored[-1]]
    got = client.post("/score", json={"entity_ids": [r["entity_id"] for r in chosen]}).json()
    assert got["model"]["version"] == "1" and got["as_of_date"] == NEWEST.isoformat()
    for row, answer in zip(chosen, got["scores"], strict=True):
        assert answer["entity_id"] == row["entity_id"]
        assert answer["score"] == pytest.approx(row["score"])
        # Ties share the highest percentile of their group here; the list breaks ties by entity id.
        assert answer["percentile"] >= row["percentile"] - 1e-4  # stored as a 4-byte float
    assert got["scores"][0]["percentile"] == 100.0
    as_text = client.post("/score", json={"entity_ids": [str(chosen[0]["entity_id"])]}).json()
    assert as_text["scores"][0]["score"] == pytest.approx(chosen[0]["score"])


def test_scoring_rows_of_features_matches_scoring_the_entity(client, project):
    config, _, warehouse, _ = project
    features = client.get("/model").json()["features"]
    keys, X, columns = cohort_features(config, warehouse, NEWEST)
    rows = [dict(zip(columns, X[i].tolist(), strict=True)) for i in range(3)]
    got = client.post("/score", json={"rows": [{f: r[f] for f in features} for r in rows]}).json()
    ids = keys.column("entity_id").to_pylist()[:3]
    by_id = client.post("/score", json={"entity_ids": ids}).json()
    assert [s["score"] for s in got["scores"]] == pytest.approx([s["score"] for s in by_id["scores"]])
    assert all(s["entity_id"] is None for s in got["scores"])


def test_score_requests_with_problems_name_the_field(client):
    features = client.get("/model").json()["features"]
    row = dict.fromkeys(features, 1.0)
    cases = [
        (
            {"rows": [{k: v for k, v in row.items() if k != features[0]}]},
            ["body", "rows", 0, features[0]],
            "Field required",
        ),
        ({"rows": [{**row, "shoe_size": 42}]}, ["body", "rows", 0, "shoe_size"], "no feature 'shoe_size'"),
        ({"rows": [row, {**row, features[1]: "high"}]}, ["body", "rows", 1, features[1]], "valid number"),
        ({"rows": [{**row, features[1]: True}]}, ["body", "rows", 0, features[1]], "valid number"),
        ({"rows": [{**row, features[1]: None}]}, ["body", "rows", 0, features[1]], "valid number"),
        ({"entity_ids": ["abc"]}, ["body", "entity_ids", 0], "integers"),
        ({"entity_ids": list(range(51))}, ["body", "entity_ids"], "at most 50 items"),
        ({"entity_ids": [1], "rows": [row]}, ["body"], "give either entity_ids or rows"),
        ({}, ["body"], "give either entity_ids or rows"),
    ]
    for body, loc, message in cases:
        response = client.post("/score", json=body)
        assert response.status_code == 422, body
        [problem] = [d for d in response.json()["detail"] if d["loc"] == loc]
        assert message in problem["msg"], (body, problem)
    # NaN is not JSON, but Python's parser reads it: it is refused like any non-number.
    nan = client.post(
        "/score",
        content=json.dumps({"rows": [{**row, features[2]: float("nan")}]}),
        headers={"content-type": "application/json"},
    )
    assert nan.status_code == 422 and nan.json()["detail"][0]["loc"] == ["body", "rows", 0, features[2]]
    assert nan.json()["detail"][0]["msg"] == "Input should be a finite number"
    assert nan.json()["detail"][0]["input"] == "nan"
    broken = client.post("/score", content=b'{"rows": [', headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid"
    unknown = client.post("/score", json={"entity_ids": [987654321]})
    assert unknown.status_code == 404
    assert unknown.json()["detail"]["unknown"] == [987654321]
    assert "not in the cohort of 2024-08-01" in unknown.json()["detail"]["msg"]


def test_the_openapi_document_lists_the_models_features(client):
    features = client.get("/model").json()["features"]
    document = client.get("/openapi.json").json()
    row = document["components"]["schemas"]["FeatureRow"]
    assert row["required"] == features and set(row["properties"]) == set(features)
    assert row["additionalProperties"] is False
    assert {"/health", "/model", "/risk-list", "/score"} <= set(document["paths"])
    assert "region" in {p["name"] for p in document["paths"]["/risk-list"]["get"]["parameters"]}
    body = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ScoreRequest"}
    assert set(document["components"]["schemas"]["ScoreRequest"]["properties"]) == {"entity_ids", "rows"}


def test_a_token_guards_everything_but_health(project):
    config, store, _, _ = project
    with TestClient(
        create_app(config, environ={**os.environ, "TEST_PRODLINE_TOKEN": "s3cret"}, store=store)
    ) as api:
        assert api.get("/health").status_code == 200
        for path in ("/model", "/risk-list"):
            refused = api.get(path)
            assert refused.status_code == 401 and "bearer token is required" in refused.json()["detail"]
            assert refused.headers["www-authenticate"] == "Bearer"
        assert api.get("/model", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert api.get("/model", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert api.post("/score", json={"entity_ids": [1]}).status_code == 401
        page = api.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert api.post("/login", data={"token": "nope", "next": "/"}).status_code == 401
        signed = api.post("/login", data={"token": "s3cret", "next": "/model-card"}, follow_redirects=False)
        assert signed.status_code == 303 and signed.headers["location"] == "/model-card"
        assert api.get("/model-card").status_code == 200  # the cookie the login set
        document = api.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_hot_swap_loads_a_new_champion_and_keeps_the_old_one_when_a_load_fails(project, caplog):
    config, store, warehouse, _ = project
    app = create_app(config, environ=os.environ, store=store)
    watcher = app.state.prodline.watcher
    champion = store.alias("risk", "champion")
    other = warehouse.rows(
        "SELECT model_id, split FROM results.models WHERE NOT baseline AND split = :s "
        "AND model_id <> :c LIMIT 1",
        s=champion.tags["split"],
        c=champion.run_id,
    )[0]
    version = store.register("risk", other["model_id"], {"split": other["split"], "model_group_id": "other"})
    broken_run = store.client().create_run(store.experiment_id(), run_name="no model").info.run_id
    broken = store.register("risk", broken_run, {"split": other["split"], "model_group_id": "broken"})
    entity = newest_list(warehouse)[0]["entity_id"]
    try:
        with TestClient(app) as api:
            before = api.post("/score", json={"entity_ids": [entity]}).json()["scores"][0]["score"]
            store.set_alias("risk", "champion", version)
            assert watcher.refresh() is True
            after = api.post("/score", json={"entity_ids": [entity]}).json()
            assert after["model"] == {"name": "risk", "version": version, "run_id": other["model_id"]}
            assert after["scores"][0]["score"] != pytest.approx(before)
            store.set_alias("risk", "champion", broken)
            with caplog.at_level(logging.ERROR, logger="prodline.serving"):
                assert watcher.refresh() is False
            model = api.get("/model").json()
            assert model["version"] == version
            assert model["swap_failure"]["version"] == broken and model["swap_failure"]["serving"] == version
            assert f"loading version {broken} failed" in model["swap_failure"]["error"]
            assert f"still serving version {version}" in caplog.text
            assert api.get("/health").json()["swap_failure"] is True
            assert api.post("/score", json={"entity_ids": [entity]}).json()["model"]["version"] == version
            store.set_alias("risk", "champion", "1")
            assert watcher.refresh() is True
            assert api.get("/model").json()["swap_failure"] is None
    finally:
        store.set_alias("risk", "champion", "1")
