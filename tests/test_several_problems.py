"""Two problems of Triage's dirtyduck tutorial in one Dagster deployment on PostgreSQL: failed
inspections and the early-warning label "will it be inspected", each imported from its Triage
config. They share the raw tables, the cohort and the features, which are computed once; each has
its own labels, grid, gate, champion and list."""

import datetime as dt
import os
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from conftest import postgres_database
from examples.dirtyduck.database import build_database
from prodline.assets.keys import LABELS, problem_key
from prodline.config import ConfigError, load_config, load_deployment
from prodline.definitions import build_deployment
from prodline.importing import import_triage
from prodline.pipeline.matrices.splits import make_splits
from prodline.resources import model_store_of
from prodline.runs import load_range, run_range
from prodline.serving.app import create_app

pytestmark = [pytest.mark.postgres, pytest.mark.end_to_end]

DIRTYDUCK = Path(__file__).parent / "data" / "triage" / "dirtyduck"
AUDITION = DIRTYDUCK / "audition" / "inspection_audition_config.yaml"
SEED = 20231


def experiment(folder: Path, name: str, label: dict) -> Path:
    """The duckling (one feature, the quickstart grid seeded) with eis_01's cohort, for `label`."""
    config = yaml.safe_load((DIRTYDUCK / "dirty-duckling.yaml").read_text())
    config["cohort_config"] = yaml.safe_load((DIRTYDUCK / "eis_01.yaml").read_text())["cohort_config"]
    config["label_config"] = label
    tree = {"max_depth": [2], "random_state": [SEED]}
    config["grid_config"] = {"sklearn.tree.DecisionTreeClassifier": tree,
                             "sklearn.dummy.DummyClassifier": {"strategy": ["prior"]}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def deployment(folder: Path, db: str) -> Path:
    failed = yaml.safe_load((DIRTYDUCK / "dirty-duckling.yaml").read_text())["label_config"]
    inspected = yaml.safe_load((DIRTYDUCK / "eis_01.yaml").read_text())["label_config"]
    for name, label in (("failed", failed), ("inspected", inspected)):
        imported = import_triage(experiment(folder, name, label), out=folder / name, db=db, audition=AUDITION)
        assert imported.ok, imported.problems
        project = folder / name / "prodline.yaml"
        config = yaml.safe_load(project.read_text())
        # One town's inspections: test lists of a few hundred labeled facilities, not 1,000.
        config["promotion"].update(model_name=name, sanity={"min_rows": 200})
        project.write_text(yaml.safe_dump(config, sort_keys=False))
    path = folder / "deployment.yaml"
    path.write_text(yaml.safe_dump({"deployment": "dirtyduck", "problems": {
        "failed": "failed/prodline.yaml", "inspected": "inspected/prodline.yaml"}}))
    return path


def materializations(instance, key: dg.AssetKey) -> list[str]:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=10_000).records
    return [r.partition_key for r in records]


