"""The control stores as Dagster resources, built once in the definitions and injected.

The stores live beside the asset storage (see `control/`); a resource holds only where
that is, so a run's config shows it, and hands the assets a ready store.
"""

import dagster as dg

from alchemiser_dagster.control.alert_log import AlertLog
from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.killswitch_store import KillSwitchStore


class KillSwitchResource(dg.ConfigurableResource):
    """The kill switch: execution reads it before every order."""

    storage: str

    def store(self) -> KillSwitchStore:
        return KillSwitchStore(self.storage)


class ExecutionJournalResource(dg.ConfigurableResource):
    """The execution journal of the account: which plan each (session, account) started."""

    storage: str
    account: str | None = None

    def journal(self) -> ExecutionJournal:
        return ExecutionJournal(self.storage, self.account)


class AlertLogResource(dg.ConfigurableResource):
    """The alert log: what was announced, on which channel (never twice)."""

    storage: str

    def log(self) -> AlertLog:
        return AlertLog(self.storage)
