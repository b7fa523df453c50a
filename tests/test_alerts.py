"""E-mail alerts against a real SMTP server (aiosmtpd): the resource over plain SMTP, STARTTLS with a
login and SSL, and the sensors for failed runs, failed checks and a moving champion; a challenger
the gate refuses is one e-mail about that decision, from a run that succeeded."""

import ssl
import subprocess

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import (
    GRID,
    PROMOTION,
    SELECTION,
    TEMPORAL,
    Inbox,
    copy_promoted,
    free_port,
    make_project,
    write_config,
)
from prodline.assets.keys import CHALLENGER, CHAMPION
from prodline.config import load_config
from prodline.definitions import build_definitions
from prodline.pipeline.champion.records import record_promotion
from prodline.resources import alerts_of, model_store_of, warehouse_of
from prodline.resources.alerts import AlertsResource
from prodline.resources.stores import WarehouseResource
from prodline.sensors.alerts import (
    alert_sensors,
    check_failure_alerts,
    check_failure_message,
    promotion_alerts,
    run_failure_alerts,
)

ALERTS = {
    "base_url": "http://dagster.example:3000",
    "sender": "prodline@example.org",
    "recipients": {
        "run_failure": ["ops@example.org"],
        "check_failure": ["data@example.org"],
        "promotion": ["leads@example.org", "ops@example.org"],
    },
}


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
        timeout=60,
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
        "actor": "dagster run r",
        "reason": "passed the promotion gate",
        "gate_passed": True,
        "forced": False,
    }
    record_promotion(
        warehouse, {**row, "kind": "promotion", "from_version": None, "to_version": "1", "value": 0.5}
    )
    cursor = tick()
    assert cursor is not None and not inbox.messages  # history is not news
    record_promotion(
        warehouse, {**row, "kind": "promotion", "from_version": "1", "to_version": "2", "value": 0.6}
    )
    record_promotion(warehouse, {**row, "kind": "rollback", "from_version": "2", "to_version": "1",
                                 "value": None, "actor": "alice", "reason": "a bad week", "forced": True})
    cursor = tick(cursor)
    assert [m["Subject"] for _, m in inbox.messages] == [
        "[prodline unemployment] risk version 2 promoted to champion",
        "[prodline unemployment] risk version 1 rolled back to champion",
    ]
    assert inbox.messages[0][0] == ["leads@example.org", "ops@example.org"]
    promoted, rolled_back = (m.get_content().splitlines() for _, m in inbox.messages)
    assert "From version: 1" in promoted[1]  # ">From": mailbox format quotes a line starting "From "
    assert promoted[4:6] == ["By: dagster run r", "Why: passed the promotion gate"]
    assert not any("Forced" in line for line in promoted)
    assert rolled_back[4:7] == ["By: alice", "Why: a bad week",
                                "Forced: the promotion gate was overridden for this version."]
    tick(cursor)
    assert len(inbox.messages) == 2


def test_definitions_carry_the_alert_sensors_and_the_server(tmp_path, monkeypatch):
    config = make_project(tmp_path, monkeypatch, temporal=TEMPORAL, grid=GRID, selection=SELECTION,
                          scoring={"top_n": [10], "percentiles": [10, 50]}, promotion=PROMOTION,
                          alerts=ALERTS)
    defs = build_definitions(config)
    names = {s.name for s in defs.sensors}
    assert {"run_failure_alerts", "check_failure_alerts", "promotion_alerts", "tick_failure_alerts"} <= names
    assert isinstance(defs.resources["alerts"], AlertsResource)
    quiet = build_definitions(make_project(tmp_path / "other", monkeypatch))
    assert not {"run_failure_alerts", "check_failure_alerts", "tick_failure_alerts"} & {
        s.name for s in quiet.sensors}


def test_a_refusal_gives_its_reasons_before_the_other_failed_checks(tmp_path):
    config = load_config(write_config(tmp_path, alerts=ALERTS))
    gate = {"model_name": "risk", "challenger_version": "3", "champion_version": "2"}

    def failed(check: str, severity: str, why: str, metadata: dict) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(asset_key=CHALLENGER, check_name=check, passed=False,
                                       metadata=metadata, severity=dg.AssetCheckSeverity[severity],
                                       description=why)

    subject, body = check_failure_message(config, None, [
        failed("top_list_is_stable", "WARN", "top 50_pct overlap 0.31, below 0.5", gate),
        failed("challenger_beats_champion", "ERROR", "0.4100 falls short of champion 0.4500", gate),
        failed("rows_are_plenty", "ERROR", "12 rows, fewer than 100", {}),
    ])
    assert subject == "[prodline unemployment] the promotion gate refused risk version 3"
    assert body.splitlines() == [
        "The promotion gate refused version 3 of risk: it was not promoted, and the champion stays "
        "version 2.",
        "",
        "Why:",
        "- challenger_beats_champion: 0.4100 falls short of champion 0.4500",
        "",
        "Other failed checks in the run:",
        "- top_list_is_stable on challenger_model: WARN: top 50_pct overlap 0.31, below 0.5",
        "- rows_are_plenty on challenger_model: ERROR: 12 rows, fewer than 100",
        "",
        "Run: (deleted)",
    ]


