"""The feature engine's SQL against a plain pandas computation of the same definitions."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dateutil.relativedelta import relativedelta

from prodline.config import FeatureConfig
from prodline.pipeline.as_of import feature_columns as fsql
from prodline.pipeline.as_of import feature_windows
from prodline.pipeline.as_of.feature_select import features_select, refuse_nulls
from prodline.pipeline.as_of.feature_windows import feature_computation
from prodline.pipeline.errors import StepRefused
from prodline.resources.stores import WarehouseResource

DATES = [dt.date(2024, 3, 1), dt.date(2024, 6, 1), dt.date(2024, 9, 1)]
CHOICES = {"categoricals.0": ["a", "b"]}


def feature(**changes) -> FeatureConfig:
    spec = {"prefix": "ev", "from_obj": "raw.events", "knowledge_date_column": "kd",
            "entity_column": "person_id", "intervals": ["30day", "1y", "all"],
            "aggregates": [{"quantity": "amount",
                            "metrics": ["count", "sum", "avg", "min", "max", "stddev", "variance"]}],
            "categoricals": [{"column": "kind", "choices": ["a", "b"],
                              "metrics": ["sum", "avg", "max", "min"]}],
            "aggregates_imputation": {"all": {"type": "zero_noflag"}}}
    spec.update(changes)
    return FeatureConfig.model_validate(spec)


@pytest.fixture
def events() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    return pd.DataFrame({
        "person_id": rng.integers(1, 40, n),
        "kd": pd.to_datetime("2023-01-01") + pd.to_timedelta(rng.integers(0, 640, n), unit="D"),
        "amount": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 20, n).round(2)),
        "kind": rng.choice(["a", "b", "c", None], n),
    })


@pytest.fixture
def warehouse(tmp_path, events) -> WarehouseResource:
    wh = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb")
    wh.ensure_layers()
    with wh.engine.begin() as conn:
        driver = conn.connection.driver_connection
        frame = events.assign(kd=events["kd"].dt.date)
        driver.register("frame", frame)
        driver.execute("CREATE TABLE raw.events AS SELECT * FROM frame")
        # Entity 99 has no events at all: every feature of it is imputed.
        driver.execute("CREATE TABLE features.cohort AS SELECT DISTINCT d AS as_of_date, p AS entity_id "
                       "FROM (SELECT unnest([DATE '2024-03-01', DATE '2024-06-01', DATE '2024-09-01']) d) "
                       "CROSS JOIN (SELECT unnest(range(1, 40)) AS p UNION SELECT 99)")
    return wh


@pytest.fixture(params=["statement", "windows"])
def engine(request) -> str:
    """Each feature engine: one SQL statement (feature_select), or the windows computed in
    memory from the warehouse's partials (feature_windows)."""
    return request.param


def computed(wh: WarehouseResource, config: FeatureConfig, engine: str, choices=CHOICES) -> pd.DataFrame:
    if engine == "statement":
        wh.replace_window_from("features", config.prefix,
                               features_select(config, choices, "features.cohort", DATES),
                               "as_of_date", min(DATES), max(DATES))
    else:
        wh.replace_window_computed("features", config.prefix, "as_of_date", min(DATES), max(DATES),
                                   feature_computation(config, choices, "features.cohort", DATES))
    rows = wh.rows(f"SELECT * FROM features.{config.prefix} ORDER BY as_of_date, entity_id")
    return pd.DataFrame(rows).set_index(["as_of_date", "entity_id"])


def reference(events: pd.DataFrame, day: dt.date, start: dt.date | None) -> pd.DataFrame:
    """What the features mean, written the obvious way with pandas."""
    window = events[(events.kd < pd.Timestamp(day))
                    & ((events.kd >= pd.Timestamp(start)) if start else True)]
    grouped = window.groupby("person_id")
    out = pd.DataFrame({
        "amount_count": grouped.amount.count(), "amount_sum": grouped.amount.sum(min_count=1),
        "amount_avg": grouped.amount.mean(), "amount_min": grouped.amount.min(),
        "amount_max": grouped.amount.max(), "amount_stddev": grouped.amount.std(ddof=1),
        "amount_variance": grouped.amount.var(ddof=1)})
    # collate's (kind = choice)::INT is NULL where kind is: those events count for no choice.
    known = window[window.kind.notna()]
    for choice in CHOICES["categoricals.0"]:
        hit = (known.kind == choice).astype(float).groupby(known.person_id)
        out[f"kind_{choice}_sum"], out[f"kind_{choice}_avg"] = hit.sum(), hit.mean()
        out[f"kind_{choice}_max"], out[f"kind_{choice}_min"] = hit.max(), hit.min()
    return out


