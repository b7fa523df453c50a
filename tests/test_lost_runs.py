"""A run that Dagster lost before any step failed, and will not retry (its launch, or its retry, died
with the code server), is asked for again once, for the assets and partition it planned; a run whose
step failed, a command's run and one already asked for again are left alone."""

import dagster as dg

from prodline.sensors.lost_runs import ATTEMPT_TAG, FROM_TAG, MAX_RESUBMISSIONS, lost_runs_sensor

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01")


@dg.asset(partitions_def=DAYS)
def registrations() -> None:
    pass


@dg.asset(partitions_def=DAYS)
def refused() -> None:
    raise ValueError("line 2: no date")


DEFS = dg.Definitions(assets=[registrations, refused])


def launched(instance, asset, day: str, **tags) -> dg.DagsterRun:
    """A run as the daemon creates it (its planned events written), which then fails before any
    step ran, and which Dagster's run retries gave up on."""
    job = DEFS.resolve_implicit_global_asset_job_def().get_subset(asset_selection={asset.key})
    run = instance.create_run_for_job(job, tags={"dagster/partition": day, "prodline/trigger": "landing",
                                                 **tags}, asset_selection=frozenset({asset.key}))
    instance.report_run_failed(run)
    instance.add_run_tags(run.run_id, {"dagster/will_retry": "false"})
    return run


def tick(instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=DEFS)
    return lost_runs_sensor()(context), context.cursor


def test_a_lost_run_is_asked_for_again_once_for_what_it_planned(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        skipped, cursor = tick(instance, None)
        assert skipped.skip_message == "no lost run"
        lost = launched(instance, registrations, "2024-05-23")
        [request], cursor = tick(instance, cursor)
        assert request.asset_selection == [registrations.key]
        assert request.partition_key == "2024-05-23"
        assert request.tags == {"prodline/trigger": "landing", FROM_TAG: lost.run_id, ATTEMPT_TAG: "1"}
        # Asked for once: the run it asked for exists now (as the daemon launches it), and fails too.
        again = launched(instance, registrations, "2024-05-23", **{FROM_TAG: lost.run_id, ATTEMPT_TAG: "1"})
        [request], cursor = tick(instance, cursor)
        assert request.tags[FROM_TAG] == again.run_id and request.tags[ATTEMPT_TAG] == "2"
        last = launched(instance, registrations, "2024-05-23",
                        **{FROM_TAG: again.run_id, ATTEMPT_TAG: str(MAX_RESUBMISSIONS)})
        skipped, cursor = tick(instance, cursor)
        assert skipped.skip_message == "no lost run", last.run_id  # at most MAX_RESUBMISSIONS times


def test_a_failed_step_a_commands_run_and_a_run_dagster_retries_are_left_alone(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        _, cursor = tick(instance, None)
        failed = dg.materialize([refused], instance=instance, partition_key="2024-05-23",
                                raise_on_error=False)
        assert not failed.success
        instance.add_run_tags(failed.run_id, {"dagster/will_retry": "false"})
        launched(instance, registrations, "2024-05-24", **{"prodline/trigger": "cli"})
        retried = launched(instance, registrations, "2024-05-25")
        instance.add_run_tags(retried.run_id, {"dagster/will_retry": "true"})
        skipped, _ = tick(instance, cursor)
        assert skipped.skip_message == "no lost run"
