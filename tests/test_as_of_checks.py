"""Checks on the cohort, labels and features tables, each passing and failing, on DuckDB and PostgreSQL."""

import datetime as dt

import pytest

from prodline.config import load_config
from prodline.pipeline.as_of.checks import (
    COHORT_CHECKS,
    FEATURE_CHECKS,
    LABEL_CHECKS,
    cohort_checks,
    feature_checks,
    label_checks,
)
from prodline.stores.warehouse import Warehouse as WarehouseResource

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
COHORT, LABELS, FEATURES = "features.cohort", "features.labels", "features.visits"
NAMES, FLAGS = ["f_a", "f_b"], ["f_a_imp", "f_b_imp"]


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, tmp_path):
    if request.param == "postgresql":
        found = WarehouseResource(url=request.getfixturevalue("pg_url"))
    else:
        found = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb")
    found.ensure_layers()
    return found


def _value(v) -> str:
    if v is None:
        return "NULL"
    return f"DATE '{v.isoformat()}'" if isinstance(v, dt.date) else repr(v)


def create(warehouse, table: str, columns: str, rows: list[tuple]) -> None:
    """The table in plain SQL, with its rows."""
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} ({columns})")
        if rows:
            values = ", ".join("(" + ", ".join(_value(v) for v in row) + ")" for row in rows)
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES {values}")


def cohort(warehouse, rows=((JAN, 1), (JAN, 2), (FEB, 1), (FEB, 2), (FEB, 3))) -> None:
    create(warehouse, COHORT, "as_of_date DATE, entity_id INTEGER", list(rows))


def labels(warehouse, rows) -> None:
    create(warehouse, LABELS, "as_of_date DATE, entity_id INTEGER, still_here INTEGER", rows)


def features(warehouse, rows) -> None:
    create(warehouse, FEATURES, "as_of_date DATE, entity_id INTEGER, f_a DOUBLE PRECISION, "
           "f_b DOUBLE PRECISION, f_a_imp INTEGER, f_b_imp INTEGER", rows)


def by_name(outcomes) -> dict:
    return {o.check: o for o in outcomes}


# --- cohort


def test_a_good_cohort(warehouse):
    cohort(warehouse)
    outcomes = cohort_checks(warehouse, COHORT, [JAN, FEB])
    assert [o.check for o in outcomes] == list(COHORT_CHECKS)
    assert [(o.passed, o.summary) for o in outcomes] == [(True, "2 to 3 members per date"),
                                                         (True, "no entity repeated")]
    assert outcomes[0].evidence == {"empty_dates": [], "sizes": {"2024-01-01": 2, "2024-02-01": 3}}
    assert outcomes[1].evidence == {"repeated": 0, "sample": []}


def test_an_as_of_date_with_an_empty_cohort(warehouse):
    cohort(warehouse)
    outcome = by_name(cohort_checks(warehouse, COHORT, [JAN, FEB, MAR]))["cohort_not_empty"]
    assert not outcome.passed and outcome.severity == "ERROR"
    assert outcome.summary == "1 as-of date(s) with an empty cohort"
    assert outcome.evidence["empty_dates"] == ["2024-03-01"]
    nobody = by_name(cohort_checks(warehouse, COHORT, [dt.date(2023, 6, 1), dt.date(2023, 7, 1)]))
    assert nobody["cohort_not_empty"].summary == "2 as-of date(s) with an empty cohort"
    assert nobody["cohort_not_empty"].evidence == {"empty_dates": ["2023-06-01", "2023-07-01"], "sizes": {}}
    assert nobody["one_row_per_entity"].passed


def test_a_repeated_entity(warehouse):
    cohort(warehouse, [(JAN, 1), (JAN, 1), (JAN, 2), (FEB, 2), (FEB, 2), (FEB, 2), (MAR, 1), (MAR, 1)])
    outcome = by_name(cohort_checks(warehouse, COHORT, [JAN, FEB]))["one_row_per_entity"]
    assert not outcome.passed
    assert outcome.summary == "2 entity-date(s) repeated"
    assert outcome.evidence == {"repeated": 2, "sample": [  # March is outside the dates checked
        {"as_of_date": "2024-01-01", "entity_id": 1, "copies": 2},
        {"as_of_date": "2024-02-01", "entity_id": 2, "copies": 3}]}


# --- labels


def test_good_labels(warehouse):
    cohort(warehouse)
    labels(warehouse, [(JAN, 1, 0), (JAN, 2, 1), (FEB, 1, 1), (FEB, 2, None), (FEB, 3, 1)])
    outcomes = label_checks(warehouse, LABELS, COHORT, "still_here", [JAN, FEB])
    assert [o.check for o in outcomes] == list(LABEL_CHECKS)
    assert [(o.passed, o.summary) for o in outcomes] == [
        (True, "one row per cohort member and date"), (True, "outcomes are 0, 1 or NULL")]
    assert outcomes[0].evidence == {"missing": 0, "outside_cohort": 0, "repeated": 0,
                                    "sample_missing": [], "sample_outside": []}
    assert outcomes[1].evidence == {"counts": {"0": 1, "1": 3, "None": 1}, "odd": []}


