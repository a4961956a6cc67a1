"""Where alerts and reports go. Secrets (SMTP password, webhook URL) are references."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alchemiser_dagster.secrets import validate_reference

SmtpSecurity = Literal["none", "starttls", "ssl"]


class AlertSettings(BaseModel):
    """Email is on when `smtp_host` and `email_to` are set; the webhook when its URL reference is.

    With neither, alerts are logged at ERROR (the sensor's log and the run's log).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ui_url: str = "http://127.0.0.1:3000"
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_security: SmtpSecurity = "none"
    smtp_ca_file: Path | None = None
    smtp_username: str | None = None
    smtp_password_secret: str | None = None
    email_from: str = "alchemiser@localhost"
    email_to: tuple[str, ...] = ()
    webhook_url_secret: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("smtp_password_secret", "webhook_url_secret")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        return None if value is None else validate_reference(value)

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.email_to)

    @property
    def webhook_enabled(self) -> bool:
        return self.webhook_url_secret is not None
