"""The plan being executed for a session, kept outside any run.

Written before the first order of a session's execution and never overwritten: a rerun
(after a crash, a kill or a manual retry) reads it and finishes that plan, whatever a
fresh plan from the already-changed account would say.
"""

from __future__ import annotations

import datetime as dt

from upath import UPath

from alchemiser_dagster.control.documents import control_path, read_record, write_document
from alchemiser_dagster.domain.portfolio.models import RebalancePlan


class ExecutionJournal:
    """One file per (session, account): `<storage>/../control/executions/<D>-<account>.json`.

    With several accounts (an accounts file), the file name also carries the account's name
    (`<D>-<name>-<account number>.json`): two accounts never finish each other's plans,
    even on brokers that report the same account number (the local stand-in does).
    """

    def __init__(self, storage_base: str, account: str | None = None) -> None:
        self._base = storage_base
        self._account = account

    def location(self, session: dt.date, account_number: str) -> str:
        return str(self._path(session, account_number))

    def _path(self, session: dt.date, account_number: str, suffix: str = ".json") -> UPath:
        name = f"{self._account}-{account_number}" if self._account else account_number
        return control_path(self._base, "executions", f"{session.isoformat()}-{name}{suffix}")

    def lock_path(self, session: dt.date, account_number: str) -> UPath:
        """The execution lock of the same (session, account), beside the journal."""
        return self._path(session, account_number, ".lock")

    def started(self, session: dt.date, account_number: str) -> RebalancePlan | None:
        return read_record(self._path(session, account_number), RebalancePlan, "the execution journal")

    def record(self, plan: RebalancePlan) -> None:
        """Journal the plan unless one is already journaled for the session (the first one wins)."""
        if self.started(plan.session, plan.account_number) is None:
            write_document(
                self._path(plan.session, plan.account_number), plan.model_dump_json(indent=1).encode()
            )
