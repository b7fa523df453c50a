"""The landing sensor requests each new or changed file's partition exactly once."""

import datetime as dt
import json
import os

import dagster as dg

from conftest import START
from prodline.assets.keys import raw_key
from prodline.definitions import build_definitions
from prodline.home import home_of
from prodline.runs import load_range


def _tick(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def("new_landing_files")
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      definitions=defs, resources=defs.resources)
    result = sensor.evaluate_tick(context)
    return result.run_requests, result.cursor, result.skip_message


def test_new_changed_and_unchanged_files(project, instance):
    defs = build_definitions(project)
    requests, cursor, _ = _tick(defs, instance, cursor=json.dumps({}))
    assert [r.partition_key for r in requests] == [
        (START + dt.timedelta(days=i)).isoformat() for i in range(10)]
    assert set(requests[0].asset_selection) == {raw_key(s) for s in project.sources}
    assert len(json.loads(cursor)) == 30

    again, cursor2, skip = _tick(defs, instance, cursor)
    assert again == [] and "no new files" in skip

    changed = home_of(project).landing / "exits" / "2024-01-03.csv"
    changed.write_text(changed.read_text() + "999999,1,2024-01-03,employed\n")
    third, cursor3, _ = _tick(defs, instance, cursor2)
    assert [(r.partition_key, r.asset_selection) for r in third] == [
        ("2024-01-03", [raw_key("exits")])]
    assert third[0].run_key != requests[2].run_key

    # rewritten with the same bytes: the mtime changes, the content hash does not
    changed.write_text(changed.read_text())
    fourth, _, _ = _tick(defs, instance, cursor3)
    assert fourth == []


def test_first_tick_adopts_partitions_already_loaded(project, instance):
    assert load_range(project, instance, START, START + dt.timedelta(days=4)).success
    requests, _, _ = _tick(build_definitions(project), instance, cursor=None)
    assert [r.partition_key for r in requests] == [
        (START + dt.timedelta(days=i)).isoformat() for i in range(5, 10)]


def test_files_outside_the_partitions_are_quarantined(project, instance):
    landing = home_of(project).landing
    late = landing / "exits" / "2030-01-01.csv"
    late.write_text("exit_id,person_id,exited_on,reason\n")
    misnamed = landing / "exits" / "january.csv"
    misnamed.write_text("exit_id,person_id,exited_on,reason\n")
    requests, _, _ = _tick(build_definitions(project), instance, cursor=json.dumps({}))
    assert len(requests) == 10
    quarantine = home_of(project).quarantine / "exits"
    assert not late.exists() and not misnamed.exists()
    assert "outside the partitions (2024-01-01 to 2024-03-31)" in \
        (quarantine / "2030-01-01.csv.error.txt").read_text()
    assert "'january.csv' is not a date" in (quarantine / "january.csv.error.txt").read_text()


def test_links_and_pipes_are_quarantined_unopened(project, instance, tmp_path):
    landing = home_of(project).landing
    link, pipe = landing / "exits" / "2024-01-03.csv", landing / "exits" / "2024-01-04.csv"
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0\n")
    link.unlink()
    link.symlink_to(secret)
    pipe.unlink()
    os.mkfifo(pipe)  # the tick would hang on hashing it if it were opened
    requests, _, _ = _tick(build_definitions(project), instance, cursor=json.dumps({}))
    exits = [r.partition_key for r in requests if raw_key("exits") in r.asset_selection]
    assert "2024-01-03" not in exits and "2024-01-04" not in exits and len(exits) == 8
    quarantine = home_of(project).quarantine / "exits"
    assert (quarantine / "2024-01-03.csv").is_symlink() and secret.exists()
    assert (quarantine / "2024-01-04.csv.error.txt").read_text().startswith(
        "2024-01-04.csv is a named pipe (FIFO), not a regular file\n")


def test_sensor_runs_by_default(project):
    sensor = build_definitions(project).resolve_sensor_def("new_landing_files")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
