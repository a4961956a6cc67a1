"""Sends alerts on every configured channel, once per channel, and the daily report by email.

Each alert goes to every channel that has not had it yet (per the alert log); a channel
that fails does not stop the others, and the failures are raised together afterwards so
the caller (a sensor tick) fails loudly and retries. With no channel configured the alert
is logged at ERROR and recorded as delivered to "log".
"""

import logging
from collections.abc import Mapping
from typing import Protocol

from alchemiser_dagster.control.alert_log import AlertLog
from alchemiser_dagster.domain.alerts import Alert
from alchemiser_dagster.domain.errors import ConfigError, NotificationError
from alchemiser_dagster.domain.report import Delivery
from alchemiser_dagster.notify.email import EmailChannel
from alchemiser_dagster.notify.settings import AlertSettings
from alchemiser_dagster.notify.webhook import WebhookChannel
from alchemiser_dagster.secrets import resolve_secret

LOG_CHANNEL = "log"


class AlertChannel(Protocol):
    name: str

    def send_alert(self, alert: Alert) -> None: ...


class _EmailAlerts:
    name = "email"

    def __init__(self, email: EmailChannel) -> None:
        self._email = email

    def send_alert(self, alert: Alert) -> None:
        self._email.send(self._email.message(alert.subject, alert.text()))


class _WebhookAlerts:
    name = "webhook"

    def __init__(self, webhook: WebhookChannel) -> None:
        self._webhook = webhook

    def send_alert(self, alert: Alert) -> None:
        self._webhook.send(alert)


class Notifier:
    def __init__(self, settings: AlertSettings, log_store: AlertLog) -> None:
        self.settings = settings
        self._log_store = log_store

    def email(self) -> EmailChannel | None:
        if not self.settings.email_enabled:
            return None
        password = (
            resolve_secret(self.settings.smtp_password_secret, "alerts.smtp_password_secret")
            if self.settings.smtp_password_secret
            else None
        )
        return EmailChannel(self.settings, password)

    def _channel(self, name: str) -> AlertChannel:
        if name == "email":
            email = self.email()
            assert email is not None
            return _EmailAlerts(email)
        assert self.settings.webhook_url_secret is not None
        url = resolve_secret(self.settings.webhook_url_secret, "alerts.webhook_url_secret")
        return _WebhookAlerts(WebhookChannel(url, self.settings.timeout_seconds))

    def channel_names(self) -> list[str]:
        names = ["email"] if self.settings.email_enabled else []
        return names + (["webhook"] if self.settings.webhook_enabled else [])

    def deliver(self, alert: Alert, log: logging.Logger) -> list[str]:
        """Send `alert` where it has not gone yet; the channels it reached now."""
        done = self._log_store.delivered(alert)
        log.error(alert.text())
        names = self.channel_names()
        if not names:
            if LOG_CHANNEL not in done:
                self._log_store.record(alert, LOG_CHANNEL)
            return [LOG_CHANNEL]
        sent: list[str] = []
        failures: list[str] = []
        for name in names:
            if name in done:
                continue
            try:
                self._channel(name).send_alert(alert)
            except (NotificationError, ConfigError) as error:
                failures.append(str(error))
                continue
            self._log_store.record(alert, name)
            sent.append(name)
        if failures:
            raise NotificationError(f"alert {alert.alert_id} not delivered: " + "; ".join(failures))
        return sent

    def send_report(self, subject: str, text: str, html: str, images: Mapping[str, bytes]) -> Delivery:
        """Email the report (HTML, images inline); raises when the send fails."""
        email = self.email()
        if email is None:
            return Delivery(
                status="not_configured", detail="no email configured (alerts.smtp_host, alerts.email_to)"
            )
        email.send(email.html_message(subject, text, html, images))
        return Delivery(status="sent", detail="sent to " + ", ".join(self.settings.email_to))
