"""A key that a day repeats from a day already loaded: the refusal each day gets (pure), and the
warehouse's look-up of a range's keys (on DuckDB and on PostgreSQL)."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from prodline.config import SourceConfig
from prodline.pipeline.raw.batches import collect, days_between
from prodline.pipeline.raw.key_clashes import keys_of
from prodline.pipeline.raw.reading import MAX_LISTED, BadInput, batch_from_table
from prodline.pipeline.raw.schema import arrow_schema, sql_columns
from prodline.stores.warehouse import Warehouse

D1 = dt.date(2024, 1, 1)
DAYS = [D1 + dt.timedelta(days=i) for i in range(10)]

@pytest.fixture
def visits():
    """A source keyed on two columns, one of them text."""
    return SourceConfig(primary_key=["site", "visit_id"], date_column="visited_on",
                        columns={"site": "string", "visit_id": "integer", "visited_on": "date"})


def day_of(visits, day: dt.date, keys: list[tuple[str, int]]):
    """A day's batch (rows numbered from 1) holding these (site, visit_id) keys."""
    table = pa.table({"site": [s for s, _ in keys], "visit_id": [v for _, v in keys],
                      "visited_on": pa.array([day] * len(keys), pa.date32())})
    return batch_from_table(table, visits, day, where=f"visits/{day}.parquet")


def refusals(visits, days: dict[dt.date, list], held) -> dict[str, list[str]]:
    """The days of the range that `collect` refuses, each with its lines as the message has them."""
    kept, errors = collect(sorted(days), lambda day: day_of(visits, day, days[day]), visits, held)
    assert len(kept) + len(errors) == len(days)
    return {e.where: str(e).split("\n")[1:] for e in errors}


def answer(*rows):
    """A `held` that finds these (batch, row, held on, hits) and counts the times it is asked."""
    asked = []

    def held(keys: pa.Table) -> list[dict]:
        asked.append(keys)
        return [{"site": keys["site"][line - 1 + _offset(keys, batch)].as_py(),
                 "visit_id": keys["visit_id"][line - 1 + _offset(keys, batch)].as_py(),
                 "_batch": batch, "_line": line, "_held_on": on, "_hits": hits}
                for batch, line, on, hits in rows]

    held.asked = asked
    return held


def _offset(keys: pa.Table, batch: int) -> int:
    return int(np.flatnonzero(keys["_batch"].to_numpy() == batch)[0])


def test_a_key_loaded_on_another_day_names_the_line_the_key_and_that_day(visits):
    held = answer((0, 2, D1, 1), (1, 1, DAYS[9], 1))
    found = refusals(visits, {DAYS[4]: [("north", 1), ("south", 7)], DAYS[5]: [("north, \"x\"", 3)],
                              DAYS[6]: [("north", 4)]}, held)
    assert found == {
        "visits/2024-01-05.parquet": ["  row 2: site, visit_id south, 7 was already loaded on 2024-01-01, "
                                      "an earlier day"],
        "visits/2024-01-06.parquet": ["  row 1: site, visit_id north, \"x\", 3 was already loaded on "
                                      "2024-01-10, a later day"]}
    [keys] = held.asked  # one look-up for the whole range, with every day's keys
    assert keys.column_names == ["site", "visit_id", "_batch", "_line"]
    assert keys.to_pydict()["_batch"] == [0, 0, 1, 2] and keys.to_pydict()["_line"] == [1, 2, 1, 1]


def test_only_the_first_keys_are_listed_with_the_count_of_the_rest(visits):
    rows = [(0, line, D1, 500) for line in range(1, MAX_LISTED + 1)]
    found = refusals(visits, {DAYS[4]: [("north", i) for i in range(MAX_LISTED + 5)]}, answer(*rows))
    listed = found["visits/2024-01-05.parquet"]
    assert len(listed) == MAX_LISTED + 1 and listed[-1] == "  ... and 480 more"
    assert listed[0] == "  row 1: site, visit_id north, 0 was already loaded on 2024-01-01, an earlier day"


def test_a_day_repeating_keys_of_the_range_and_of_loaded_days_lists_both(visits):
    found = refusals(visits, {DAYS[4]: [("north", 1)], DAYS[5]: [("north", 1), ("north", 2)]},
                     answer((1, 2, D1, 1)))
    assert found == {"visits/2024-01-06.parquet": [
        "  row 1: site, visit_id north, 1 was already loaded from an earlier day of this range",
        "  row 2: site, visit_id north, 2 was already loaded on 2024-01-01, an earlier day"]}