def test_a_range_checks_failed_days_are_listed_ten_at_most(tmp_path):
    config = load_config(write_config(tmp_path, alerts=ALERTS))
    days = [f"2024-01-{d:02}" for d in range(1, 13)]
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["raw", "exits"]), check_name="rows_every_day", passed=False,
        metadata={"failed_days": dg.MetadataValue.json(days)}, severity=dg.AssetCheckSeverity.ERROR,
        description="12 day(s) without rows")
    _, body = check_failure_message(config, None, [evaluation])
    assert body.splitlines()[:2] == [
        "- rows_every_day on raw/exits: ERROR: 12 day(s) without rows",
        "  failed on " + ", ".join(days[:10]) + " and 2 more day(s)"]


def test_a_refused_challenger_is_one_email_about_the_decision_from_a_run_that_succeeded(
    smtp, promoted_project, tmp_path, monkeypatch
):
    inbox, alerts = smtp
    with copy_promoted(promoted_project, tmp_path / "project", monkeypatch) as (config, instance):
        store, warehouse = model_store_of(config, literal=True), warehouse_of(config, literal=True)
        # The first challenger, with no champion yet, before a gate that finds it implausible.
        store.client().delete_registered_model_alias("risk", "champion")
        with warehouse.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM production.promotions")
        strict = config.model_copy(update={
            "alerts": load_config(write_config(tmp_path, alerts=ALERTS)).alerts,
            "promotion": config.promotion.model_copy(update={
                "sanity": config.promotion.sanity.model_copy(update={"min_rows": 1_000_000})})})
        sensors = alert_sensors(strict)
        assert [s.name for s in sensors] == ["run_failure_alerts", "check_failure_alerts", "promotion_alerts"]
        resources = {"alerts": alerts, "warehouse": WarehouseResource(url=warehouse.url)}

        def tick(cursors: dict) -> dict:
            """Every alert sensor evaluated once against the instance, as the daemon would."""
            after = {}
            for sensor in sensors:
                context = dg.build_sensor_context(instance=instance, cursor=cursors.get(sensor.name),
                                                  resources=resources)
                sensor.evaluate_tick(context)
                after[sensor.name] = context.cursor
            return after

        cursors = tick({})  # the first look: history is not news
        result = build_definitions(strict).resolve_job_def("promote_model").execute_in_process(
            instance=instance, raise_on_error=False)

        # The run succeeded: no failed step, no error anywhere in its log.
        assert result.success and result.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        logs = instance.all_logs(result.run_id)
        assert not [e for e in logs if e.dagster_event and e.dagster_event.is_step_failure]
        assert not [e for e in logs if e.level >= 40 or "Stack Trace" in (e.message or "")]
        # The refusal is the failed check on challenger_model, with the version and its evidence.
        [refusal] = [e.event_specific_data for e in result.all_events
                     if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
                     and not e.event_specific_data.passed]
        assert (refusal.asset_key, refusal.check_name) == (CHALLENGER, "challenger_is_plausible")
        assert refusal.severity == dg.AssetCheckSeverity.ERROR
        assert refusal.description.endswith("labeled test rows, fewer than 1000000")
        assert refusal.metadata["challenger_version"].value == "1"
        assert refusal.metadata["evidence"].value["min_rows"] == 1_000_000
        # champion_model was not materialized and did not fail: its step succeeded, saying why.
        materialized = [e.event_specific_data.materialization.asset_key
                        for e in result.get_asset_materialization_events()]
        assert materialized == [CHALLENGER]
        steps = {s.step_key: s.status.value for s in instance.get_run_step_stats(result.run_id)}
        assert steps == {"challenger_model": "SUCCESS", "champion_model": "SUCCESS"}
        said = [e.user_message for e in logs if e.step_key == "champion_model" and not e.dagster_event]
        assert said == ["not promoted: version 1 failed the promotion gate: sanity: "
                        f"{refusal.description}. The champion stays unset: there is no champion yet."]
        assert store.alias("risk", "champion") is None
        assert instance.get_latest_materialization_event(CHAMPION).run_id != result.run_id

        # Exactly one e-mail: the decision, naming the version and the reason; no failed-run alert.
        tick(cursors)
        [(to, message)] = inbox.messages
        assert to == ["data@example.org"]
        assert message["Subject"] == "[prodline unemployment] the promotion gate refused risk version 1"
        lines = message.get_content().splitlines()  # SMTP carries CRLF line ends
        assert lines[:4] == [
            "The promotion gate refused version 1 of risk: it was not promoted, and the project has no "
            "champion yet (no lists are made until a challenger passes).",
            "",
            "Why:",
            f"- challenger_is_plausible: {refusal.description}",
        ]
        assert lines[-2:] == [f"Run: {result.run_id}", f"Open it: http://dagster.example:3000/runs/{result.run_id}"]

        # The same ticks do report a run that fails.
        cursors = tick(tick({}))
        assert not dg.materialize([fragile], instance=instance, partition_key="2024-01-05",
                                  raise_on_error=False).success
        tick(cursors)
        assert [m["Subject"] for _, m in inbox.messages][1:] == [
            "[prodline unemployment] run failed: __ephemeral_asset_job__ (2024-01-05)"]
