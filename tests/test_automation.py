"""Automation: matured labels are asked for by a sensor, retraining follows the update period
(declarative automation of monitoring is tested with the promoted project, in
test_promotion_assets)."""


import dagster as dg
import pytest

from conftest import AS_OF_LAST, build, make_project
from prodline.assets.keys import COHORT, LABELS, feature_key
from prodline.config import load_config
from prodline.definitions import build_definitions
from prodline.runs import as_of_plan, run_range
from prodline.schedules import period_cron
from prodline.sensors import matured_labels_sensor


@pytest.mark.parametrize(("every", "cron"), [
    ("1 month", "0 4 1 * *"), ("6 months", "0 4 1 */6 *"), ("1 year", "0 4 1 */12 *"),
    ("2 weeks", "0 4 * * 1"), ("1 day", "0 4 * * *"), ("5 months", "0 4 1 * *"),
])
def test_retraining_runs_once_per_update_period(every, cron):
    temporal = load_config().temporal.model_copy(update={"model_update_frequency": every})
    temporal = type(temporal).model_validate(temporal.model_dump())
    assert period_cron(temporal) == cron


def test_labels_are_asked_for_once_their_window_is_loaded(tmp_path, monkeypatch):
    config = make_project(tmp_path, monkeypatch)
    with dg.instance_for_test() as instance:
        build(config, instance, selection=[COHORT, *(feature_key(f.prefix) for f in config.features)])
        job = build_definitions(config).resolve_job_def("build_as_of")
        sensor = matured_labels_sensor(job, config)
        resources = {"warehouse": build_definitions(config).resources["warehouse"]}
        request = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        _, mature = as_of_plan(config, AS_OF_LAST)
        assert isinstance(request, dg.RunRequest) and request.asset_selection == [LABELS]
        assert (request.tags["dagster/asset_partition_range_start"],
                request.tags["dagster/asset_partition_range_end"]) == (str(mature[0]), str(mature[-1]))
        assert run_range(config, instance, "build_as_of", mature[0], mature[-1], [LABELS]).success
        skipped = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(skipped, dg.SkipReason) and "still maturing" in skipped.skip_message
