"""Differential test: prodline's feature SQL against Triage 6.0.0's own FeatureGenerator (collate and
its imputation), run in Triage's virtual environment (`make triage`), on generated events in a
PostgreSQL database of the test's own. Every metric prodline computes, intervals with and without
`all` (spelled as Triage users spell them), categoricals (choices, choice_query, NULL categories,
array_categoricals), `coltype`, from_obj as a join subquery, quantities as expressions and
`{name: expression}`, every imputation rule and feature_start_time.

Every feature value Triage writes equals prodline's to 1e-9, except the documented difference:
where Triage stores a column as REAL (an aggregate imputed with `mean` or `zero` that had a NULL),
Triage's value is prodline's rounded to single precision. Every `_imp` flag Triage writes equals
prodline's; prodline writes a flag even where Triage leaves it out (no value of its column was
NULL in the run), and it is then 0 everywhere. PostgreSQL and DuckDB give prodline the same values."""

import datetime as dt
import random

import numpy as np
import pytest
import sqlalchemy as sa

from conftest import postgres_database
from prodline.config import FeatureConfig
from prodline.pipeline.as_of.feature_columns import feature_columns, flag_sources, resolve_choices
from prodline.pipeline.as_of.feature_select import features_select, refuse_nulls
from prodline.pipeline.as_of.feature_windows import feature_computation
from prodline.pipeline.errors import StepRefused
from prodline.resources.stores import WarehouseResource

SEED = 20261204
DATES = ["2023-03-31", "2023-06-01", "2023-09-15", "2024-01-01"]
FEATURE_START = "2022-03-01"
ENTITIES = 160  # 1..160 have events (some only long ago); 161..175 are in the cohort without any
KINDS = ["a", "b", "c d", None]
CHANNELS = ["x", "y", "z", None]
TAGS = [None, [], ["red"], ["blue"], ["red", "blue"], ["green"]]

ALL_METRICS = ["count", "sum", "avg", "min", "max", "stddev", "stddev_samp", "stddev_pop", "variance",
               "var_samp", "var_pop"]
AGGREGATIONS = [
    {
        "prefix": "ev",
        "from_obj": "raw.events",
        "knowledge_date_column": "kd",
        "groups": ["entity_id"],
        "intervals": ["1month", "3 months", "1y", "all"],
        "aggregates_imputation": {"all": {"type": "mean"}, "count": {"type": "zero"}},
        "categoricals_imputation": {"all": {"type": "zero"}},
        "array_categoricals_imputation": {"all": {"type": "null_category"}},
        "aggregates": [
            {"quantity": "amount", "metrics": ALL_METRICS},
            {"quantity": {"big": "amount * 1000 + 1000000"}, "metrics": ["avg", "stddev", "var_pop"],
             "imputation": {"all": {"type": "constant", "value": 7.5}}},
            {"quantity": "flag", "metrics": ["max", "avg"],
             "imputation": {"max": {"type": "binary_mode"}, "avg": {"type": "zero"}}},
            {"quantity": {"total": "*"}, "metrics": ["count"],
             "imputation": {"count": {"type": "zero_noflag"}}},
            {"quantity": "n_int", "metrics": ["avg", "sum"], "coltype": "smallint",
             "imputation": {"sum": {"type": "constant", "value": 137}}},
            {"quantity": "n_int::DOUBLE PRECISION / 3", "metrics": ["sum", "min"]},
        ],
        "categoricals": [
            {"column": "kind", "choices": ["a", "b", "c d"],
             "metrics": ["sum", "avg", "count", "min", "max", "stddev", "var_pop"],
             "imputation": {"sum": {"type": "null_category"}, "avg": {"type": "mean"},
                            "min": {"type": "zero_noflag"}, "stddev": {"type": "constant", "value": "b"}}},
            {"column": "channel", "choice_query": "SELECT DISTINCT channel FROM raw.events",
             "metrics": ["avg", "max"]},
        ],
        "array_categoricals": [
            {"column": "tags", "choices": ["red", "blue"], "metrics": ["sum", "max", "avg"],
             "imputation": {"avg": {"type": "mean"}}},
        ],
    },
    {
        "prefix": "jn",
        "from_obj": "(SELECT e.entity_id, e.kd, e.amount, p.region FROM raw.events AS e "
                    "JOIN raw.people AS p USING (entity_id)) AS jn",
        "knowledge_date_column": "kd",
        "intervals": ["6 months", "2y"],  # no `all`: a row needs an event in the last two years
        "aggregates": [{"quantity": "amount", "metrics": ["count", "sum", "max", "min"],
                        "imputation": {"all": {"type": "zero"}, "max": {"type": "constant", "value": 1}}}],
        "categoricals": [{"column": "region", "choices": ["north", "south"], "metrics": ["avg", "count"],
                          "imputation": {"all": {"type": "mean"}}}],
    },
]