def test_a_label_for_a_non_member(warehouse):
    cohort(warehouse)
    labels(warehouse, [(JAN, 1, 0), (JAN, 2, 1), (JAN, 99, 1), (FEB, 1, 1), (FEB, 2, 0), (FEB, 3, 1)])
    outcome = by_name(label_checks(warehouse, LABELS, COHORT, "still_here", [JAN, FEB]))[
        "labels_match_cohort"]
    assert not outcome.passed
    assert outcome.summary == "1 row(s) for non-members"
    assert outcome.evidence["outside_cohort"] == 1
    assert outcome.evidence["sample_outside"] == [{"as_of_date": "2024-01-01", "entity_id": 99}]


def test_labels_missing_and_repeated(warehouse):
    cohort(warehouse)
    labels(warehouse, [(JAN, 1, 0), (JAN, 1, 0), (FEB, 1, 1), (FEB, 2, 0), (FEB, 3, 1), (FEB, 4, 1)])
    outcome = by_name(label_checks(warehouse, LABELS, COHORT, "still_here", [JAN, FEB]))[
        "labels_match_cohort"]
    assert outcome.summary == ("1 cohort member-date(s) missing; 1 row(s) for non-members; "
                               "1 member-date(s) repeated")
    assert outcome.evidence["sample_missing"] == [{"as_of_date": "2024-01-01", "entity_id": 2}]
    assert outcome.evidence["sample_outside"] == [{"as_of_date": "2024-02-01", "entity_id": 4}]
    assert outcome.evidence["repeated"] == 1


def test_an_outcome_of_2(warehouse):
    cohort(warehouse)
    labels(warehouse, [(JAN, 1, 0), (JAN, 2, 2), (FEB, 1, 1), (FEB, 2, 2), (FEB, 3, -1)])
    outcomes = by_name(label_checks(warehouse, LABELS, COHORT, "still_here", [JAN, FEB]))
    outcome = outcomes["outcome_is_binary"]
    assert not outcome.passed
    assert outcome.summary == "3 outcome(s) not 0/1"
    assert outcome.evidence == {"counts": {"-1": 1, "0": 1, "1": 1, "2": 2},
                                "odd": [{"value": -1, "n": 1}, {"value": 2, "n": 2}]}
    assert outcomes["labels_match_cohort"].passed


# --- features


def test_good_features(warehouse):
    cohort(warehouse)
    features(warehouse, [(JAN, 1, 1.0, 0.0, 0, 1), (JAN, 2, 2.0, 3.0, 0, 0),
                         (FEB, 1, 1.5, 0.0, 1, 1), (FEB, 2, 2.5, 4.0, 0, 0), (FEB, 3, 0.0, 1.0, 0, 0)])
    outcomes = feature_checks(warehouse, FEATURES, COHORT, NAMES, FLAGS, [JAN, FEB])
    assert [o.check for o in outcomes] == list(FEATURE_CHECKS)
    assert [(o.passed, o.summary) for o in outcomes] == [
        (True, "one row per cohort member and date"), (True, "2 columns have values on every date"),
        (True, "no NULL left after imputation")]
    assert outcomes[1].evidence == {"entirely_null": [], "entirely_imputed": []}
    assert outcomes[2].evidence == {"nulls_by_column": {}}


def test_a_feature_row_for_a_non_member(warehouse):
    cohort(warehouse)
    features(warehouse, [(JAN, 1, 1.0, 1.0, 0, 0), (JAN, 2, 1.0, 1.0, 0, 0), (FEB, 1, 1.0, 1.0, 0, 0),
                         (FEB, 2, 1.0, 1.0, 0, 0), (FEB, 7, 1.0, 1.0, 0, 0)])
    outcome = feature_checks(warehouse, FEATURES, COHORT, NAMES, FLAGS, [JAN, FEB])[0]
    assert outcome.summary == "1 cohort member-date(s) missing; 1 row(s) for non-members"
    assert outcome.evidence["sample_missing"] == [{"as_of_date": "2024-02-01", "entity_id": 3}]
    assert outcome.evidence["sample_outside"] == [{"as_of_date": "2024-02-01", "entity_id": 7}]


