"""E-mail alerts against a real SMTP server (aiosmtpd): the resource over plain SMTP, STARTTLS with a
login and SSL, and the sensors for failed runs, failed checks and a moving champion."""

import email
import email.policy
import ssl
import subprocess

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import GRID, PROMOTION, SELECTION, TEMPORAL, free_port, make_project, write_config
from prodline.config import load_config
from prodline.definitions import build_definitions
from prodline.pipeline.champion.records import record_promotion
from prodline.resources import alerts_of
from prodline.resources.alerts import AlertsResource
from prodline.resources.stores import WarehouseResource
from prodline.sensors.alerts import check_failure_alerts, promotion_alerts, run_failure_alerts

ALERTS = {
    "base_url": "http://dagster.example:3000",
    "sender": "prodline@example.org",
    "recipients": {
        "run_failure": ["ops@example.org"],
        "check_failure": ["data@example.org"],
        "promotion": ["leads@example.org", "ops@example.org"],
    },
}


class Inbox:
    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, parsed))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, AlertsResource(host="127.0.0.1", port=port, sender="prodline@example.org")
    controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context, str(folder / "cert.pem")


def only_user(server, session, envelope, mechanism, auth_data):
    # handled=False: the server answers a refusal itself (535)
    right = auth_data.login == b"prodline" and auth_data.password == b"s3cret"
    return AuthResult(success=right, handled=False)


def test_plain_smtp_without_login(smtp):
    inbox, alerts = smtp
    alerts.send(["a@example.org", "b@example.org"], "a subject", "a body\n")
    [(to, message)] = inbox.messages
    assert to == ["a@example.org", "b@example.org"]
    assert message["Subject"] == "a subject" and message["From"] == "prodline@example.org"
    assert message.get_content().splitlines() == ["a body"]  # SMTP carries CRLF line ends


def test_starttls_with_a_login(certificate):
    context, ca = certificate
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=only_user,
        auth_require_tls=True,
    )
    controller.start()
    try:
        alerts = AlertsResource(
            host="127.0.0.1",
            port=port,
            security="starttls",
            username="prodline",
            password="s3cret",
            ca_file=ca,
        )
        alerts.send(["a@example.org"], "over TLS", "body")
        assert [m["Subject"] for _, m in inbox.messages] == ["over TLS"]
        wrong = AlertsResource(
            host="127.0.0.1", port=port, security="starttls", username="prodline", password="nope", ca_file=ca
        )
        with pytest.raises(Exception, match="535"):
            wrong.send(["a@example.org"], "never", "body")
        plain = AlertsResource(host="127.0.0.1", port=port)  # the server insists on STARTTLS
        with pytest.raises(Exception, match="STARTTLS"):
            plain.send(["a@example.org"], "never", "body")
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_ssl_from_the_first_byte(certificate):
    context, ca = certificate
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        AlertsResource(host="127.0.0.1", port=port, security="ssl", ca_file=ca).send(
            ["a@example.org"], "ssl", "b"
        )
        assert [m["Subject"] for _, m in inbox.messages] == ["ssl"]
    finally:
        controller.stop()


def test_settings_come_from_the_environment(tmp_path):
    config = load_config(write_config(tmp_path, alerts=ALERTS))
    alerts = alerts_of(
        config,
        {
            "PRODLINE_SMTP_HOST": "mail.example.org",
            "PRODLINE_SMTP_PORT": "587",
            "PRODLINE_SMTP_SECURITY": "starttls",
            "PRODLINE_SMTP_USER": "u",
            "PRODLINE_SMTP_PASSWORD": "p",
        },
    )
    assert (alerts.host, alerts.port, alerts.security, alerts.username) == (
        "mail.example.org",
        587,
        "starttls",
        "u",
    )
    assert isinstance(alerts.password, dg.EnvVar) and alerts.sender == "prodline@example.org"
    assert alerts_of(config, {}).username is None


@dg.asset(partitions_def=dg.DailyPartitionsDefinition("2024-01-01"))
def fragile(context: dg.AssetExecutionContext):
    raise ValueError(f"the source for {context.partition_key} is unreachable")