def test_two_problems_share_raw_tables_and_features_and_each_has_its_own_champion(
        production_instance, tmp_path, monkeypatch):
    instance, _ = production_instance
    monkeypatch.setenv("PRODLINE_HOME", str(tmp_path / "home"))
    with postgres_database("duck_problems") as db:
        build_database(db, "small")
        problems = load_deployment(deployment(tmp_path, db))
        failed, inspected = problems
        assert (failed.problem, inspected.problem) == ("failed", "inspected")
        assert failed.shared == {"cohort", "inspections"}
        defs = build_deployment(problems)
        keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
        shared = {"raw/entities", "raw/events", "cohort", "features_inspections"}
        own = {"labels", "matrices", "models", "evaluations", "challenger_model", "champion_model",
               "predictions"}
        assert keys == shared | {f"{p}/{k}" for p in ("failed", "inspected") for k in own}
        jobs = {j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}
        assert {"observe_warehouse_tables", "failed_train_models", "inspected_train_models",
                "failed_promote_model", "inspected_score_cohorts"} <= jobs

        # Raw days observed once; the as-of dates of both problems' splits built once; each label its own.
        splits = {p.problem: make_splits(p.temporal) for p in problems}
        dates = sorted({d for s in splits.values() for split in s for d in split.as_of_dates})
        assert load_range(failed, instance, failed.start_date, dates[-1] + dt.timedelta(days=200)).success
        assert run_range(failed, instance, "build_as_of", dates[0], dates[-1]).success
        assert run_range(inspected, instance, "build_as_of", dates[0], dates[-1],
                         [problem_key(inspected, LABELS)]).success
        built = materializations(instance, dg.AssetKey(["features_inspections"]))
        assert built and len(built) == len(set(built))  # every partition once
        for p in problems:
            run = run_range(p, instance, "train_models", splits[p.problem][0].key, splits[p.problem][-1].key)
            assert run.success
            defs.resolve_job_def(f"{p.problem}_promote_model").execute_in_process(
                instance=instance, raise_on_error=False)

        engine = sa.create_engine(db)
        with engine.connect() as conn:
            def count(table: str) -> int:
                return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()

            labels = {p.problem: conn.execute(sa.text(f"SELECT avg({p.label.name}) FROM {p.tables.labels}"))
                      .scalar() for p in problems}
            assert labels["failed"] < labels["inspected"] == 1  # an inspection vs. a failed one
            models = {p: count(f"results.{p}_models") for p in ("failed", "inspected")}
            assert models["failed"] == models["inspected"] > 0
            gates = {p.problem: conn.execute(sa.text(f"SELECT * FROM {p.tables.production('gate_results')}"))
                     .mappings().all() for p in problems}
        assert {p: {r["model_name"] for r in rows} for p, rows in gates.items()} == \
            {"failed": {"failed"}, "inspected": {"inspected"}}
        # Each gate decides for its own problem alone: a champion exactly where no blocking check failed.
        stores = model_store_of(failed, literal=True)
        crowned = {p: stores.alias(p, "champion") is not None for p in gates}
        assert crowned == {p: not any(not r["passed"] and r["severity"] == "ERROR" for r in rows)
                           for p, rows in gates.items()}
        # Failed inspections' challenger beats its best baseline; inspected's does not.
        refused = {p: [(r["check_name"], r["summary"]) for r in rows if not r["passed"]]
                   for p, rows in gates.items()}
        assert crowned == {"failed": True, "inspected": False}, refused
        newest = splits["failed"][-1].tests[0].as_of_dates[-1]
        assert run_range(failed, instance, "score_cohorts", newest, newest).success
        with engine.connect() as conn:
            listed = conn.execute(sa.text("SELECT count(*), min(rank), max(model_name) "
                                          "FROM production.failed_predictions")).one()
            cohort = conn.execute(sa.text("SELECT count(*) FROM features.cohort WHERE as_of_date = :d"),
                                  {"d": newest}).scalar()
            assert tuple(listed) == (cohort, 1, "failed")
            unlisted = conn.execute(sa.text("SELECT to_regclass('production.inspected_predictions')"))
            assert unlisted.scalar() is None
            top = conn.execute(sa.text("SELECT entity_id FROM production.failed_predictions "
                                       "ORDER BY rank LIMIT 5")).scalars().all()
        # Each problem's API serves its own champion and list.
        token = {**os.environ, "PRODLINE_API_TOKEN": "a-token-of-this-test-only"}
        auth = {"Authorization": f"Bearer {token['PRODLINE_API_TOKEN']}"}
        with TestClient(create_app(failed, environ=token)) as api:
            listed = api.get("/risk-list", params={"k": 5}, headers=auth).json()
            assert [r["entity_id"] for r in listed["rows"]] == top
            model = api.get("/model", headers=auth)
            assert model.status_code == 200, model.text
            assert model.json()["name"] == "failed"
        with TestClient(create_app(inspected, environ=token)) as api:
            assert api.get("/model", headers=auth).status_code == 503  # no champion to serve yet
            missing = api.get("/risk-list", headers=auth)
            assert missing.status_code == 404
            assert "production.inspected_predictions is empty" in missing.json()["detail"]
        engine.dispose()
        assert load_config(tmp_path / "deployment.yaml", problem="inspected").tables.labels == \
            "features.inspected_labels"
        with pytest.raises(ConfigError, match=r"this deployment has 2 problems \(failed, inspected\): name"):
            load_config(tmp_path / "deployment.yaml")
