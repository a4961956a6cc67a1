"""Alerts: one message per problem (a failed check, a failed step), with where and why.

An alert's id is deterministic (run, asset, check or step), so the same failure seen by
a later sensor tick, a restarted daemon or a lost cursor is recognised and not re-sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from alchemiser_dagster.domain.model import Record

AlertKind = Literal["check", "step", "run"]
Severity = Literal["ERROR", "WARN"]


class Alert(Record):
    alert_id: str
    kind: AlertKind
    severity: Severity
    session: dt.date | None
    asset: str | None
    check: str | None
    step: str | None
    reason: str
    run_id: str
    run_url: str
    occurred_at: dt.datetime

    @property
    def where(self) -> str:
        if self.kind == "check":
            return f"{self.asset} / check {self.check}"
        if self.kind == "step":
            return f"step {self.step}"
        return "the run"

    @property
    def subject(self) -> str:
        day = self.session.isoformat() if self.session else "no partition"
        return f"[alchemiser {self.severity}] {day}: {self.where} failed"

    def text(self) -> str:
        """The plain-text body: every fact an operator needs, one per line."""
        lines = [
            self.subject,
            "",
            f"Session (partition): {self.session.isoformat() if self.session else '-'}",
            f"Asset: {self.asset or '-'}",
            f"Check: {self.check or '-'}",
            f"Step: {self.step or '-'}",
            f"Severity: {self.severity}",
            f"Reason: {self.reason}",
            f"Run: {self.run_id}",
            f"Open the run: {self.run_url}",
            f"When: {self.occurred_at.isoformat(timespec='seconds')}",
        ]
        return "\n".join(lines)


def check_alert_id(run_id: str, asset: str, check: str) -> str:
    return f"check:{run_id}:{asset}:{check}"


def step_alert_id(run_id: str, step: str | None) -> str:
    return f"step:{run_id}:{step}" if step else f"run:{run_id}"


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"