def test_a_failed_run_is_reported_once_with_its_step_error_and_a_link(smtp, tmp_path):
    inbox, alerts = smtp
    config = load_config(write_config(tmp_path, alerts=ALERTS))
    sensor = run_failure_alerts(config)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [fragile], instance=instance, partition_key="2024-01-05", raise_on_error=False
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={"alerts": alerts},
        )
        sensor(context.for_run_failure())
        [(to, message)] = inbox.messages
        assert to == ["ops@example.org"]
        subject = "[prodline unemployment] run failed: __ephemeral_asset_job__ (2024-01-05)"
        assert message["Subject"] == subject
        body = message.get_content()
        assert "- fragile: ValueError: the source for 2024-01-05 is unreachable" in body
        assert f"Open it: http://dagster.example:3000/runs/{result.run_id}" in body
        # A run that Dagster will retry is reported by its last try, not now.
        retried = result.dagster_run.with_tags({**result.dagster_run.tags, "dagster/will_retry": "true"})
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=retried,
            dagster_event=failure,
            resources={"alerts": alerts},
        )
        sensor(context.for_run_failure())
        assert len(inbox.messages) == 1


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("rows_are_plenty", asset="counted"),
        dg.AssetCheckSpec("keys_are_unique", asset="counted"),
    ]
)
def counted():
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(
        check_name="rows_are_plenty",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="12 rows, fewer than 100",
    )
    yield dg.AssetCheckResult(check_name="keys_are_unique", passed=True)


def test_failed_checks_are_reported_once_per_run_after_the_cursor(smtp, tmp_path):
    inbox, alerts = smtp
    config = load_config(write_config(tmp_path, alerts=ALERTS))
    sensor = check_failure_alerts(config)
    with dg.instance_for_test() as instance:
        dg.materialize([counted], instance=instance)  # before the sensor's first look: history
        context = dg.build_sensor_context(instance=instance, resources={"alerts": alerts})
        sensor(context)
        assert context.cursor is not None and not inbox.messages
        run = dg.materialize([counted], instance=instance)
        context = dg.build_sensor_context(
            instance=instance, cursor=context.cursor, resources={"alerts": alerts}
        )
        sensor(context)
        [(to, message)] = inbox.messages
        assert to == ["data@example.org"]
        assert message["Subject"] == "[prodline unemployment] 1 check(s) failed in __ephemeral_asset_job__"
        body = message.get_content()
        assert "- rows_are_plenty on counted: WARN: 12 rows, fewer than 100" in body
        assert f"/runs/{run.run_id}" in body and "keys_are_unique" not in body
        context = dg.build_sensor_context(
            instance=instance, cursor=context.cursor, resources={"alerts": alerts}
        )
        sensor(context)
        assert len(inbox.messages) == 1  # nothing new, nothing sent


def test_a_promotion_and_a_rollback_are_each_reported(smtp, tmp_path, monkeypatch):
    inbox, alerts = smtp
    config = make_project(tmp_path, monkeypatch, temporal=TEMPORAL, grid=GRID, selection=SELECTION,
                          scoring={"top_n": [10], "percentiles": [10, 50]},
                          promotion=PROMOTION, alerts=ALERTS)
    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    sensor = promotion_alerts(config)

    def tick(cursor=None):
        context = dg.build_sensor_context(cursor=cursor, resources={"alerts": alerts, "warehouse": warehouse})
        sensor(context)
        return context.cursor

    row = {
        "model_name": "risk",
        "run_id": "r",
        "model_group_id": "g",
        "metric": "precision@5_pct",
        "evidence": "{}",
    }
    record_promotion(
        warehouse, {**row, "kind": "promotion", "from_version": None, "to_version": "1", "value": 0.5}
    )
    cursor = tick()
    assert cursor is not None and not inbox.messages  # history is not news
    record_promotion(
        warehouse, {**row, "kind": "promotion", "from_version": "1", "to_version": "2", "value": 0.6}
    )
    record_promotion(
        warehouse, {**row, "kind": "rollback", "from_version": "2", "to_version": "1", "value": None}
    )
    cursor = tick(cursor)
    assert [m["Subject"] for _, m in inbox.messages] == [
        "[prodline unemployment] risk version 2 promoted to champion",
        "[prodline unemployment] risk version 1 rolled back to champion",
    ]
    assert inbox.messages[0][0] == ["leads@example.org", "ops@example.org"]
    assert "From version: 1" in inbox.messages[0][1].get_content()
    tick(cursor)
    assert len(inbox.messages) == 2


def test_definitions_carry_the_alert_sensors_and_the_server(tmp_path, monkeypatch):
    config = make_project(tmp_path, monkeypatch, temporal=TEMPORAL, grid=GRID, selection=SELECTION,
                          scoring={"top_n": [10], "percentiles": [10, 50]}, promotion=PROMOTION,
                          alerts=ALERTS)
    defs = build_definitions(config)
    names = {s.name for s in defs.sensors}
    assert {"run_failure_alerts", "check_failure_alerts", "promotion_alerts"} <= names
    assert isinstance(defs.resources["alerts"], AlertsResource)
    quiet = build_definitions(make_project(tmp_path / "other", monkeypatch))
    assert not {"run_failure_alerts", "check_failure_alerts"} & {s.name for s in quiet.sensors}
