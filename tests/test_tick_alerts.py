"""E-mails about sensors and schedules that fail to tick, against a real SMTP server (aiosmtpd): the
ticks are made by Dagster's own sensor and scheduler daemons, one iteration at a time, on a SQLite
instance, with the code location loaded in this process."""

import datetime as dt
import logging
import textwrap
from contextlib import contextmanager

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs

from conftest import Inbox, free_port, write_config
from prodline.config import load_config
from prodline.config.alerts import RecipientsConfig
from prodline.sensors.tick_alerts import NAME, error_summary, tick_failure_alerts

ALERTS = {"base_url": "http://dagster.example:3000", "minimum_interval_seconds": 30,
          "recipients": {"run_failure": ["ops@example.org"], "check_failure": ["data@example.org"]}}

# The code location the daemons load: a sensor that fails while the file `broken` exists (with its
# text as the error), a schedule that always fails, and the tick alerts sending to the test's server.
LOCATION = textwrap.dedent('''
    import pathlib

    import dagster as dg

    from prodline.config import load_config
    from prodline.resources.alerts import AlertsResource
    from prodline.sensors.tick_alerts import tick_failure_alerts

    HERE = pathlib.Path(__file__).parent


    @dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
    def landing_watch():
        if (HERE / "broken").exists():
            raise ConnectionError((HERE / "broken").read_text())
        return dg.SkipReason("no new files")


    @dg.op
    def nothing():
        pass


    @dg.job
    def nightly_job():
        nothing()


    @dg.schedule(cron_schedule="* * * * *", job=nightly_job, default_status=dg.DefaultScheduleStatus.RUNNING)
    def nightly():
        raise KeyError("the source database has no table exits")


    defs = dg.Definitions(
        sensors=[landing_watch, tick_failure_alerts(load_config(HERE / "prodline.yaml"))],
        schedules=[nightly],
        resources={"alerts": AlertsResource(host="127.0.0.1", port=PORT)},
    )
''')


