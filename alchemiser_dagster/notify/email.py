"""Email over SMTP: plain alerts, and HTML reports with their images inline (cid: parts).

TLS is optional: `none`, `starttls` (upgrade on the submission port) or `ssl` (implicit
TLS). Certificates are verified against the system store or `smtp_ca_file`.
"""

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage

from alchemiser_dagster.domain.errors import NotificationError
from alchemiser_dagster.notify.settings import AlertSettings


class EmailChannel:
    name = "email"

    def __init__(self, settings: AlertSettings, password: str | None) -> None:
        if not settings.email_enabled:
            raise NotificationError("email: alerts.smtp_host and alerts.email_to must both be set")
        self._settings = settings
        self._password = password

    def message(self, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self._settings.email_from
        message["To"] = ", ".join(self._settings.email_to)
        message.set_content(text)
        return message

    def html_message(self, subject: str, text: str, html: str, images: Mapping[str, bytes]) -> EmailMessage:
        """A text part and an HTML part whose `cid:<name>` images travel in the same message."""
        message = self.message(subject, text)
        message.add_alternative(html, subtype="html")
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        for name, png in images.items():
            html_part.add_related(
                png,
                maintype="image",
                subtype="png",
                cid=f"<{name}>",
                disposition="inline",
                filename=f"{name}.png",
            )
        return message

    def send(self, message: EmailMessage) -> None:
        settings = self._settings
        where = f"email via {settings.smtp_host}:{settings.smtp_port}"
        assert settings.smtp_host is not None
        try:
            context = ssl.create_default_context(
                cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
            )
            smtp: smtplib.SMTP
            if settings.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds, context=context
                )
            else:
                smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds)
            with smtp:
                if settings.smtp_security == "starttls":
                    smtp.starttls(context=context)
                if settings.smtp_username:
                    smtp.login(settings.smtp_username, self._password or "")
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            raise NotificationError(f"{where}: {type(error).__name__}: {error}") from error
        if refused:
            raise NotificationError(f"{where}: recipients refused: {', '.join(sorted(refused))}")
