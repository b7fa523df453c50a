"""Each malformed-file case gives an error naming the file, the line and the problem."""

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodline.config import DEMO_CONFIG, load_config
from prodline.pipeline.raw.reading import BadInput, read_file

SOURCES = load_config(DEMO_CONFIG).sources
DAY = dt.date(2024, 3, 5)
HEADER = ("registration_id,person_id,registered_on,age,sex,education,region,prior_occupation,"
          "receives_benefit")
ROW = "{id},7,2024-03-05,30,F,basic,north,retail,true"


def _read(tmp_path, text: bytes | str, source="registrations", name="2024-03-05.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_file(path, SOURCES[source], DAY, where=f"{source}/{name}")


def _problems(tmp_path, text, **kw) -> list[str]:
    with pytest.raises(BadInput) as info:
        _read(tmp_path, text, **kw)
    assert str(info.value).startswith(f"{kw.get('source', 'registrations')}/2024-03-05.csv:")
    return info.value.problems


def test_good_file_is_typed_in_config_order(tmp_path):
    batch = _read(tmp_path, "\n".join([HEADER, ROW.format(id=1), ROW.format(id=2)]) + "\n")
    assert batch.table.num_rows == 2
    assert batch.table.schema.field("registered_on").type == pa.date32()
    assert batch.table.schema.field("receives_benefit").type == pa.bool_()
    assert batch.table["age"].to_pylist() == [30, 30]
    assert list(batch.lines) == [2, 3]


def test_columns_in_another_order_are_fine(tmp_path):
    names = HEADER.split(",")
    values = ROW.format(id=1).split(",")
    text = ",".join(reversed(names)) + "\n" + ",".join(reversed(values)) + "\n"
    assert _read(tmp_path, text).table.column_names == names


def test_empty_file(tmp_path):
    assert _problems(tmp_path, b"")[0].startswith("line 1: the file is empty")


def test_bad_encoding_names_line_and_byte(tmp_path):
    text = (HEADER + "\n" + ROW.format(id=1) + "\n").encode() + \
        "3,7,2024-03-05,30,F,básico,north,retail,true\n".encode("latin-1")
    assert _problems(tmp_path, text) == [
        "line 3: not valid UTF-8 (byte 0xe1 at column 22); save the file as UTF-8"]


def test_ragged_rows_are_each_named(tmp_path):
    text = "\n".join([HEADER, ROW.format(id=1), ROW.format(id=2) + ",extra", "3,7"]) + "\n"
    assert _problems(tmp_path, text) == ["line 3: expected 9 fields, found 10",
                                         "line 4: expected 9 fields, found 2"]


def test_wrong_types_name_line_column_and_value(tmp_path):
    text = "\n".join([HEADER, ROW.format(id=1), ROW.format(id="x2").replace(",30,", ",old,"),
                      ROW.format(id=3).replace("2024-03-05", "2024-02-30")]) + "\n"
    problems = _problems(tmp_path, text)
    assert "line 3: registration_id: 'x2' is not an integer" in problems
    assert "line 3: age: 'old' is not an integer" in problems
    assert "line 4: registered_on: '2024-02-30' is not a date (YYYY-MM-DD)" in problems


def test_header_only_is_refused_where_rows_are_required(tmp_path):
    assert _problems(tmp_path, HEADER + "\n", source="registrations") == [
        "no rows, but this source must have rows every day (rows_every_day: true)"]
    # exits may legitimately have none on a day
    exits = _read(tmp_path, "exit_id,person_id,exited_on,reason\n", source="exits")
    assert exits.table.num_rows == 0


def test_duplicated_header_is_one_problem(tmp_path):
    # its values are not also reported as an id, an age and a date that are not numbers and dates
    text = "\n".join([HEADER, ROW.format(id=1), HEADER, ROW.format(id=2)]) + "\n"
    assert _problems(tmp_path, text) == ["line 3: repeats the header"]
    wrong = "\n".join([HEADER, ROW.format(id=1), HEADER, ROW.format(id=2).replace(",30,", ",old,")])
    assert _problems(tmp_path, wrong + "\n") == ["line 3: repeats the header",
                                                "line 4: age: 'old' is not an integer"]


def test_duplicated_header_of_text_only_columns(tmp_path):
    # every column a string: no type error gives the repeated header away
    text = "exit_id,person_id,exited_on,reason\n1,2,2024-03-05,employed\n" \
           "exit_id,person_id,exited_on,reason\n"
    assert _problems(tmp_path, text, source="exits") == ["line 3: repeats the header"]


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"


@pytest.mark.parametrize(("data", "byte"), [
    (PNG, "0x89 at position 1"),  # an image
    (b"PAR1\x15\x04\x15\x10,registration_id\n", "0x15 at position 5"),  # Parquet named .csv
    (b"\xef\xbb\xbfregistration_id,\x00person_id\n1,2\n", "0x00 at position 17"),  # after a BOM
    (b"PK\x03\x04\x14\x00\x00\x00", "0x03 at position 3"),  # a zip
    ("registration_id,educación\n".encode("latin-1"), "0xf3 at position 24"),  # not UTF-8
])
def test_a_binary_or_undecodable_header_is_said_to_be_one(tmp_path, data, byte):
    problems = _problems(tmp_path, data)
    assert problems == [f"line 1: the header is not text (byte {byte}); is it a CSV file saved as UTF-8?"]


@pytest.mark.parametrize("make", ["symlink", "fifo", "folder"])
def test_links_pipes_and_folders_are_refused_by_name_unopened(tmp_path, make):
    path = tmp_path / "2024-03-05.csv"
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    {"symlink": lambda: path.symlink_to(secret), "fifo": lambda: os.mkfifo(path),
     "folder": lambda: path.mkdir()}[make]()
    with pytest.raises(BadInput) as info:  # a FIFO opened for reading would block here
        read_file(path, SOURCES["registrations"], DAY, where="registrations/2024-03-05.csv")
    assert info.value.problems == [{
        "symlink": f"2024-03-05.csv is a symbolic link (to {secret}); the landing zone reads regular "
                   "files only: copy the file in instead of linking it",
        "fifo": "2024-03-05.csv is a named pipe (FIFO), not a regular file",
        "folder": "2024-03-05.csv is a folder, not a regular file"}[make]]
    assert "root:" not in str(info.value)


def test_header_problems(tmp_path):
    assert _problems(tmp_path, HEADER.replace(",age", "") + "\n") == [
        "line 1: header lacks column(s) age"]
    assert _problems(tmp_path, HEADER + ",age,colour\n") == [
        "line 1: column 'age' appears twice in the header",
        "line 1: header has unexpected column(s) colour"]


def test_dates_outside_the_partition(tmp_path):
    text = "\n".join([HEADER, ROW.format(id=1).replace("2024-03-05", "2024-03-04")]) + "\n"
    assert _problems(tmp_path, text) == [
        "line 2: registered_on 2024-03-04 is outside the partition (2024-03-05)"]


def test_required_values_and_duplicate_keys(tmp_path):
    text = "\n".join([HEADER, ROW.format(id=1), ROW.format(id=1), ROW.format(id="").replace(
        ",F,", ",,")]) + "\n"
    problems = _problems(tmp_path, text)
    assert "line 4: registration_id is required but empty" in problems
    assert "line 4: sex is required but empty" in problems
    assert "lines 2, 3: share registration_id 1" in problems


def test_quoted_newlines_keep_line_numbers_right(tmp_path):
    text = "\n".join([HEADER, ROW.format(id=1).replace(",north,", ',"north\nside",'),
                      ROW.format(id=2).replace(",30,", ",x,")]) + "\n"
    assert _problems(tmp_path, text) == ["line 4: age: 'x' is not an integer"]


def test_parquet_is_accepted_and_checked(tmp_path):
    table = pa.table({"exit_id": [1, 2], "person_id": [5, 6],
                      "exited_on": [DAY, DAY], "reason": ["employed", None]})
    pq.write_table(table, tmp_path / "2024-03-05.parquet")
    with pytest.raises(BadInput) as info:
        read_file(tmp_path / "2024-03-05.parquet", SOURCES["exits"], DAY, where="exits/x.parquet")
    assert info.value.problems == ["row 2: reason is required but empty"]
    pq.write_table(table.set_column(1, "person_id", pa.array(["a", "b"])),
                   tmp_path / "2024-03-05.parquet")
    with pytest.raises(BadInput, match="column 'person_id' has type string; expected integer"):
        read_file(tmp_path / "2024-03-05.parquet", SOURCES["exits"], DAY, where="exits/x.parquet")


def test_key_repeated_on_a_later_day_of_the_range_refuses_that_day(tmp_path):
    from prodline.pipeline.raw.batches import collect, days_between

    days = days_between(DAY, DAY + dt.timedelta(days=2))
    texts = {0: [1, 2], 1: [3, 1], 2: [4]}  # day 2 repeats key 1 from day 1

    def read_one(day):
        i = (day - DAY).days
        rows = [ROW.format(id=k).replace("2024-03-05", day.isoformat()) for k in texts[i]]
        path = tmp_path / f"{day}.csv"
        path.write_text("\n".join([HEADER, *rows]) + "\n")
        return read_file(path, SOURCES["registrations"], day, where=f"registrations/{day}.csv")

    kept, errors = collect(days, read_one, SOURCES["registrations"])
    assert [b.datestamp for b in kept] == [days[0], days[2]]
    assert [(e.where, e.problems) for e in errors] == [(
        "registrations/2024-03-06.csv",
        ["line 3: registration_id 1 was already loaded from an earlier day of this range"])]


def test_a_field_over_128_kib_and_a_lone_carriage_return(tmp_path):
    # the csv module, which names the lines Arrow refuses, has a field limit and trips on a lone \r
    exits = "exit_id,person_id,exited_on,reason\n"
    big = exits + "1,2,2024-03-05," + "x" * 200_000 + "\n" + "3,4,2024-03-05\n"
    assert _problems(tmp_path, big, source="exits") == ["line 3: expected 4 fields, found 3"]
    assert _problems(tmp_path, exits + "1,2,2024-03-05,job\r3,4\n", source="exits") == [
        "line 3: expected 4 fields, found 2"]


GOOD = "\n".join([HEADER, ROW.format(id=1), ROW.format(id=2)]) + "\n"


@settings(max_examples=80, deadline=1000, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=400), st.builds(
    lambda at, cut, new: GOOD.encode()[:at] + new + GOOD.encode()[at + cut:],
    st.integers(0, len(GOOD)), st.integers(0, 12), st.binary(max_size=12))))
