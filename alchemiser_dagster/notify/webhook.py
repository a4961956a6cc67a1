"""A Slack-compatible incoming webhook: one JSON POST per alert, with a timeout.

The URL is a secret (it carries the token), so errors name the setting, never the URL.
"""

import json
import urllib.error
import urllib.request

from alchemiser_dagster.domain.alerts import Alert
from alchemiser_dagster.domain.errors import NotificationError


def slack_payload(alert: Alert) -> dict[str, object]:
    """`text` for any Slack-compatible receiver, plus blocks Slack renders as a card."""
    facts = [
        ("Session", alert.session.isoformat() if alert.session else "-"),
        ("Asset", alert.asset or "-"),
        ("Check", alert.check or "-"),
        ("Step", alert.step or "-"),
        ("Severity", alert.severity),
    ]
    return {
        "text": alert.text(),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.subject[:150]}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}:* {v}"} for k, v in facts],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Reason:* {alert.reason[:2800]}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{alert.run_url}|Open the run>"}},
        ],
    }


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._url = url
        self._timeout = timeout_seconds

    def send(self, alert: Alert) -> None:
        body = json.dumps(slack_payload(alert)).encode()
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        where = "webhook (alerts.webhook_url_secret)"
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:200].decode("utf-8", "replace")
            raise NotificationError(f"{where}: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise NotificationError(f"{where}: {type(error).__name__}: {reason}") from None