def test_without_a_look_up_or_a_primary_key_nothing_is_asked(visits):
    days = {DAYS[4]: [("north", 1)], DAYS[5]: [("north", 2)]}
    assert refusals(visits, days, None) == {}
    held = answer()
    keyless = visits.model_copy(update={"primary_key": []})  # an observed table may declare none
    kept, errors = collect(sorted(days), lambda day: day_of(visits, day, days[day]), keyless, held)
    assert len(kept) == 2 and not errors and not held.asked


def test_a_day_that_cannot_be_read_is_not_looked_up(visits):
    def read_one(day):
        if day == DAYS[5]:
            raise BadInput("visits/2024-01-06.csv", ["line 1: the file is empty"])
        return day_of(visits, day, [("north", day.day)])

    held = answer()
    kept, errors = collect(days_between(DAYS[4], DAYS[6]), read_one, visits, held)
    assert [b.datestamp for b in kept] == [DAYS[4], DAYS[6]] and len(errors) == 1
    assert held.asked[0].to_pydict()["visit_id"] == [5, 7]


# The warehouse's look-up, on both backends.

@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, tmp_path):
    if request.param == "postgresql":
        return Warehouse(url=request.getfixturevalue("pg_url"))
    return Warehouse(url=f"duckdb:///{tmp_path}/w.duckdb")


def load(warehouse, visits, days: dict[dt.date, list[tuple[str, int]]]) -> None:
    table = warehouse.ensure_table("raw", "visits", sql_columns(visits), index=["_datestamp"],
                                   key=visits.primary_key)
    rows = [{"site": s, "visit_id": v, "visited_on": day, "_datestamp": day, "_source": f"{day}"}
            for day, keys in days.items() for s, v in keys]
    warehouse.replace_window(table, pa.Table.from_pylist(rows, schema=arrow_schema(visits, lineage=True)),
                             "_datestamp", min(days), max(days))


def look_up(warehouse, visits, days: dict[dt.date, list], **limit) -> list[tuple]:
    batches = [day_of(visits, day, keys) for day, keys in sorted(days.items())]
    found = warehouse.keys_elsewhere("raw.visits", visits.primary_key, keys_of(batches, visits.primary_key),
                                     min(days), max(days), **limit)
    return [(r["_batch"], r["_line"], r["site"], r["visit_id"], r["_held_on"], r["_hits"]) for r in found]


def test_keys_on_days_outside_the_range_are_found_in_one_query(warehouse, visits):
    odd = 'north, "x"'  # commas and quotes survive the copy into PostgreSQL
    load(warehouse, visits, {D1: [("north", 1), (odd, 2), ("", 3)], DAYS[1]: [("north", 1)],
                             DAYS[4]: [("north", 5)], DAYS[8]: [("south", 9)]})
    found = look_up(warehouse, visits, {
        DAYS[4]: [("north", 5), ("north", 1), ("south", 1)],  # its own old row is no clash
        DAYS[5]: [(odd, 2), ("south", 9), ("", 3), ("north", 6)]})
    assert found == [(0, 2, "north", 1, D1, 1),  # held on two days: the earliest is named
                     (1, 1, odd, 2, D1, 3), (1, 2, "south", 9, DAYS[8], 3), (1, 3, "", 3, D1, 3)]


def test_the_first_of_each_day_are_listed_with_the_count(warehouse, visits):
    load(warehouse, visits, {D1: [("north", i) for i in range(30)]})
    found = look_up(warehouse, visits, {DAYS[4]: [("north", i) for i in range(29, -1, -1)],
                                        DAYS[5]: [("north", 40), ("north", 3)]}, limit=5)
    assert found == [*((0, line, "north", 30 - line, D1, 30) for line in range(1, 6)),
                     (1, 2, "north", 3, D1, 1)]


def test_nothing_is_found_before_the_first_load(warehouse, visits):
    assert look_up(warehouse, visits, {DAYS[4]: [("north", 1)]}) == []


def test_raw_tables_on_postgresql_are_indexed_on_their_key(pg_url, visits):
    warehouse = Warehouse(url=pg_url)
    load(warehouse, visits, {D1: [("north", 1)]})
    indexes = {r["indexdef"].split(" USING ")[1] for r in warehouse.rows(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'raw' AND tablename = 'visits'")}
    assert indexes == {"btree (_datestamp)", "btree (site, visit_id)"}