def test_any_bytes_give_rows_or_a_clean_refusal(tmp_path, data):
    try:
        batch = _read(tmp_path, data)
    except BadInput as err:
        assert err.problems and all(p.isprintable() for p in err.problems), err.problems
    else:
        assert batch.table.num_rows >= 0


def test_a_range_read_without_row_rules_gets_them_from_collect(tmp_path):
    """The landing zone reads each day without its row rules and `collect` applies them to the
    range at once: each broken day gets the refusal it gets alone, in day order; clean days load."""
    from prodline.pipeline.raw.batches import collect, days_between

    days = days_between(DAY, DAY + dt.timedelta(days=4))
    rows = {0: [ROW.format(id=1)], 1: [ROW.format(id=2).replace(",F,", ",,")],
            2: [ROW.format(id=3), ROW.format(id=3)],
            3: [ROW.format(id=4).replace("2024-03-05", "2024-03-01")],
            4: [ROW.format(id=1), ROW.format(id=5)]}
    for i, day in enumerate(days):
        texts = [r.replace("2024-03-05", day.isoformat()) for r in rows[i]]
        (tmp_path / f"{day}.csv").write_text("\n".join([HEADER, *texts]) + "\n")

    def read_one(day, row_rules):
        return read_file(tmp_path / f"{day}.csv", SOURCES["registrations"], day,
                         where=f"registrations/{day}.csv", row_rules=row_rules)

    kept, errors = collect(days, lambda day: read_one(day, False), SOURCES["registrations"])
    assert [b.datestamp for b in kept] == [days[0]]
    assert [(e.where, e.problems) for e in errors] == [
        ("registrations/2024-03-06.csv", ["line 2: sex is required but empty"]),
        ("registrations/2024-03-07.csv", ["lines 2, 3: share registration_id 3"]),
        ("registrations/2024-03-08.csv",
         ["line 2: registered_on 2024-03-01 is outside the partition (2024-03-08)"]),
        ("registrations/2024-03-09.csv",
         ["line 2: registration_id 1 was already loaded from an earlier day of this range"])]
    for day, error in zip(days[1:4], errors, strict=False):  # the same refusal as a day read alone
        with pytest.raises(BadInput) as alone:
            read_one(day, True)
        assert alone.value.problems == error.problems
    clean, none = collect(days[:1], lambda day: read_one(day, False), SOURCES["registrations"])
    assert [b.table.num_rows for b in clean] == [1] and not none