def test_every_metric_and_interval_matches_pandas(warehouse, events, engine):
    config = feature()
    got = computed(warehouse, config, engine)
    assert len(got) == 3 * 40
    for day in DATES:
        for label, start in (("30day", day - relativedelta(days=30)), ("1y", day - relativedelta(years=1)),
                             ("all", None)):
            expected = reference(events, day, start)
            for column in expected.columns:
                name = f"ev_entity_id_{label}_{column}"
                want = expected[column].reindex(range(1, 40))
                have = got.loc[day, name].reindex(range(1, 40))
                if column.startswith("amount_") and column != "amount_count":
                    # avg/min/max/stddev take the mean of those who have one; sum is zero-filled
                    mask = want.notna()
                    assert np.allclose(have[mask], want[mask], rtol=1e-9), (day, name)
                else:
                    assert np.allclose(have, want.fillna(0), rtol=1e-9), (day, name)


def test_rows_known_on_or_after_the_as_of_date_never_count(warehouse, events, engine):
    before = computed(warehouse, feature(), engine)
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO raw.events VALUES (1, DATE '2024-06-01', 1e9, 'a'), "
                             "(1, DATE '2024-06-02', 1e9, 'b'), (2, DATE '2025-01-01', 1e9, 'a')")
    after = computed(warehouse, feature(), engine)
    june = after.loc[dt.date(2024, 6, 1)]
    assert (june.max(axis=0) < 1e8).all()
    pd.testing.assert_frame_equal(before.loc[:dt.date(2024, 6, 1)], after.loc[:dt.date(2024, 6, 1)])
    # ... while a date after them does see them
    assert after.loc[(dt.date(2024, 9, 1), 1), "ev_entity_id_all_amount_max"] == 1e9


@pytest.mark.parametrize(("rule", "expected_fill", "flag"), [
    ({"type": "zero"}, 0.0, True),
    ({"type": "zero_noflag"}, 0.0, False),
    ({"type": "constant", "value": -1.5}, -1.5, True),
    ({"type": "mean"}, "mean", True),
])
def test_imputation_rules(warehouse, rule, expected_fill, flag, engine):
    config = feature(aggregates=[{"quantity": "amount", "metrics": ["avg"], "imputation": {"all": rule}}],
                     categoricals=[], intervals=["30day"])
    got = computed(warehouse, config, engine)
    column, imp = "ev_entity_id_30day_amount_avg", "ev_entity_id_30day_amount_imp"
    for day in DATES:
        on_day = got.loc[day]
        assert on_day[column].notna().all()
        empty = on_day.loc[99, column]
        fill = on_day.loc[on_day.index != 99, column] if expected_fill == "mean" else None
        if expected_fill == "mean":
            observed = on_day[on_day.get(imp, 0) == 0][column]
            assert empty == pytest.approx(observed.mean())
            assert fill is not None
        else:
            assert empty == expected_fill
    assert (imp in got.columns) is flag
    if flag:
        assert got.loc[(DATES[0], 99), imp] == 1
        assert got[imp].isin([0, 1]).all()


def test_null_category_marks_an_empty_window_as_the_null_choice(warehouse, events, engine):
    config = feature(aggregates=[], intervals=["all"],
                     categoricals=[{"column": "kind", "choices": ["a", "b"], "metrics": ["sum"],
                                    "imputation": {"all": {"type": "null_category"}}}])
    got = computed(warehouse, config, engine)
    assert got.loc[(DATES[0], 99), "ev_entity_id_all_kind__NULL_sum"] == 1
    named = ["ev_entity_id_all_kind_a_sum", "ev_entity_id_all_kind_b_sum"]
    assert got.loc[(DATES[0], 99), named].tolist() == [0, 0]
    # for someone with events, the null choice counts events whose kind is NULL
    seen = events[(events.kd < pd.Timestamp(DATES[2])) & (events.person_id == 5)]
    assert got.loc[(DATES[2], 5), "ev_entity_id_all_kind__NULL_sum"] == seen.kind.isna().sum()


