"""Email and webhook delivery through real servers on loopback, and the notifier's once-per-channel rule."""

import datetime as dt
import logging
from pathlib import Path

import pytest

from alchemiser_dagster.control.alert_log import AlertLog
from alchemiser_dagster.domain.alerts import Alert, check_alert_id, run_url
from alchemiser_dagster.domain.errors import ConfigError, NotificationError
from alchemiser_dagster.notify.email import EmailChannel
from alchemiser_dagster.notify.notifier import Notifier
from alchemiser_dagster.notify.settings import AlertSettings
from alchemiser_dagster.notify.webhook import WebhookChannel
from tests.loopback import free_port, make_tls, smtp_server, webhook_server

D = dt.date(2026, 12, 4)
PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes"


def an_alert(check: str = "order_notional_within_limit") -> Alert:
    return Alert(
        alert_id=check_alert_id("run-1", "rebalance_plan", check),
        kind="check",
        severity="ERROR",
        session=D,
        asset="rebalance_plan",
        check=check,
        step=None,
        reason="TLT: buy of $39,600.00 exceeds max_order_usd $5,000.00",
        run_id="run-1",
        run_url=run_url("http://ui.example:3000/", "run-1"),
        occurred_at=dt.datetime(2026, 12, 4, 20, 46, tzinfo=dt.UTC),
    )


def email_settings(port: int, **extra: object) -> AlertSettings:
    return AlertSettings(
        smtp_host="127.0.0.1", smtp_port=port, email_to=("ops@example.com", "cto@example.com"), **extra
    )  # type: ignore[arg-type]


def test_alert_email_carries_every_fact() -> None:
    with smtp_server() as smtp:
        channel = EmailChannel(email_settings(smtp.port), password=None)
        alert = an_alert()
        channel.send(channel.message(alert.subject, alert.text()))
    [message] = smtp.messages
    assert smtp.envelopes == [("alchemiser@localhost", ["ops@example.com", "cto@example.com"])]
    assert (
        message["Subject"]
        == "[alchemiser ERROR] 2026-12-04: rebalance_plan / check order_notional_within_limit failed"
    )
    body = message.get_content()
    for fact in (
        "Session (partition): 2026-12-04",
        "Asset: rebalance_plan",
        "Check: order_notional_within_limit",
        "Reason: TLT: buy of $39,600.00 exceeds max_order_usd $5,000.00",
        "Open the run: http://ui.example:3000/runs/run-1",
    ):
        assert fact in body


def test_html_email_has_its_images_inline() -> None:
    with smtp_server() as smtp:
        channel = EmailChannel(email_settings(smtp.port), password=None)
        html = '<p>report</p><img src="cid:weights"><img src="cid:equity">'
        channel.send(
            channel.html_message("Daily report", "text version", html, {"weights": PNG, "equity": PNG + b"2"})
        )
    [message] = smtp.messages
    assert message.get_body(preferencelist=("plain",)).get_content().strip() == "text version"  # type: ignore[union-attr]
    related = message.get_body(preferencelist=("related",))
    assert related is not None
    parts = list(related.iter_parts())
    assert parts[0].get_content_type() == "text/html" and 'src="cid:weights"' in parts[0].get_content()
    images = {p["Content-ID"]: p for p in parts[1:]}
    assert set(images) == {"<weights>", "<equity>"}
    assert images["<weights>"].get_content() == PNG and images["<equity>"].get_content() == PNG + b"2"
    assert all(p.get_content_disposition() == "inline" for p in images.values())


def test_starttls_with_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tls = make_tls(tmp_path)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-pw")
    with smtp_server(starttls=tls, password="s3cret-pw") as smtp:
        settings = email_settings(
            smtp.port, smtp_security="starttls", smtp_ca_file=tls.ca_file, smtp_username="ops",
            smtp_password_secret="env:TEST_SMTP_PASSWORD",
        )  # fmt: skip
        notifier = Notifier(settings, AlertLog(str(tmp_path / "storage")))
        assert notifier.deliver(an_alert(), logging.getLogger("test")) == ["email"]
    assert smtp.logins == ["ops"] and len(smtp.messages) == 1


