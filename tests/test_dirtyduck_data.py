"""The dirtyduck example's database (examples/dirtyduck): simulated Chicago inspections through the
tutorial's own SQL give semantic.entities and semantic.events with the tutorial's columns, plausible
rates, failures a model can learn from history, the same rows for the same seed; and Triage 6.0.0's
own experiment (triage_side/experiment.py, in Triage's virtual environment) runs the tutorial's
dirty-duckling.yaml on it."""

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import postgres_database
from examples.dirtyduck.database import build_database
from examples.dirtyduck.inspections import COLUMNS, inspections

pytestmark = pytest.mark.postgres

DUCKLING = Path(__file__).parent / "data" / "triage" / "dirtyduck" / "dirty-duckling.yaml"
EVENTS = ["event_id", "entity_id", "type", "date", "risk", "result", "facility_type", "zip_code", "location",
          "violations"]
ENTITIES = ["entity_id", "license_num", "facility", "facility_aka", "facility_type", "address", "zip_code",
            "location", "start_time", "end_time", "activity_period"]


@pytest.fixture(scope="module")
def food_db():
    """A small database built once for the module: (its URL, build_database's figures)."""
    with postgres_database("dirtyduck") as url:
        yield url, build_database(url, "small")


def scalar(url: str, query: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()


def table_checksum(url: str, table: str, key: str) -> str:
    return scalar(url, f"SELECT md5(string_agg(t::text, '|' ORDER BY {key})) FROM {table} AS t")


def test_semantic_tables_have_the_tutorials_columns(food_db):
    url, _ = food_db
    for table, columns in (("events", EVENTS), ("entities", ENTITIES)):
        found = scalar(url, "SELECT array_agg(column_name::text ORDER BY ordinal_position) "
                            "FROM information_schema.columns "
                            f"WHERE table_schema = 'semantic' AND table_name = '{table}'")
        assert found == columns


def test_rows_and_rates_are_plausible(food_db):
    url, figures = food_db
    rows = figures["rows"]
    assert 900 <= rows["semantic.entities"] <= 1000  # 1,000 facilities, a few never inspected in time
    assert 4_000 <= rows["semantic.events"] <= 9_000
    # 02 drops no-zip rows and types it cannot name; 04 keeps pass, fail and pass w/ conditions only
    assert rows["raw.inspections"] > rows["cleaned.inspections"] > rows["semantic.events"]
    assert scalar(url, "SELECT array_agg(DISTINCT result ORDER BY result) FROM semantic.events") == [
        "fail", "pass", "pass w/ conditions"]
    assert set(scalar(url, "SELECT array_agg(DISTINCT type) FROM semantic.events")) <= {
        "canvass", "complaint", "license", "tag removal", "food poisoning", "task force", "consultation"}
    assert 0.18 <= scalar(url, "SELECT avg((result = 'fail')::int)::float FROM semantic.events") <= 0.32
    closed = scalar(url, "SELECT avg((end_time IS NOT NULL)::int)::float FROM semantic.entities")
    assert 0.1 <= closed <= 0.4  # out of business or not located
    assert scalar(url, "SELECT min(date) >= '2014-01-01' AND max(date) < '2018-06-01' FROM semantic.events")
    assert scalar(url, "SELECT count(*) FROM semantic.events LEFT JOIN semantic.entities USING (entity_id) "
                       "WHERE start_time IS NULL") == 0


def test_failure_depends_on_history(food_db):
    url, _ = food_db
    by_past = """
        SELECT avg((e.result = 'fail')::int)::float FROM semantic.events AS e
        WHERE {0} EXISTS (SELECT 1 FROM semantic.events AS p
                          WHERE p.entity_id = e.entity_id AND p.date < e.date AND p.result = 'fail')
          AND EXISTS (SELECT 1 FROM semantic.events AS p
                      WHERE p.entity_id = e.entity_id AND p.date < e.date)"""
    assert scalar(url, by_past.format("")) > scalar(url, by_past.format("NOT")) + 0.05
    by_risk = "SELECT avg((result = 'fail')::int)::float FROM semantic.events WHERE risk = '{0}'"
    assert scalar(url, by_risk.format("high")) > scalar(url, by_risk.format("low")) + 0.02
    by_type = "SELECT avg((result = 'fail')::int)::float FROM semantic.events WHERE facility_type = '{0}'"
    assert scalar(url, by_type.format("restaurant")) > scalar(url, by_type.format("school")) + 0.05


def test_the_same_seed_gives_the_same_rows(food_db):
    frame = inspections("small", 7)
    assert list(frame.columns) == COLUMNS
    digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    assert digest == hashlib.sha256(inspections("small", 7).to_csv(index=False).encode()).hexdigest()
    assert digest != hashlib.sha256(inspections("small", 8).to_csv(index=False).encode()).hexdigest()
    # and through the SQL: entity_id is numbered the same way in a second database
    url, _ = food_db
    with postgres_database("dirtyduck") as again:
        build_database(again, "small")
        for table, key in (("semantic.entities", "entity_id"), ("semantic.events", "event_id")):
            assert table_checksum(again, table, key) == table_checksum(url, table, key)


def test_triages_own_experiment_runs_dirty_duckling(food_db, triage, tmp_path):
    url, _ = food_db
    report = triage("experiment.py", {"db_url": url, "config_path": str(DUCKLING),
                                      "project_path": str(tmp_path / "triage")}, seconds=300)
    # No temporal_config beyond label_timespans: Triage's defaults give one split ending at the data's end.
    (split,) = report["splits"]
    last = scalar(url, "SELECT max(date)::text FROM semantic.events")
    assert report["temporal_config"]["label_end_time"] == last
    (train_as_of,) = split["train_matrix"]["as_of_times"]
    (test_as_of,) = split["test_matrices"][0]["as_of_times"]
    train, test = sorted(report["matrices"], key=lambda m: m["matrix_type"], reverse=True)
    for matrix, as_of in ((train, train_as_of), (test, test_as_of)):
        # No cohort_config: the cohort is the label's entities, those inspected in the next 3 months.
        inspected = scalar(url, "SELECT count(DISTINCT entity_id) FROM semantic.events "
                                f"WHERE date >= '{as_of}' AND date < '{as_of}'::date + interval '3 months'")
        assert matrix["as_of_dates"] == [as_of] and matrix["rows"] == matrix["labeled"] == inspected
        assert matrix["columns"] == ["inspections_entity_id_all_total_count"]
    assert train["positives"] == scalar(url, f"""SELECT count(DISTINCT entity_id) FROM semantic.events WHERE
        result = 'fail' AND date >= '{train_as_of}' AND date < '{train_as_of}'::date + interval '3 months'""")
    # The quickstart grid: a prior baseline, a scaled logistic regression and a stump, each evaluated
    # on precision@10_pct on its test and train matrices.
    tested = {e["model_type"].rsplit(".", 1)[1]: e
              for e in report["evaluations"] if e["matrix_type"] == "test"}
    assert set(tested) == {"DummyClassifier", "ScaledLogisticRegression", "DecisionTreeClassifier"}
    assert len(report["evaluations"]) == 6
    assert {(e["metric"], e["parameter"]) for e in report["evaluations"]} == {("precision@", "10_pct")}
    assert all(isinstance(e["random_seed"], int) for e in report["evaluations"])
    assert tested["ScaledLogisticRegression"]["value"] > tested["DummyClassifier"]["value"] + 0.1