# The `error` rule where a value is NULL (an entity of the cohort without events): both refuse.
ERROR_RULE = {"prefix": "er", "from_obj": "raw.events", "knowledge_date_column": "kd",
              "intervals": ["1month"],
              "aggregates": [{"quantity": "amount", "metrics": ["max"],
                              "imputation": {"all": {"type": "error"}}}]}


def generate(rng: random.Random) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Events from 2021 (before feature_start_time) to 2023; some entities' only events are old,
    so that a short window is empty while a longer one is not."""
    events, start = [], dt.date(2021, 6, 1)
    for entity in range(1, ENTITIES + 1):
        old = entity % 9 == 0  # events only before 2022-06
        for _ in range(rng.choice((1, 2, 5, 12, 25))):
            day = start + dt.timedelta(days=rng.randrange(365 if old else 940))
            amount = None if rng.random() < 0.12 else round(rng.gauss(40, 25), 2)
            events.append((entity, day, amount, rng.choice((0, 0, 1)), rng.randrange(-5, 40),
                           rng.choice(KINDS), rng.choice(CHANNELS), rng.choice(TAGS)))
    people = [(e, rng.choice(("north", "south", "west", None))) for e in range(1, ENTITIES + 1)]
    cohort = [(e, d) for d in DATES for e in range(1, ENTITIES + 16) if rng.random() < 0.9]
    return events, people, cohort


EVENT_COLUMNS = "entity_id, kd, amount, flag, n_int, kind, channel, tags"


def fill_postgresql(url: str, data) -> None:
    events, people, cohort = data
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA raw; CREATE SCHEMA features")
        conn.exec_driver_sql("CREATE TABLE raw.events (entity_id integer, kd date, amount double precision, "
                             "flag integer, n_int integer, kind text, channel text, tags varchar[])")
        conn.exec_driver_sql("CREATE TABLE raw.people (entity_id integer, region text)")
        conn.exec_driver_sql("CREATE TABLE features.cohort (entity_id integer, as_of_date date)")
        cursor = conn.connection.driver_connection.cursor()
        cursor.executemany(f"INSERT INTO raw.events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                           "%s::varchar[])", events)
        cursor.executemany("INSERT INTO raw.people VALUES (%s, %s)", people)
        cursor.executemany("INSERT INTO features.cohort VALUES (%s, %s)", cohort)
    engine.dispose()


def fill_duckdb(path, data) -> str:
    events, people, cohort = data
    url = f"duckdb:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        driver = conn.connection.driver_connection
        driver.execute("CREATE SCHEMA raw; CREATE SCHEMA features")
        driver.execute("CREATE TABLE raw.events (entity_id integer, kd date, amount double, flag integer, "
                       "n_int integer, kind varchar, channel varchar, tags varchar[])")
        driver.execute("CREATE TABLE raw.people (entity_id integer, region varchar)")
        driver.execute("CREATE TABLE features.cohort (entity_id integer, as_of_date date)")
        driver.executemany(f"INSERT INTO raw.events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [list(e) for e in events])
        driver.executemany("INSERT INTO raw.people VALUES (?, ?)", [list(p) for p in people])
        driver.executemany("INSERT INTO features.cohort VALUES (?, ?)", [list(c) for c in cohort])
    engine.dispose()
    return url


def prodline_tables(url: str, engine: str = "statement") -> dict[str, tuple[dict, dict]]:
    """Per prefix: {(entity, date): {column: value}} and the flags with their source columns, from
    one engine: one SQL statement read back, or the windows in memory written to a table."""
    warehouse = WarehouseResource(url=url)
    out = {}
    for spec in AGGREGATIONS:
        feature = FeatureConfig.model_validate(spec)
        choices = resolve_choices(warehouse, feature)
        dates = [dt.date.fromisoformat(d) for d in DATES]
        start = dt.date.fromisoformat(FEATURE_START)
        if engine == "statement":
            rows = warehouse.read(features_select(feature, choices, "features.cohort", dates, start))
        else:
            table = f"w_{spec['prefix']}"
            warehouse.replace_window_computed(
                "features", table, "as_of_date", min(dates), max(dates),
                feature_computation(feature, choices, "features.cohort", dates, start))
            rows = warehouse.rows(f"SELECT * FROM features.{table}")
        columns = feature_columns(feature, choices)
        out[spec["prefix"]] = ({(r["entity_id"], r["as_of_date"].isoformat()): r for r in rows},
                               flag_sources(columns))
    warehouse.engine.dispose()
    return out


@pytest.fixture(scope="module")
def answers(triage, tmp_path_factory):
    """(Triage's tables, prodline's on PostgreSQL, prodline's on DuckDB), on the same data."""
    with postgres_database("prodline_parity") as url:
        data = generate(random.Random(SEED))
        fill_postgresql(url, data)
        duck = fill_duckdb(tmp_path_factory.mktemp("parity") / "w.duckdb", data)
        theirs = triage("features.py", {"url": url, "schema": "triage_features",
                                        "feature_aggregations": AGGREGATIONS, "as_of_dates": DATES,
                                        "state_table": "features.cohort",
                                        "feature_start_time": FEATURE_START}, seconds=300)
        refused = triage("features.py", {"url": url, "schema": "triage_refusal",
                                         "feature_aggregations": [ERROR_RULE], "as_of_dates": DATES,
                                         "state_table": "features.cohort"}, seconds=300)
        yield (theirs, prodline_tables(url), prodline_tables(duck), url, refused,
               prodline_tables(url, "windows"), prodline_tables(duck, "windows"))


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def compare(theirs: dict, ours: tuple[dict, dict]) -> dict:
    """Cells compared and how each kind matched; fails on the first cell that differs otherwise."""
    rows, sources = ours
    keys = [c for c in theirs["columns"] if c not in ("entity_id", "as_of_date")]
    features = [c for c in keys if not c.endswith("_imp")]
    flags = [c for c in keys if c.endswith("_imp")]
    # The same feature columns, named alike; every flag of Triage's is one of prodline's.
    ours_features = [c for c in next(iter(rows.values())) if c not in ("entity_id", "as_of_date")
                     and c not in sources]
    assert sorted(features) == sorted(ours_features)
    assert set(flags) <= set(sources), set(flags) - set(sources)
    assert len(theirs["rows"]) == len(rows)
    tally = {"cells": 0, "exact": 0, "real": 0, "flags": 0, "extra_flag_cells": 0}
    for row in theirs["rows"]:
        got = dict(zip(theirs["columns"], row, strict=True))
        mine = rows[got["entity_id"], got["as_of_date"]]
        for column in features:
            tally["cells"] += 1
            if close(got[column], mine[column]):
                tally["exact"] += 1
                continue
            # The documented difference: Triage imputes a mean as REAL (and stores the whole column
            # as REAL when the aggregate is numeric): its value is prodline's rounded to single.
            single = theirs["types"][column] == "real" or np.float32(got[column]) == got[column]
            assert single and np.float32(got[column]) == np.float32(mine[column]), (
                column, got[column], mine[column], got["entity_id"], got["as_of_date"])
            tally["real"] += 1
        for flag in flags:
            tally["cells"] += 1
            assert got[flag] == mine[flag], (flag, got["entity_id"], got["as_of_date"])
            tally["flags"] += 1
        for flag in set(sources) - set(flags):
            assert mine[flag] == 0, (flag, "Triage has no such flag: nothing was imputed")
            tally["extra_flag_cells"] += 1
    return tally


@pytest.mark.parametrize("engine", ["statement", "windows"])
@pytest.mark.parametrize("prefix", [a["prefix"] for a in AGGREGATIONS])
def test_prodline_gives_triages_features(answers, prefix, engine):
    theirs, ours = answers[0], answers[1 if engine == "statement" else 5]
    tally = compare(theirs[prefix], ours[prefix])
    print(prefix, engine, tally)
    assert tally["cells"] > 10_000 if prefix == "ev" else tally["cells"] > 2_000


@pytest.mark.parametrize("prefix", [a["prefix"] for a in AGGREGATIONS])
def test_duckdb_gives_what_postgresql_gives(answers, prefix):
    on_postgresql, on_duckdb = answers[1:3]
    pg_rows, duck_rows = on_postgresql[prefix][0], on_duckdb[prefix][0]
    assert pg_rows.keys() == duck_rows.keys()
    for key, row in pg_rows.items():
        for column, value in row.items():
            if column != "as_of_date":
                assert close(value, duck_rows[key][column]), (column, key, value, duck_rows[key][column])


@pytest.mark.parametrize("prefix", [a["prefix"] for a in AGGREGATIONS])
def test_both_engines_give_the_same_rows_on_both_warehouses(answers, prefix):
    """feature_windows (the engine the assets use) and feature_select's single statement."""
    for statement, windows in ((answers[1], answers[5]), (answers[2], answers[6])):
        want, got = statement[prefix][0], windows[prefix][0]
        assert want.keys() == got.keys()
        for key, row in want.items():
            assert row.keys() == got[key].keys()
            for column, value in row.items():
                if column != "as_of_date":
                    assert close(value, got[key][column]), (column, key, value, got[key][column])


def test_the_data_exercises_every_rule(answers):
    """The cases the parity rests on occur: empty short windows with a count of 0, NULL-category
    events, windows cut by feature_start_time, imputed values and flags set."""
    theirs = answers[0]["ev"]
    columns = theirs["columns"]
    rows = [dict(zip(columns, r, strict=True)) for r in theirs["rows"]]
    assert any(r["ev_entity_id_1month_total_count"] == 0 and r["ev_entity_id_all_total_count"] > 0
               for r in rows)
    assert any(r["ev_entity_id_1y_amount_imp"] == 1 for r in rows)
    assert any(r["ev_entity_id_all_kind__NULL_sum"] > 0 and r["ev_entity_id_all_kind_a_avg"] not in (0, 1)
               for r in rows)
    assert "ev_entity_id_1y_am_imp" in columns  # collate's rstrip, kept: `amount_count` -> `am`



def test_triages_names_are_written_and_read_back_on_postgresql(answers):
    """Names with capitals (`__NULL`), spaces and `::` survive the warehouse's write and a read."""
    warehouse = WarehouseResource(url=answers[3])
    spec = AGGREGATIONS[1]  # jn: `6 months` in its names
    feature = FeatureConfig.model_validate(spec)
    dates = [dt.date.fromisoformat(d) for d in DATES]
    select = features_select(feature, resolve_choices(warehouse, feature), "features.cohort", dates,
                             dt.date.fromisoformat(FEATURE_START))
    written = warehouse.replace_window_from("features", "jn", select, "as_of_date", min(dates), max(dates))
    assert written == len(answers[1]["jn"][0])
    total = warehouse.scalar('SELECT sum("jn_entity_id_6 months_region__NULL_avg") FROM features.jn')
    ours = sum(r["jn_entity_id_6 months_region__NULL_avg"] for r in answers[1]["jn"][0].values())
    assert total == pytest.approx(ours, rel=1e-12)
    warehouse.engine.dispose()


def test_the_error_rule_refuses_on_both_sides(answers):
    assert answers[4]["error"].startswith("ValueError: NULL values found in column with 'error' imputation "
                                          "type: er_entity_id_1month_amount_max")
    warehouse = WarehouseResource(url=answers[3])
    feature = FeatureConfig.model_validate(ERROR_RULE)
    dates = [dt.date.fromisoformat(d) for d in DATES]
    columns = feature_columns(feature, {})
    with pytest.raises(StepRefused, match=r"er_entity_id_1month_amount_max \(\d+\).*nothing was written"):
        warehouse.replace_window_from(
            "features", "er", features_select(feature, {}, "features.cohort", dates), "as_of_date",
            min(dates), max(dates), verify=lambda conn: refuse_nulls(conn, "features.er", columns, dates))
    warehouse.engine.dispose()