def test_implicit_tls_verifies_the_certificate(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    with smtp_server(implicit_tls=tls) as smtp:
        trusted = EmailChannel(email_settings(smtp.port, smtp_security="ssl", smtp_ca_file=tls.ca_file), None)
        trusted.send(trusted.message("s", "t"))
        untrusted = EmailChannel(email_settings(smtp.port, smtp_security="ssl"), None)  # system CAs only
        with pytest.raises(NotificationError, match=r"email via 127.0.0.1:\d+: SSLCertVerificationError"):
            untrusted.send(untrusted.message("s", "t"))
    assert len(smtp.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_wrong_password_and_no_server_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    with smtp_server(password="right") as smtp:
        channel = EmailChannel(email_settings(smtp.port, smtp_username="ops"), password="wrong")
        with pytest.raises(NotificationError, match="SMTPAuthenticationError"):
            channel.send(channel.message("s", "t"))
    port = free_port()
    closed = EmailChannel(email_settings(port), password=None)
    with pytest.raises(NotificationError, match=f"email via 127.0.0.1:{port}: ConnectionRefusedError"):
        closed.send(closed.message("s", "t"))


def test_webhook_posts_a_slack_compatible_payload() -> None:
    with webhook_server() as hook:
        WebhookChannel(hook.url, timeout_seconds=5).send(an_alert())
    [body] = hook.bodies
    assert "rebalance_plan / check order_notional_within_limit failed" in body["text"]
    assert "Open the run: http://ui.example:3000/runs/run-1" in body["text"]
    assert body["blocks"][0]["type"] == "header"
    assert "<http://ui.example:3000/runs/run-1|Open the run>" in body["blocks"][-1]["text"]["text"]


def test_webhook_errors_never_show_the_url() -> None:
    with webhook_server() as hook:
        hook.statuses = [403]
        with pytest.raises(NotificationError) as raised:
            WebhookChannel(hook.url, timeout_seconds=5).send(an_alert())
    assert "HTTP 403: invalid_token" in str(raised.value)
    assert "secret-token" not in str(raised.value) and hook.url not in str(raised.value)


def test_each_channel_gets_an_alert_once_even_after_a_partial_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = logging.getLogger("test")
    with smtp_server() as smtp, webhook_server() as hook:
        monkeypatch.setenv("TEST_WEBHOOK", hook.url)
        settings = email_settings(smtp.port, webhook_url_secret="env:TEST_WEBHOOK")
        notifier = Notifier(settings, AlertLog(str(tmp_path / "storage")))
        hook.statuses = [500]  # the webhook is down for the first attempt
        with pytest.raises(NotificationError, match=r"webhook .*HTTP 500"):
            notifier.deliver(an_alert(), log)
        assert len(smtp.messages) == 1 and hook.bodies == []
        assert notifier.deliver(an_alert(), log) == ["webhook"]  # the retry: email is not sent again
        assert notifier.deliver(an_alert(), log) == []  # a third tick sends nothing
        assert notifier.deliver(an_alert("other_check"), log) == ["email", "webhook"]
    assert len(smtp.messages) == 2 and len(hook.bodies) == 2
    [record] = [
        r for r in AlertLog(str(tmp_path / "storage")).for_session(D) if r.alert.check != "other_check"
    ]
    assert record.delivered == ("email", "webhook")


def test_a_missing_secret_names_the_setting_and_does_not_stop_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_WEBHOOK", raising=False)
    with smtp_server() as smtp:
        notifier = Notifier(
            email_settings(smtp.port, webhook_url_secret="env:TEST_WEBHOOK"), AlertLog(str(tmp_path))
        )
        with pytest.raises(
            NotificationError,
            match=r"alerts.webhook_url_secret = 'env:TEST_WEBHOOK'.*TEST_WEBHOOK is not set",
        ):
            notifier.deliver(an_alert(), logging.getLogger("test"))
    assert len(smtp.messages) == 1


def test_no_channel_logs_the_alert_at_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(AlertSettings(), AlertLog(str(tmp_path / "storage")))
    with caplog.at_level(logging.ERROR, logger="test"):
        assert notifier.deliver(an_alert(), logging.getLogger("test")) == ["log"]
    [record] = caplog.records
    assert record.levelno == logging.ERROR and "order_notional_within_limit" in record.getMessage()
    assert "http://ui.example:3000/runs/run-1" in record.getMessage()


def test_secret_references_are_validated() -> None:
    with pytest.raises(ValueError, match="env:NAME"):
        AlertSettings(webhook_url_secret="https://hooks.slack.com/services/T/B/token")
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        from alchemiser_dagster.secrets import resolve_secret

        resolve_secret("env:NOPE_NOT_SET", "alerts.smtp_password_secret")