@contextmanager
def daemons(folder, instance):
    """One iteration of the sensor daemon, or of the scheduler, at a given time, as `dagster-daemon`
    runs them (without thread pools: one tick after another)."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(folder / "location.py"), attribute="defs"),
        location_name="ticks")
    with create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as workspace:
        logger = logging.getLogger("tick_alerts_test")

        def iterate(at: dt.datetime, schedules: bool = False):
            with freeze_time(at):
                if schedules:
                    list(launch_scheduled_runs(workspace, logger, at, {}))
                list(execute_sensor_iteration(workspace, logger, None, None))

        yield iterate


def subjects(inbox) -> list[str]:
    return [m["Subject"] for _, m in inbox.messages]


def test_a_failing_sensor_and_schedule_are_each_e_mailed_once_and_their_recovery_too(smtp, tmp_path):
    inbox, alerts = smtp
    write_config(tmp_path, alerts=ALERTS)
    (tmp_path / "location.py").write_text(LOCATION.replace("PORT", str(alerts.port)))
    broken = tmp_path / "broken"
    broken.write_text("the landing folder /mnt/in is not mounted\n"
                      + "".join(f"line {i}\n" for i in range(9)))
    start = dt.datetime.now(dt.UTC).replace(second=10, microsecond=0)
    minute = dt.timedelta(minutes=1)
    with dg.instance_for_test() as instance, daemons(tmp_path, instance) as iterate:
        iterate(start, schedules=True)  # the schedule starts now: its first tick is at the next minute
        iterate(start + minute, schedules=True)
        iterate(start + 2 * minute)
        failed = "[prodline unemployment] sensor landing_watch failed to tick"
        assert sorted(subjects(inbox)) == [
            "[prodline unemployment] schedule nightly failed to tick", failed]
        assert {tuple(to) for to, _ in inbox.messages} == {("ops@example.org",)}  # where runs go
        body = next(m for _, m in inbox.messages if m["Subject"] == failed).get_content().splitlines()
        failures = instance.get_ticks(*_ids(instance, "landing_watch"), statuses=[TickStatus.FAILURE])
        assert body[1] in [f"When: {dt.datetime.fromtimestamp(t.timestamp, dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
                           for t in failures]
        assert body[:5] == [
            "Sensor: landing_watch",
            body[1],
            "Open it: http://dagster.example:3000/locations/ticks/sensors/landing_watch",
            "",
            "Error:",
        ]
        # The error's own first lines, not Dagster's wrapping nor the traceback.
        assert body[5:12] == ["  ConnectionError: the landing folder /mnt/in is not mounted"] + [
            f"  line {i}" for i in range(5)] + ["  ..."]
        assert not [line for line in body if "Traceback" in line or "SensorExecutionError" in line]
        schedule = next(m for _, m in inbox.messages if "schedule" in m["Subject"]).get_content()
        assert "  KeyError: 'the source database has no table exits'" in schedule.splitlines()

        # The same failures again: nothing new. Another error: a message.
        iterate(start + 3 * minute, schedules=True)
        assert len(inbox.messages) == 2
        broken.write_text("permission denied: /mnt/in")
        iterate(start + 4 * minute)
        iterate(start + 5 * minute)
        assert subjects(inbox)[2:] == [failed]
        assert "  ConnectionError: permission denied: /mnt/in" in inbox.messages[2][1].get_content()

        # It ticks again: one message saying so.
        broken.unlink()
        iterate(start + 6 * minute)
        iterate(start + 7 * minute)
        assert subjects(inbox)[3:] == ["[prodline unemployment] sensor landing_watch ticks again"]
        assert not [s for s in subjects(inbox) if NAME in s]


def test_a_failure_while_the_mail_server_is_down_is_sent_later_and_never_about_itself(tmp_path):
    inbox, port = Inbox(), free_port()
    write_config(tmp_path, alerts=ALERTS)
    (tmp_path / "location.py").write_text(LOCATION.replace("PORT", str(port)))
    start = dt.datetime.now(dt.UTC).replace(second=10, microsecond=0)
    minute = dt.timedelta(minutes=1)
    with dg.instance_for_test() as instance, daemons(tmp_path, instance) as iterate:
        iterate(start)  # no server yet, nothing to send
        (tmp_path / "broken").write_text("the landing folder /mnt/in is not mounted")
        iterate(start + minute)
        iterate(start + 2 * minute)
        [own] = instance.get_ticks(*_ids(instance, NAME), limit=1)
        assert own.status == TickStatus.FAILURE and "Connection refused" in str(own.error)
        server = Controller(inbox, hostname="127.0.0.1", port=port)
        server.start()
        try:
            iterate(start + 3 * minute)
            iterate(start + 4 * minute)
        finally:
            server.stop()
        assert subjects(inbox) == ["[prodline unemployment] sensor landing_watch failed to tick"]


def _ids(instance, name: str) -> tuple[str, str]:
    """The origin and selector ids the daemon keeps an instigator's ticks under."""
    [state] = [s for s in instance.all_instigator_state() if s.instigator_name == name]
    return state.instigator_origin_id, state.selector_id


def test_tick_failures_go_where_run_failures_go_unless_named():
    assert RecipientsConfig(run_failure=["ops@x.org"]).tick_failure == ["ops@x.org"]
    assert RecipientsConfig(run_failure=["ops@x.org"], tick_failure=[]).tick_failure == []
    assert error_summary(None) == "(no error recorded)"


def test_outside_the_daemon_it_says_how_to_run_it(tmp_path, smtp):
    sensor = tick_failure_alerts(load_config(write_config(tmp_path, alerts=ALERTS)))
    with dg.instance_for_test() as instance, pytest.raises(Exception, match="through Dagster's daemon"):
        sensor(dg.build_sensor_context(instance=instance, resources={"alerts": smtp[1]}))
