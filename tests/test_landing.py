"""The landing zone on disk: file names, finding a day's file, atomic writes, quarantine."""

import datetime as dt
import hashlib
import os

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from prodline.pipeline.raw.landing import (
    LandingFile,
    NotRegular,
    find_file,
    fingerprint,
    landing_path,
    latest_datestamp,
    parse_name,
    quarantine,
    scan,
    write_atomically,
)

DAY = dt.date(2024, 3, 5)
TABLE = pa.table({"thing_id": [1, 2], "seen_on": ["2024-03-05", "2024-03-05"]})


def _touch(path, text="thing_id,seen_on\n1,2024-03-05\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_landing_path_is_source_folder_and_iso_date(tmp_path):
    assert landing_path(tmp_path, "things", DAY) == tmp_path / "things" / "2024-03-05.csv"
    assert landing_path(tmp_path, "things", DAY, "parquet") == tmp_path / "things" / "2024-03-05.parquet"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_find_file_finds_either_format(tmp_path, fmt):
    path = landing_path(tmp_path, "things", DAY, fmt)
    write_atomically(path, TABLE, fmt)
    assert find_file(tmp_path, "things", DAY) == path


def test_find_file_without_a_file_says_where_it_looked(tmp_path):
    (tmp_path / "things").mkdir()
    with pytest.raises(FileNotFoundError) as e:
        find_file(tmp_path, "things", DAY)
    assert str(e.value) == (f"no file for things on 2024-03-05: expected "
                            f"{tmp_path / 'things' / '2024-03-05.csv'} (or .parquet)")


def test_find_file_refuses_two_files_for_one_day(tmp_path):
    write_atomically(landing_path(tmp_path, "things", DAY, "csv"), TABLE, "csv")
    write_atomically(landing_path(tmp_path, "things", DAY, "parquet"), TABLE, "parquet")
    with pytest.raises(ValueError) as e:
        find_file(tmp_path, "things", DAY)
    assert str(e.value) == "two files for things on 2024-03-05: 2024-03-05.csv and 2024-03-05.parquet"


def test_find_file_ignores_other_days_and_sources(tmp_path):
    _touch(landing_path(tmp_path, "things", DAY + dt.timedelta(days=1)))
    _touch(landing_path(tmp_path, "others", DAY))
    with pytest.raises(FileNotFoundError) as e:
        find_file(tmp_path, "things", DAY)
    assert "no file for things on 2024-03-05" in str(e.value)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_atomically_round_trips_and_leaves_no_temporary_file(tmp_path, fmt):
    path = tmp_path / "new" / "folder" / f"2024-03-05.{fmt}"
    write_atomically(path, TABLE, fmt)
    back = pacsv.read_csv(path) if fmt == "csv" else pq.read_table(path)
    assert back["thing_id"].to_pylist() == [1, 2]
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_write_atomically_replaces_an_existing_file(tmp_path):
    path = _touch(tmp_path / "things" / "2024-03-05.csv", "old\n")
    write_atomically(path, TABLE, "csv")
    assert pacsv.read_csv(path).num_rows == 2


def test_write_atomically_refuses_an_unknown_format(tmp_path):
    path = tmp_path / "things" / "2024-03-05.json"
    with pytest.raises(ValueError) as e:
        write_atomically(path, TABLE, "json")
    assert str(e.value) == "unknown format 'json': use one of csv, parquet"
    assert not path.exists()
    assert list(path.parent.iterdir()) == []  # nothing half-written left behind


@pytest.mark.parametrize(("name", "expected"), [
    ("2024-03-05.csv", (DAY, None)),
    ("2024-03-05.parquet", (DAY, None)),
    ("2024-03-05.json", (None, "unknown file type '.json': use .csv or .parquet")),
    ("2024-03-05", (None, "unknown file type '(none)': use .csv or .parquet")),
    ("2024-03-05.csv.gz", (None, "unknown file type '.gz': use .csv or .parquet")),
    ("2024-02-30.csv", (None, "file name '2024-02-30.csv' is not a date (YYYY-MM-DD.csv)")),
    ("march.parquet", (None, "file name 'march.parquet' is not a date (YYYY-MM-DD.parquet)")),
])
def test_parse_name(tmp_path, name, expected):
    assert parse_name(tmp_path / name) == expected


def test_scan_lists_good_files_and_names_the_bad_ones(tmp_path):
    _touch(tmp_path / "things" / "2024-03-06.csv")
    _touch(tmp_path / "things" / "2024-03-05.csv")
    _touch(tmp_path / "things" / "notes.txt")
    _touch(tmp_path / "things" / ".2024-03-07.csv.tmp")  # a write in progress
    (tmp_path / "things" / "2024-03-08.csv").mkdir()  # a folder, not a file
    _touch(tmp_path / "others" / "2024-03-01.parquet")
    _touch(tmp_path / "unlisted" / "2024-03-01.csv")
    good, bad = scan(tmp_path, ["things", "others", "missing"])
    assert good == [
        LandingFile("things", DAY, tmp_path / "things" / "2024-03-05.csv"),
        LandingFile("things", dt.date(2024, 3, 6), tmp_path / "things" / "2024-03-06.csv"),
        LandingFile("others", dt.date(2024, 3, 1), tmp_path / "others" / "2024-03-01.parquet"),
    ]
    assert bad == [(tmp_path / "things" / "notes.txt",
                    "unknown file type '.txt': use .csv or .parquet")]


def test_latest_datestamp(tmp_path):
    assert latest_datestamp(tmp_path, ["things"]) is None
    _touch(tmp_path / "things" / "2024-03-05.csv")
    _touch(tmp_path / "others" / "2024-04-01.csv")
    _touch(tmp_path / "things" / "2024-12-31.txt")  # a bad name does not count
    assert latest_datestamp(tmp_path, ["things"]) == DAY
    assert latest_datestamp(tmp_path, ["things", "others"]) == dt.date(2024, 4, 1)


def test_fingerprint_is_the_sha256_of_the_content(tmp_path):
    a = _touch(tmp_path / "a.csv", "x,y\n1,2\n")
    b = _touch(tmp_path / "sub" / "b.csv", "x,y\n1,2\n")
    c = _touch(tmp_path / "c.csv", "x,y\n1,3\n")
    assert fingerprint(a) == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * ((1 << 20) * 2 + 5))  # more than one read block
    assert fingerprint(big) == hashlib.sha256(big.read_bytes()).hexdigest()


