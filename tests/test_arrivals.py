"""Which landing files the sensor asks to load: new, changed, unchanged, outside the partitions."""

import datetime as dt
import os

import pytest

from prodline.pipeline.raw.arrivals import Plan, plan, run_key
from prodline.pipeline.raw.landing import fingerprint, landing_path, scan

FIRST, LAST = dt.date(2024, 1, 1), dt.date(2024, 1, 31)
D1, D2 = dt.date(2024, 1, 5), dt.date(2024, 1, 6)


class Digest:
    """fingerprint, counting the files it reads."""

    def __init__(self):
        self.read = []

    def __call__(self, path):
        self.read.append(path.name)
        return fingerprint(path)


def land(landing, source, day, text="id,day\n1,x\n", fmt="csv"):
    path = landing_path(landing, source, day, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def files(landing, sources=("things", "others")):
    good, bad = scan(landing, sources)
    assert not bad
    return good


def look(landing, cursor, digest=None, **kw) -> Plan:
    return plan(files(landing), landing, cursor, FIRST, LAST, digest=digest or Digest(), **kw)


def test_new_files_are_requested_one_request_per_day(tmp_path):
    a = land(tmp_path, "things", D1)
    b = land(tmp_path, "others", D1, "id\n2\n")
    c = land(tmp_path, "things", D2, "id\n3\n")
    digest = Digest()
    result = look(tmp_path, {}, digest)
    assert result.requests == {D1: {"things": fingerprint(a), "others": fingerprint(b)},
                               D2: {"things": fingerprint(c)}}
    assert sorted(digest.read) == ["2024-01-05.csv", "2024-01-05.csv", "2024-01-06.csv"]
    stat = a.stat()
    assert result.cursor["things/2024-01-05.csv"] == [stat.st_size, stat.st_mtime_ns, fingerprint(a)]
    assert set(result.cursor) == {"things/2024-01-05.csv", "others/2024-01-05.csv", "things/2024-01-06.csv"}
    assert result.outside == []


def test_unchanged_size_and_mtime_are_not_read_again(tmp_path):
    land(tmp_path, "things", D1)
    land(tmp_path, "things", D2, "id\n3\n")
    first = look(tmp_path, {})
    digest = Digest()
    again = look(tmp_path, first.cursor, digest)
    assert digest.read == []
    assert again.requests == {}
    assert again.cursor == first.cursor


def test_same_size_and_mtime_hide_a_change_by_design(tmp_path):
    # The cursor trusts size and mtime: a rewrite that keeps both is not read.
    path = land(tmp_path, "things", D1, "id\n1\n")
    first = look(tmp_path, {})
    stat = path.stat()
    path.write_text("id\n2\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    digest = Digest()
    assert look(tmp_path, first.cursor, digest).requests == {}
    assert digest.read == []


def test_changed_content_is_requested_again(tmp_path):
    path = land(tmp_path, "things", D1, "id\n1\n")
    land(tmp_path, "things", D2, "id\n3\n")
    first = look(tmp_path, {})
    path.write_text("id\n1\n2\n")
    digest = Digest()
    again = look(tmp_path, first.cursor, digest)
    assert digest.read == ["2024-01-05.csv"]
    assert again.requests == {D1: {"things": fingerprint(path)}}
    assert again.cursor["things/2024-01-05.csv"][2] == fingerprint(path) != \
        first.cursor["things/2024-01-05.csv"][2]
    assert run_key(D1, again.requests[D1]) != run_key(D1, first.requests[D1])


def test_touched_but_same_content_is_not_requested(tmp_path):
    path = land(tmp_path, "things", D1)
    first = look(tmp_path, {})
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    digest = Digest()
    again = look(tmp_path, first.cursor, digest)
    assert digest.read == ["2024-01-05.csv"]  # read, since the mtime moved
    assert again.requests == {}
    # the cursor takes the new mtime, so the next look does not read it again
    assert again.cursor["things/2024-01-05.csv"] == [stat.st_size, stat.st_mtime_ns + 5_000_000_000,
                                                     first.cursor["things/2024-01-05.csv"][2]]
    digest = Digest()
    assert look(tmp_path, again.cursor, digest).requests == {} and digest.read == []


def test_files_outside_first_and_last_day_are_listed_not_requested(tmp_path):
    land(tmp_path, "things", FIRST)
    land(tmp_path, "things", LAST)
    land(tmp_path, "things", FIRST - dt.timedelta(days=1))
    land(tmp_path, "others", LAST + dt.timedelta(days=1))
    digest = Digest()
    result = look(tmp_path, {}, digest)
    assert set(result.requests) == {FIRST, LAST}
    assert [(f.source, f.datestamp) for f in result.outside] == [
        ("things", dt.date(2023, 12, 31)), ("others", dt.date(2024, 2, 1))]
    assert "things/2023-12-31.csv" not in result.cursor and "others/2024-02-01.csv" not in result.cursor
    assert "2023-12-31.csv" not in digest.read and "2024-02-01.csv" not in digest.read


def test_without_a_cursor_already_loaded_partitions_are_skipped(tmp_path):
    land(tmp_path, "things", D1)
    land(tmp_path, "things", D2, "id\n3\n")
    land(tmp_path, "others", D1, "id\n4\n")
    asked = []

    def already_loaded(source):
        asked.append(source)
        return {D1.isoformat()} if source == "things" else set()

    result = look(tmp_path, None, already_loaded=already_loaded)
    assert set(result.requests) == {D1, D2}
    assert result.requests[D1].keys() == {"others"}
    assert result.requests[D2].keys() == {"things"}
    assert sorted(asked) == ["others", "things"]  # once per source, not per file
    # skipped files are in the cursor all the same, so they are not taken as new next time
    assert "things/2024-01-05.csv" in result.cursor
    assert look(tmp_path, result.cursor, already_loaded=already_loaded).requests == {}


def test_with_a_cursor_already_loaded_is_not_asked(tmp_path):
    land(tmp_path, "things", D1)

    def already_loaded(source):
        raise AssertionError("asked with a cursor")

    result = look(tmp_path, {}, already_loaded=already_loaded)
    assert result.requests.keys() == {D1}


def test_default_digest_is_the_fingerprint(tmp_path):
    path = land(tmp_path, "things", D1)
    result = plan(files(tmp_path), tmp_path, None, FIRST, LAST)
    assert result.requests == {D1: {"things": fingerprint(path)}}


def test_a_removed_file_leaves_the_cursor(tmp_path):
    gone = land(tmp_path, "things", D1)
    land(tmp_path, "things", D2, "id\n3\n")
    first = look(tmp_path, {})
    gone.unlink()
    again = look(tmp_path, first.cursor)
    assert set(again.cursor) == {"things/2024-01-06.csv"} and again.requests == {}


def test_run_key_is_stable_and_content_sensitive():
    shas = {"things": "a" * 64, "others": "b" * 64}
    key = run_key(D1, shas)
    assert key.startswith("2024-01-05:") and len(key) == len("2024-01-05:") + 16
    assert run_key(D1, dict(reversed(list(shas.items())))) == key  # order of sources does not matter
    assert run_key(D1, dict(shas)) == key
    assert run_key(D2, shas).removeprefix("2024-01-06:") == key.removeprefix("2024-01-05:")
    assert run_key(D2, shas) != key
    assert run_key(D1, {**shas, "things": "c" * 64}) != key
    assert run_key(D1, {"things": "a" * 64}) != key
    # a source's name is part of the key, not only the contents
    assert run_key(D1, {"things": "a" * 64}) != run_key(D1, {"others": "a" * 64})


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_parquet_and_csv_files_are_planned_alike(tmp_path, fmt):
    path = land(tmp_path, "things", D1, fmt=fmt)
    assert look(tmp_path, {}).cursor.keys() == {f"things/2024-01-05.{fmt}"}
    assert look(tmp_path, {}).requests == {D1: {"things": fingerprint(path)}}