def test_imputation_error_refuses_the_write_and_names_the_column(warehouse, engine):
    config = feature(aggregates=[{"quantity": "amount", "metrics": ["max"],
                                  "imputation": {"all": {"type": "error"}}}],
                     categoricals=[], intervals=["30day"])
    columns = fsql.feature_columns(config, {})
    window = ("features", "ev", "as_of_date", min(DATES), max(DATES))
    verify = {"verify": lambda conn: refuse_nulls(conn, "features.ev", columns, DATES)}
    with pytest.raises(StepRefused, match=r"ev_entity_id_30day_amount_max \(\d+\).*nothing was written"):
        if engine == "statement":
            warehouse.replace_window_from("features", "ev",
                                          features_select(config, {}, "features.cohort", DATES),
                                          *window[2:], **verify)
        else:
            warehouse.replace_window_computed(
                *window, feature_computation(config, {}, "features.cohort", DATES), **verify)
    assert not warehouse.columns("features", "ev")  # rolled back: not even the table remains


def test_triage_feature_groups_find_the_features_by_their_triage_names():
    from prodline.config.features import feature_table
    from prodline.pipeline.matrices.feature_groups import subsets

    columns = fsql.feature_columns(feature(), CHOICES)
    names = [c.name for c in columns]
    definition = {"prefix": ["ev"], "interval": ["30day", "1y", "all"], "metric": ["max", "sum"]}
    groups = {g.names[0]: list(g.features) for g in subsets(definition, {feature_table("ev"): names})}
    assert groups["prefix: ev"] == names
    assert groups["interval: all"] == [n for n in names if n.startswith("ev_entity_id_all_")]
    assert {"ev_entity_id_1y_amount_max", "ev_entity_id_1y_kind_a_max",
            "ev_entity_id_1y_kind__NULL_max"} <= set(groups["metric: max"])
    assert not [n for n in groups["metric: sum"] if not n.endswith("_sum")]


def test_rewriting_a_window_is_idempotent(warehouse, engine):
    first = computed(warehouse, feature(), engine)
    again = computed(warehouse, feature(), engine)
    pd.testing.assert_frame_equal(first, again)
    assert warehouse.scalar("SELECT count(*) FROM features.ev") == len(first)


def test_overlapping_bounded_intervals_each_keep_their_own_window(warehouse, engine):
    # "30 days" reaches further back than "1 month" before March 1st of a leap year.
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM raw.events")
        conn.exec_driver_sql("INSERT INTO raw.events VALUES (1, DATE '2024-01-31', 5, 'a')")
    config = feature(intervals=["30 days", "1 month"], categoricals=[],
                     aggregates=[{"quantity": "amount", "metrics": ["count", "max"]}])
    got = computed(warehouse, config, engine).loc[(dt.date(2024, 3, 1), 1)]
    assert got["ev_entity_id_30 days_amount_count"] == 1 and got["ev_entity_id_30 days_amount_max"] == 5
    assert got["ev_entity_id_1 month_amount_count"] == 0  # an event in a wider window: 0, as in Triage


def test_stddev_keeps_precision_for_large_values_with_a_small_spread(warehouse, engine):
    values = [1e6 + k * 0.001 for k in range(20)]
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM raw.events")
        for k, value in enumerate(values):
            day = dt.date(2024, 2, k + 1)
            conn.exec_driver_sql(f"INSERT INTO raw.events VALUES (1, DATE '{day}', {value!r}, 'a')")
    config = feature(intervals=["all"], categoricals=[],
                     aggregates=[{"quantity": "amount", "metrics": ["stddev", "variance"]}])
    got = computed(warehouse, config, engine).loc[(dt.date(2024, 3, 1), 1)]
    assert got["ev_entity_id_all_amount_stddev"] == pytest.approx(np.std(values, ddof=1), rel=1e-6)


def test_a_cohort_row_without_an_entity_gets_every_feature_imputed(warehouse, engine):
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO features.cohort VALUES (DATE '2024-06-01', NULL)")
    config = feature(aggregates=[{"quantity": "amount", "metrics": ["avg", "count"],
                                  "imputation": {"avg": {"type": "mean"}, "count": {"type": "zero"}}}])
    got = computed(warehouse, config, engine).reset_index()
    on_day = got[got.as_of_date == dt.date(2024, 6, 1)]
    nobody, no_events = on_day[on_day.entity_id.isna()], on_day[on_day.entity_id == 99]
    assert len(nobody) == 1 and len(got) == 3 * 40 + 1
    values = [c for c in got.columns if c not in ("as_of_date", "entity_id")]
    assert nobody[values].to_numpy().tolist() == no_events[values].to_numpy().tolist()
    assert nobody["ev_entity_id_1y_amount_imp"].item() == 1