def test_a_feature_column_entirely_null_blocks(warehouse):
    cohort(warehouse)
    # f_b is imputed for everyone in January too: entirely NULL outweighs it
    features(warehouse, [(JAN, 1, None, 0.0, 0, 1), (JAN, 2, None, 0.0, 0, 1),
                         (FEB, 1, 1.0, 1.0, 0, 0), (FEB, 2, None, 1.0, 0, 0), (FEB, 3, 2.0, 1.0, 0, 0)])
    outcomes = by_name(feature_checks(warehouse, FEATURES, COHORT, NAMES, FLAGS, [JAN, FEB]))
    outcome = outcomes["no_column_all_null"]
    assert not outcome.passed and outcome.severity == "ERROR"  # a block, not a warning
    assert outcome.summary == "1 column-date(s) entirely NULL"
    assert outcome.evidence == {"entirely_null": ["f_a on 2024-01-01"],
                                "entirely_imputed": ["f_b on 2024-01-01"]}
    nulls = outcomes["imputation_applied"]
    assert not nulls.passed and nulls.summary == "1 column(s) with NULLs left"
    assert nulls.evidence == {"nulls_by_column": {"f_a": 3}}


def test_a_feature_column_entirely_imputed_is_a_warning(warehouse):
    cohort(warehouse)
    features(warehouse, [(JAN, 1, 1.0, 0.0, 0, 1), (JAN, 2, 2.0, 3.0, 0, 0),
                         (FEB, 1, 1.0, 0.0, 0, 1), (FEB, 2, 2.0, 0.0, 0, 1), (FEB, 3, 2.0, 0.0, 0, 1)])
    outcomes = by_name(feature_checks(warehouse, FEATURES, COHORT, NAMES, FLAGS, [JAN, FEB]))
    outcome = outcomes["no_column_all_null"]
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.summary == "1 column-date(s) imputed for every member"
    assert outcome.evidence == {"entirely_null": [], "entirely_imputed": ["f_b on 2024-02-01"]}
    assert outcomes["imputation_applied"].passed


def test_nulls_left_after_imputation(warehouse):
    cohort(warehouse)
    features(warehouse, [(JAN, 1, 1.0, None, 0, 0), (JAN, 2, 2.0, 3.0, 0, 0),
                         (FEB, 1, 1.0, 1.0, 0, 0), (FEB, 2, None, None, 0, 0), (FEB, 3, 2.0, 1.0, 0, 0)])
    outcomes = by_name(feature_checks(warehouse, FEATURES, COHORT, NAMES, FLAGS, [JAN, FEB]))
    assert outcomes["no_column_all_null"].passed
    outcome = outcomes["imputation_applied"]
    assert not outcome.passed
    assert outcome.summary == "2 column(s) with NULLs left"
    assert outcome.evidence == {"nulls_by_column": {"f_a": 1, "f_b": 2}}


def test_features_without_flag_columns(warehouse):
    cohort(warehouse, [(JAN, 1)])
    create(warehouse, FEATURES, "as_of_date DATE, entity_id INTEGER, f_a DOUBLE PRECISION", [(JAN, 1, 0.5)])
    outcomes = feature_checks(warehouse, FEATURES, COHORT, ["f_a"], [], [JAN])
    assert all(o.passed for o in outcomes)
    assert outcomes[1].summary == "1 columns have values on every date"


# --- the tables a query reads


@pytest.fixture(scope="module")
def demo_config():
    return load_config()


def test_tables_read_names_each_raw_and_transform_table_once(demo_config):
    sql = """
        SELECT r.person_id AS entity_id
        FROM transforms.spell_ends AS s
        JOIN raw.registrations AS r ON r.registration_id = s.registration_id
        LEFT JOIN raw.exits e ON e.person_id = r.person_id  -- raw.registrations again:
        WHERE r.person_id IN (SELECT entity_id FROM features.cohort) AND r.registered_on < {as_of_date}
          AND EXISTS (SELECT 1 FROM raw.registrations)
    """
    assert demo_config.tables_read(sql) == ["raw.exits", "raw.registrations", "transforms.spell_ends"]


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT 1", []),
    ("SELECT * FROM features.cohort JOIN results.scores USING (entity_id)", []),
    ("SELECT * FROM myraw.events", []),           # another schema ending in "raw"
    ("SELECT * FROM raw.events_2024", ["raw.events_2024"]),
    ("SELECT * FROM raw.events,transforms.t2", ["raw.events", "transforms.t2"]),
    ("SELECT 'raw.exits' AS s -- FROM raw.registrations", []),  # a string and a comment read nothing
    ("WITH raw_rows AS (SELECT * FROM raw.exits) SELECT * FROM raw_rows", ["raw.exits"]),
])
def test_tables_read_cases(demo_config, sql, expected):
    assert demo_config.tables_read(sql) == expected


def test_tables_read_ignores_case_like_sql_does(demo_config):
    assert demo_config.tables_read("SELECT * FROM RAW.Events") == ["raw.events"]