def test_quarantine_moves_the_file_beside_a_note_saying_why(tmp_path):
    landing, bad_dir = tmp_path / "landing", tmp_path / "quarantine"
    path = _touch(landing / "things" / "2024-03-05.csv", "broken\n")
    target = quarantine(path, landing, bad_dir, "line 2: thing_id: 'x' is not an integer")
    assert target == bad_dir / "things" / "2024-03-05.csv"
    assert not path.exists() and target.read_text() == "broken\n"
    note = bad_dir / "things" / "2024-03-05.csv.error.txt"
    assert note.read_text() == (
        "line 2: thing_id: 'x' is not an integer\n\n"
        f"Fix the file and move it back to {path} to load it again.\n")
    assert sorted(p.name for p in target.parent.iterdir()) == ["2024-03-05.csv", "2024-03-05.csv.error.txt"]
    assert scan(landing, ["things"]) == ([], [])


def test_quarantine_again_replaces_the_earlier_copy_and_note(tmp_path):
    landing, bad_dir = tmp_path / "landing", tmp_path / "quarantine"
    quarantine(_touch(landing / "things" / "2024-03-05.csv", "first\n"), landing, bad_dir, "one")
    target = quarantine(_touch(landing / "things" / "2024-03-05.csv", "second\n"), landing, bad_dir, "two")
    assert target.read_text() == "second\n"
    assert target.with_name(target.name + ".error.txt").read_text().startswith("two\n")


def test_scan_names_links_and_pipes_without_opening_them(tmp_path):
    outside = _touch(tmp_path / "elsewhere" / "passwd", "root:x:0:0\n")
    (tmp_path / "things").mkdir()
    (tmp_path / "things" / "2024-03-05.csv").symlink_to(outside)
    os.mkfifo(tmp_path / "things" / "2024-03-06.csv")  # opening it for reading would block
    (tmp_path / "things" / "2024-03-07.csv").symlink_to(tmp_path / "nowhere")
    good, bad = scan(tmp_path, ["things"])
    linked = "is a symbolic link (to {}); the landing zone reads regular files only: copy the file in " \
             "instead of linking it"
    assert good == []
    assert [(p.name, why) for p, why in bad] == [
        ("2024-03-05.csv", "2024-03-05.csv " + linked.format(outside)),
        ("2024-03-06.csv", "2024-03-06.csv is a named pipe (FIFO), not a regular file"),
        ("2024-03-07.csv", "2024-03-07.csv " + linked.format(tmp_path / "nowhere"))]
    with pytest.raises(NotRegular, match=r"2024-03-06\.csv is a named pipe"):
        fingerprint(tmp_path / "things" / "2024-03-06.csv")
    # find_file finds what is there, links included; reading it refuses it (tests/test_reading.py)
    assert find_file(tmp_path, "things", dt.date(2024, 3, 7)) == tmp_path / "things" / "2024-03-07.csv"


@pytest.mark.parametrize("make", ["symlink", "fifo", "folder"])
def test_a_refused_link_or_pipe_is_quarantined_and_nothing_loaded(tmp_path, make):
    from prodline.config import DEMO_CONFIG, load_config
    from prodline.pipeline.raw.batches import RangeRefused
    from prodline.stores.landing import LandingZone

    exits = load_config(DEMO_CONFIG).sources["exits"]
    zone = LandingZone(landing_dir=str(tmp_path / "landing"), quarantine_dir=str(tmp_path / "bad"))
    _touch(zone.root / "exits" / "2024-03-04.csv", "exit_id,person_id,exited_on,reason\n1,2,2024-03-04,job\n")
    secret = _touch(tmp_path / "secret.txt", "exit_id,person_id,exited_on,reason\n9,9,2024-03-05,job\n")
    path = zone.root / "exits" / "2024-03-05.csv"
    {"symlink": lambda: path.symlink_to(secret), "fifo": lambda: os.mkfifo(path),
     "folder": lambda: path.mkdir()}[make]()
    with pytest.raises(RangeRefused) as info:
        zone.read_range("exits", exits, dt.date(2024, 3, 4), DAY)
    assert str(info.value).startswith("exits: 1 input(s) refused, nothing loaded\nexits/2024-03-05.csv:\n"
                                      "  2024-03-05.csv is ")
    moved = tmp_path / "bad" / "exits" / "2024-03-05.csv"
    assert not os.path.lexists(path) and os.path.lexists(moved)
    assert (tmp_path / "bad" / "exits" / "2024-03-05.csv.error.txt").read_text().startswith(
        "exits/2024-03-05.csv:\n  2024-03-05.csv is ")
    assert secret.read_text().startswith("exit_id")  # the link's target is left alone
    assert (zone.root / "exits" / "2024-03-04.csv").exists()  # the good day stays to load again