def windows_rows(wh: WarehouseResource, config: FeatureConfig, shuffle=None, chunk_rows=None) -> pd.DataFrame:
    """feature_windows' rows, computed from the warehouse's reads; the partials optionally
    reordered and cut into chunks of `chunk_rows`, as a warehouse may hand them over."""
    computation = feature_computation(config, CHOICES, "features.cohort", DATES)
    tables = {n: pa.Table.from_pylist(wh.rows(sql)) for n, sql in computation.reads.items()}
    if shuffle is not None:
        tables["partials"] = tables["partials"].take(shuffle(tables["partials"].num_rows))
    if chunk_rows:
        tables["partials"] = pa.Table.from_batches(tables["partials"].to_batches(max_chunksize=chunk_rows))
    frame = pa.Table.from_batches(list(computation.compute(tables))).to_pandas()
    return frame.sort_values(["as_of_date", "entity_id"], ignore_index=True)


def test_blocks_chunks_and_order_of_the_partials_leave_the_values_alone(warehouse, monkeypatch):
    """Blocks of 7 entities over partials in chunks of 50 rows, in entity order or in none (each
    block then gathers its rows from every chunk), with events of entities outside the cohort
    among them: the same rows as one block of everything, and as the single statement."""
    with warehouse.engine.begin() as conn:
        for person in (-4, 0, 20_000, 45):  # beside, between and beyond the cohort's entities
            conn.exec_driver_sql(f"INSERT INTO raw.events VALUES ({person}, DATE '2024-02-20', 7.5, 'a')")
    config = feature()
    whole = windows_rows(warehouse, config)
    statement = computed(warehouse, config, "statement").reset_index()
    assert np.allclose(whole.drop(columns=["as_of_date", "entity_id"]).to_numpy(float),
                       statement[whole.columns].drop(columns=["as_of_date", "entity_id"]).to_numpy(float),
                       rtol=1e-9, atol=1e-12, equal_nan=True)
    monkeypatch.setattr(feature_windows, "BLOCK", 7)
    rng = np.random.default_rng(3)
    for shuffle in (None, lambda n: np.arange(n)[::-1], rng.permutation):
        got = windows_rows(warehouse, config, shuffle, chunk_rows=50)
        assert len(got) == len(whole) == 3 * 40
        pd.testing.assert_frame_equal(got, whole)


def test_a_cohort_date_outside_the_dates_computed_is_refused(warehouse):
    computation = feature_computation(feature(), CHOICES, "features.cohort", DATES[:2])
    tables = {n: pa.Table.from_pylist(warehouse.rows(sql)) for n, sql in computation.reads.items()}
    cohort = tables["cohort"]
    late = pa.table({"as_of_date": pa.array([dt.date(2024, 7, 1)]), "entity_id": pa.array([1], pa.int64()),
                     "no_entity": pa.array([0], pa.int32())}).cast(cohort.schema)
    with pytest.raises(ValueError, match="cohort rows outside the as-of dates computed"):
        list(computation.compute({**tables, "cohort": pa.concat_tables([cohort, late])}))


def test_an_empty_cohort_writes_no_rows_and_the_tables_columns(warehouse, engine):
    """A range whose cohort holds nobody (the events are there): no rows, no error, and the
    feature table made with its columns, as the next stage expects."""
    with warehouse.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM features.cohort")
    config = feature()
    if engine == "statement":
        written = warehouse.replace_window_from(
            "features", config.prefix, features_select(config, CHOICES, "features.cohort", DATES),
            "as_of_date", min(DATES), max(DATES))
    else:
        written = warehouse.replace_window_computed(
            "features", config.prefix, "as_of_date", min(DATES), max(DATES),
            feature_computation(config, CHOICES, "features.cohort", DATES))
    assert written == 0
    columns = warehouse.columns("features", config.prefix)
    assert "ev_entity_id_1y_amount_stddev" in columns and "entity_id" in columns
