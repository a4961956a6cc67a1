"""The alert sensors over real failed runs: one message per problem, on email (real SMTP
server) and webhook (real HTTP server), never twice when the sensors tick again."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from alchemiser_dagster.control.alert_log import AlertLog
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.notify.settings import AlertSettings
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.pipeline.resources import NotifierResource
from alchemiser_dagster.settings import Settings
from tests.loopback import SmtpSink, WebhookSink, free_port, smtp_server, webhook_server

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 28)
UI = "http://alchemiser.example:3000"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SmtpSink, WebhookSink]]:
    with smtp_server() as smtp, webhook_server() as hook:
        monkeypatch.setenv("TEST_ALERT_WEBHOOK", hook.url)
        yield smtp, hook


def settings_for(tmp_path: Path, smtp: SmtpSink, **overrides: Any) -> Settings:
    alerts = AlertSettings(
        ui_url=UI,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        email_to=("ops@example.com",),
        webhook_url_secret="env:TEST_ALERT_WEBHOOK",
    )
    return Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=D,
        alerts=alerts,
        **overrides,
    )


def run(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    return job.execute_in_process(partition_key=D.isoformat(), instance=instance, raise_on_error=False)


def check_tick(
    settings: Settings, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[dg.SkipReason, str | None]:
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("check_failure_alert_sensor")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        repository_def=defs.get_repository_def(),
        resources={"notifier": defs.resources["notifier"]},
    )
    outcome = sensor(context)
    assert isinstance(outcome, dg.SkipReason)
    return outcome, context.cursor


def failure_tick(settings: Settings, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> None:
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("run_failure_alert_sensor")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"notifier": defs.resources["notifier"]},
    ).for_run_failure()
    sensor(context)


def test_a_failed_blocking_check_is_announced_once(
    tmp_path: Path, servers: tuple[SmtpSink, WebhookSink]
) -> None:
    smtp, hook = servers
    settings = settings_for(tmp_path, smtp, risk={"max_order_usd": "5000"})
    with dg.instance_for_test() as instance:
        result = run(settings, instance)
        assert not result.success

        skip, cursor = check_tick(settings, instance, None)
        assert skip.skip_message == "1 alert(s) sent"
        [message] = smtp.messages
        [posted] = hook.bodies
        assert (
            message["Subject"]
            == f"[alchemiser ERROR] {D}: rebalance_plan / check order_notional_within_limit failed"
        )
        body = message.get_content()
        assert f"Session (partition): {D}" in body and "Check: order_notional_within_limit" in body
        assert "exceeds max_order_usd $5,000.00" in body
        assert f"Open the run: {UI}/runs/{result.run_id}" in body
        assert f"{UI}/runs/{result.run_id}" in posted["text"] and "exceeds max_order_usd" in posted["text"]

        # The sensor ticks again, then with its cursor lost (a reset): nothing is re-sent.
        skip, cursor = check_tick(settings, instance, cursor)
        assert skip.skip_message == "no new failed checks"
        check_tick(settings, instance, None)
        assert len(smtp.messages) == 1 and len(hook.bodies) == 1

        # The run failed only because of that check: the run-failure sensor adds nothing.
        failure_tick(settings, instance, result)
        assert len(smtp.messages) == 1 and len(hook.bodies) == 1
        assert instance.get_run_by_id(result.run_id).tags["alchemiser/outcome"] == "FAILED"  # type: ignore[union-attr]

        # A second failing run of the same day is a new problem: one more alert.
        again = run(settings, instance)
        assert not again.success
        check_tick(settings, instance, cursor)
        assert len(smtp.messages) == 2 and again.run_id in smtp.messages[1].get_content()


def test_a_failed_step_is_announced_with_its_root_cause(
    tmp_path: Path, servers: tuple[SmtpSink, WebhookSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp, hook = servers
    # Paper mode against a broker that is down: the first step to call it (bars) fails.
    monkeypatch.setenv("ALPACA_API_KEY", "PKTEST")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secret")
    settings = settings_for(
        tmp_path, smtp, mode="paper", broker_url=f"http://127.0.0.1:{free_port()}", broker_timeout_seconds=1.0
    )
    with dg.instance_for_test() as instance:
        result = run(settings, instance)
        assert not result.success
        failure_tick(settings, instance, result)
        failure_tick(settings, instance, result)  # the sensor sees the same run again
        check_tick(settings, instance, None)  # no check failed: nothing from the check sensor
        # It failed before execution: the run says so at a glance.
        run_tags = instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
        assert run_tags["alchemiser/outcome"] == "FAILED" and "alchemiser/orders" not in run_tags
    [message] = smtp.messages
    assert message["Subject"] == f"[alchemiser ERROR] {D}: step market_bars failed"
    body = message.get_content()
    assert "Step: market_bars" in body and "BrokerUnavailable" in body
    assert f"{UI}/runs/{result.run_id}" in body
    assert len(hook.bodies) == 1


def test_without_channels_alerts_are_logged(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=D,
        risk={"restricted_symbols": ["TLT"]},  # type: ignore[arg-type]
    )
    with dg.instance_for_test() as instance:
        assert not run(settings, instance).success
        capfd.readouterr()
        check_tick(settings, instance, None)
    logged = capfd.readouterr().err
    assert (
        " - ERROR - [alchemiser ERROR] 2024-06-28: rebalance_plan / check no_restricted_symbols failed"
        in logged
    )
    assert "Reason: TLT: buy of " in logged and "is on the restricted list" in logged
    [record] = AlertLog(settings.storage).for_session(D)
    assert record.delivered == ("log",) and record.alert.check == "no_restricted_symbols"


def test_the_notifier_resource_holds_no_secret(tmp_path: Path, servers: tuple[SmtpSink, WebhookSink]) -> None:
    smtp, hook = servers
    resource = build_definitions(settings_for(tmp_path, smtp)).resources["notifier"]
    assert isinstance(resource, NotifierResource)
    assert "env:TEST_ALERT_WEBHOOK" in resource.alerts and hook.url not in resource.alerts
